"""HTTP routes of the profiles service (thin: parse, call the service, shape the answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from nnmatch.access import (
    OWNER_OR_OPERATOR,
    CurrentPrincipal,
    MemberIdPath,
    rate_limited,
    require_role,
)
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Principal, Role
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch.profile import MemberProfile, StoredProfile
from nnmatch_profiles.bulk import LineError, TooManyLines, parse_ndjson
from nnmatch_profiles.deps import ProfileServiceDep, Services, SettingsDep
from nnmatch_profiles.service import BrokerUnavailable


class BulkResult(BaseModel):
    accepted: int
    rejected: list[LineError]


class ErasureAccepted(BaseModel):
    member_id: str
    status: str = "erasure accepted"


# Every route: bad or missing token, not yours, invalid input, Redis or Kafka away.
router = APIRouter(
    prefix="/v1/members", tags=["members"], responses=problem_responses(401, 403, 422, 503)
)


@router.put(
    "/{member_id}",
    response_model=StoredProfile,
    responses={201: {"model": StoredProfile}, **problem_responses(400, 413, 429)},
    summary="Create or replace a member's profile (answered once Kafka acknowledged it)",
    dependencies=[OWNER_OR_OPERATOR, rate_limited("writes")],
)
async def put_member(
    member_id: MemberIdPath,
    profile: MemberProfile,
    request: Request,
    response: Response,
    service: ProfileServiceDep,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
) -> StoredProfile:
    try:
        stored = await service.upsert(member_id, profile)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    if principal.role is Role.OPERATOR:
        await auditor.record(request, principal, AuditAction.PROFILE_WRITE, member_id)
    response.status_code = 201 if stored.version == 1 else 200
    return stored


@router.get(
    "/{member_id}",
    response_model=StoredProfile,
    responses=problem_responses(404),
    summary="A profile: whole for the member and operators; hubs see only visible fields",
)
async def get_member(
    member_id: MemberIdPath,
    request: Request,
    service: ProfileServiceDep,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
) -> StoredProfile:
    if not (principal.acts_for(member_id) or principal.role is Role.HUB):
        raise Problem(403, "Forbidden", "this token may only access its own member's resources")
    if principal.role is Role.OPERATOR:
        await auditor.record(request, principal, AuditAction.PROFILE_READ, member_id)
    stored = await service.get(member_id)
    if stored is not None and not principal.acts_for(member_id):
        # A suspended member reads to a hub as one who is not discoverable: not there.
        suspended = await service.is_suspended(member_id)
        visible = None if suspended else stored.profile.as_seen_by_others()
        stored = None if visible is None else stored.model_copy(update={"profile": visible})
    if stored is None:
        raise Problem(404, "Not found", f"no member {member_id!r}")
    return stored


@router.delete(
    "/{member_id}",
    status_code=202,
    response_model=ErasureAccepted,
    responses=problem_responses(404, 429),
    summary="Erase a member everywhere (by the member, or an operator on request)",
    dependencies=[rate_limited("writes")],
)
async def delete_member(
    member_id: MemberIdPath,
    request: Request,
    service: ProfileServiceDep,
    principal: Annotated[Principal, OWNER_OR_OPERATOR],
    auditor: AuditorDep,
    services: Services,
) -> ErasureAccepted:
    # Reports first: a failure here leaves the member to a retried DELETE, which finds them.
    await services.moderation.forget(member_id)
    try:
        found = await service.delete(member_id)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    if not found:
        raise Problem(404, "Not found", f"no member {member_id!r}")
    await auditor.record(request, principal, AuditAction.ERASURE, member_id)
    return ErasureAccepted(member_id=member_id)


@router.post(
    "/bulk",
    response_model=BulkResult,
    openapi_extra={
        "requestBody": {
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            "required": True,
        }
    },
    responses=problem_responses(400, 413, 415, 429),
    summary="Import profiles: one JSON profile with member_id per line; bad lines are reported",
    dependencies=[require_role(Role.OPERATOR), rate_limited("writes")],
)
async def bulk_import(
    request: Request,
    service: ProfileServiceDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
) -> BulkResult:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-ndjson", "application/jsonl")):
        raise Problem(
            415, "Unsupported media type", "send application/x-ndjson: one JSON profile per line"
        )
    try:
        good, bad = parse_ndjson(await request.body(), settings.bulk_max_lines)
    except TooManyLines as exc:
        raise Problem(413, "Payload too large", str(exc)) from exc
    try:
        accepted = await service.upsert_many(good)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    await auditor.record(request, principal, AuditAction.BULK_IMPORT, count=accepted)
    return BulkResult(accepted=accepted, rejected=bad)
