"""HTTP routes of hub partners: a hub's ranked partner hubs, and its accept or dismiss.

Only the hub's own token or an operator (403 from the token alone, before any lookup, so the
answer never says whether a hub exists). A hub without a computed list reads as an empty one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nnmatch.access import HUB_OR_OPERATOR, HubIdPath, rate_limited
from nnmatch.events import HubPartner
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch_matching.hubs.choices import choose
from nnmatch_matching.hubs.deps import HubServicesDep
from nnmatch_matching.hubs.scoring import Scope, in_scope

log = logging.getLogger(__name__)


class HubPartnersPage(BaseModel):
    hub_id: str
    scope: Scope
    region: str | None
    computed_at: datetime | None
    items: list[HubPartner]


class PartnerChoice(BaseModel):
    hub_id: str
    partner_id: str
    action: str
    mutual: bool
    introduced: bool


router = APIRouter(
    prefix="/v1/hubs", tags=["hub partners"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{hub_id}/partners",
    response_model=HubPartnersPage,
    summary="The hub's partner hubs, best first, with reasons (its own hub token, or an operator)",
    dependencies=[HUB_OR_OPERATOR],
)
async def get_partners(
    hub_id: HubIdPath,
    services: HubServicesDep,
    scope: Scope = "anywhere",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> HubPartnersPage:
    """`scope=region`: only partners in the hub's own UN M49 region. Dismissed partners are
    left out at once (the next recompute fills the list up again)."""
    computed = await services.hubs.partners(hub_id)
    if computed is None:
        return HubPartnersPage(hub_id=hub_id, scope=scope, region=None, computed_at=None, items=[])
    dismissed = await services.hubs.dismissed(hub_id)
    items = [
        p
        for p in computed.partners
        if p.hub_id not in dismissed and in_scope(p, computed.region, scope)
    ]
    return HubPartnersPage(
        hub_id=hub_id,
        scope=scope,
        region=computed.region,
        computed_at=computed.occurred_at,
        items=items[:limit],
    )


async def _choose(
    hub_id: str, partner_id: str, services: HubServicesDep, accept: bool
) -> PartnerChoice:
    if partner_id == hub_id:
        raise Problem(422, "Invalid request", "a hub cannot choose itself as partner")
    try:
        made = await choose(services.hubs, services.publisher, hub_id, partner_id, accept)
    except Exception as exc:
        log.error("kafka did not acknowledge the introduction", extra={"error": repr(exc)})
        raise event_log_unavailable("introduction") from exc
    return PartnerChoice(
        hub_id=hub_id,
        partner_id=partner_id,
        action="accept" if accept else "dismiss",
        mutual=made.mutual,
        introduced=made.introduced,
    )


@router.post(
    "/{hub_id}/partners/{partner_id}/accept",
    response_model=PartnerChoice,
    responses=problem_responses(429),
    summary="Accept a partner hub; accepted both ways, the two hubs' leaders are introduced",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def accept_partner(
    hub_id: HubIdPath, partner_id: HubIdPath, services: HubServicesDep
) -> PartnerChoice:
    return await _choose(hub_id, partner_id, services, accept=True)


@router.post(
    "/{hub_id}/partners/{partner_id}/dismiss",
    response_model=PartnerChoice,
    responses=problem_responses(429),
    summary="Dismiss a partner hub: it leaves the hub's list",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def dismiss_partner(
    hub_id: HubIdPath, partner_id: HubIdPath, services: HubServicesDep
) -> PartnerChoice:
    return await _choose(hub_id, partner_id, services, accept=False)
