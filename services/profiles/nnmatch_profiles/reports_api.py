"""HTTP routes for reports and suspensions (thin: parse, call `Moderation`, audit, answer).

A member files reports in their own name only; the queue, dismissals and suspensions are for
operators, and each of their actions lands in the audit trail with ids only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from nnmatch.access import (
    OWNER_ONLY,
    CurrentPrincipal,
    MemberIdPath,
    rate_limited,
    require_role,
)
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Role
from nnmatch.paging import MAX_LIMIT, BadCursor, offset_page
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch.reports import (
    Report,
    ReportPage,
    ReportRequest,
    SuspensionRequest,
    SuspensionState,
    is_report_id,
)
from nnmatch_profiles.deps import Services
from nnmatch_profiles.moderation import Moderation, ReportRefused
from nnmatch_profiles.service import BrokerUnavailable


def get_moderation(services: Services) -> Moderation:
    return services.moderation


ModerationDep = Annotated[Moderation, Depends(get_moderation)]


def _refused(exc: ReportRefused) -> Problem:
    titles = {404: "Not found", 409: "Conflict", 422: "Unprocessable content"}
    return Problem(exc.status, titles.get(exc.status, "Bad request"), str(exc))


members_router = APIRouter(
    prefix="/v1/members",
    tags=["reports"],
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
)


@members_router.post(
    "/{member_id}/reports",
    status_code=201,
    response_model=Report,
    summary="Report another member (from a suggestion, the inbox or an introduction)",
    dependencies=[OWNER_ONLY, rate_limited("writes")],
)
async def file_report(
    member_id: MemberIdPath, body: ReportRequest, moderation: ModerationDep
) -> Report:
    """One open report per reporter and member: a second is refused (409) until decided."""
    try:
        return await moderation.file(member_id, body)
    except ReportRefused as exc:
        raise _refused(exc) from exc


@members_router.post(
    "/{member_id}/suspension",
    response_model=SuspensionState,
    summary="Suspend a member: out of every list and search until unsuspended",
    dependencies=[require_role(Role.OPERATOR), rate_limited("writes")],
)
async def suspend(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    moderation: ModerationDep,
    body: Annotated[SuspensionRequest | None, Body()] = None,
) -> SuspensionState:
    try:
        state = await moderation.suspend(
            member_id, principal.subject, body.report_id if body else None
        )
    except ReportRefused as exc:
        raise _refused(exc) from exc
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    await auditor.record(request, principal, AuditAction.SUSPENSION, member_id)
    return state


@members_router.delete(
    "/{member_id}/suspension",
    response_model=SuspensionState,
    summary="Lift a member's suspension: their own visibility applies again",
    dependencies=[require_role(Role.OPERATOR), rate_limited("writes")],
)
async def unsuspend(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    moderation: ModerationDep,
) -> SuspensionState:
    try:
        state = await moderation.unsuspend(member_id, principal.subject)
    except ReportRefused as exc:
        raise _refused(exc) from exc
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    await auditor.record(request, principal, AuditAction.UNSUSPENSION, member_id)
    return state


router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    dependencies=[require_role(Role.OPERATOR)],
)


@router.get("", response_model=ReportPage, summary="The report queue, oldest first")
async def report_queue(
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    moderation: ModerationDep,
    status: Annotated[Literal["open"], Query(description="Only open reports are queued.")] = "open",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ReportPage:
    try:
        start, end, next_cursor = offset_page(await moderation.open_count(), limit, cursor)
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    items = await moderation.open_reports(start, end)
    await auditor.record(request, principal, AuditAction.REPORTS_READ)
    return ReportPage(items=items, next_cursor=next_cursor)


@router.post(
    "/{report_id}/dismiss",
    response_model=Report,
    summary="Dismiss a report: the reporter is told, the member stays as they are",
    dependencies=[rate_limited("writes")],
)
async def dismiss(
    report_id: str,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    moderation: ModerationDep,
) -> Report:
    if not is_report_id(report_id):
        raise Problem(404, "Not found", "no such report")
    try:
        report = await moderation.dismiss(report_id)
    except ReportRefused as exc:
        raise _refused(exc) from exc
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    await auditor.record(request, principal, AuditAction.REPORT_DISMISS, report.target_id)
    return report
