"""HTTP routes of a hub's shared shortlist (thin: check, call the service).

Only the hub's own token (any of its leaders) or an operator, decided from the token before
any lookup (403), as for the hub's other writes.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from nnmatch.access import HUB_OR_OPERATOR, HubIdPath, MemberIdPath, rate_limited
from nnmatch.problems import Problem, problem_responses
from nnmatch_profiles.deps import ShortlistServiceDep
from nnmatch_profiles.shortlist_store import Shortlisted, ShortlistFull
from nnmatch_profiles.shortlists import UnknownMember


class ShortlistPage(BaseModel):
    hub_id: str
    limit: int
    items: list[Shortlisted]


router = APIRouter(
    prefix="/v1/hubs", tags=["hub shortlist"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{hub_id}/shortlist",
    response_model=ShortlistPage,
    summary="The hub's shortlist of members, oldest first (its own hub token, or an operator)",
    dependencies=[HUB_OR_OPERATOR],
)
async def get_shortlist(hub_id: HubIdPath, service: ShortlistServiceDep) -> ShortlistPage:
    return ShortlistPage(hub_id=hub_id, limit=service.limit, items=await service.members(hub_id))


@router.put(
    "/{hub_id}/shortlist/{member_id}",
    response_model=ShortlistPage,
    responses=problem_responses(404, 409, 429),
    summary="Put a member the hub may see on its shortlist (idempotent; 409 when full)",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def add_to_shortlist(
    hub_id: HubIdPath, member_id: MemberIdPath, service: ShortlistServiceDep
) -> ShortlistPage:
    try:
        items = await service.add(hub_id, member_id)
    except UnknownMember as exc:
        raise Problem(404, "Not found", f"no member {member_id!r}") from exc
    except ShortlistFull as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    return ShortlistPage(hub_id=hub_id, limit=service.limit, items=items)


@router.delete(
    "/{hub_id}/shortlist/{member_id}",
    response_model=ShortlistPage,
    responses=problem_responses(429),
    summary="Take a member off the hub's shortlist (idempotent)",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def remove_from_shortlist(
    hub_id: HubIdPath, member_id: MemberIdPath, service: ShortlistServiceDep
) -> ShortlistPage:
    items = await service.remove(hub_id, member_id)
    return ShortlistPage(hub_id=hub_id, limit=service.limit, items=items)
