"""Operators' routes of the profiles service: the audit trail of the whole deployment.

Every service appends to the one trail (nnmatch.audit); profiles serves it because it owns the
erasures, its oldest entries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from nnmatch.access import CurrentPrincipal, MemberIdPath, require_role
from nnmatch.audit import AuditAction, AuditorDep, AuditPage
from nnmatch.auth import Role
from nnmatch.paging import MAX_LIMIT, BadCursor
from nnmatch.problems import Problem, problem_responses
from nnmatch.profile import MEMBER_ID_PATTERN, StoredProfile
from nnmatch_profiles.deps import ProfileServiceDep

router = APIRouter(
    prefix="/v1/audit", tags=["operators"], responses=problem_responses(400, 401, 403, 422, 503)
)


@router.get(
    "",
    response_model=AuditPage,
    summary="The audit trail, newest first: who did what to which member, and when",
    dependencies=[require_role(Role.OPERATOR)],
)
async def audit_trail(
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    target: Annotated[
        str | None, Query(pattern=MEMBER_ID_PATTERN, description="Only records about this member.")
    ] = None,
) -> AuditPage:
    """Reading the trail is itself recorded, so who looked at whom stays visible."""
    try:
        page = await auditor.log.page(limit, cursor, target)
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    await auditor.record(request, principal, AuditAction.AUDIT_READ, target)
    return page


class LookedUpProfile(StoredProfile):
    """The member's profile as stored, and whether an operator suspended them (the published
    card then says not discoverable while the member's own choice stays as stored)."""

    suspended: bool = Field(description="Out of every list and search by an operator's decision.")


members_router = APIRouter(
    prefix="/v1/operators/members",
    tags=["operators"],
    responses=problem_responses(401, 403, 404, 422, 503),
    dependencies=[require_role(Role.OPERATOR)],
)


@members_router.get(
    "/{member_id}",
    response_model=LookedUpProfile,
    summary="The member's profile as stored, with its version and whether it is suspended "
    "(the lookup's profiles part)",
)
async def lookup(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    service: ProfileServiceDep,
) -> LookedUpProfile:
    await auditor.record(request, principal, AuditAction.MEMBER_LOOKUP, member_id)
    stored = await service.get(member_id)
    if stored is None:
        raise Problem(404, "Not found", f"no member {member_id!r}")
    suspended = await service.is_suspended(member_id)
    return LookedUpProfile(**dict(stored), suspended=suspended)
