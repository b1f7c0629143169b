"""Report pages: a member reports another from a suggestion, an inbox item or an
introduction; operators work through the queue (suspend or dismiss) and lift suspensions.
The profiles API decides who may do what and audits the operators' actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch.reports import MAX_REPORT_TEXT, ReportReason, ReportSource
from nnmatch_web.apis import ApiError
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, MemberId, PagesDep
from nnmatch_web.session import NotAllowed
from nnmatch_web.views import first

members_router = APIRouter(prefix="/members", include_in_schema=False)
operators_router = APIRouter(prefix="/operators", include_in_schema=False)
QUEUE_PAGE_SIZE = 50
REASON_TEXT = {
    ReportReason.HARASSMENT: "Harassment or threats",
    ReportReason.SPAM: "Spam or advertising",
    ReportReason.IMPERSONATION: "Pretending to be someone else",
    ReportReason.INAPPROPRIATE: "Inappropriate profile or messages",
    ReportReason.OTHER: "Something else",
}
DONE_TEXT = {
    "dismissed": "Report dismissed; the reporter is told in their inbox.",
    "suspended": "Member suspended: they leave every list and search within a minute; "
    "every open report about them is closed and each reporter told.",
    "unsuspended": "Suspension lifted: the member's own visibility applies again.",
}
TargetId = Annotated[str, Query(pattern=MEMBER_ID_PATTERN)]


def _source(value: str) -> str:
    return value if value in {s.value for s in ReportSource} else ReportSource.SUGGESTION.value


@members_router.get("/{member_id}/report")
async def report_form(
    request: Request,
    member_id: MemberId,
    visitor: CurrentVisitor,
    pages: PagesDep,
    target: TargetId,
    source: Annotated[str, Query(max_length=20)] = "suggestion",
) -> Response:
    """The form; only the member themself reports, in their own name."""
    if visitor.member_id != member_id:
        raise NotAllowed("reports are filed by the member themself")
    return pages.render(
        request,
        "report.html",
        member_id=member_id,
        target=target,
        source=_source(source),
        reasons=REASON_TEXT,
        max_text=MAX_REPORT_TEXT,
        filed=None,
        error=None,
        text="",
        reason="",
    )


@members_router.post("/{member_id}/report")
async def file_report(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    target, source = first(form, "target"), _source(first(form, "source"))
    reason, text = first(form, "reason"), first(form, "text")
    filed, error, status = None, None, 201
    try:
        filed = await apis.file_report(
            visitor.token,
            member_id,
            {"target_id": target, "source": source, "reason": reason, "text": text},
        )
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        error, status = exc.detail, exc.status
    return pages.render(
        request,
        "report.html",
        member_id=member_id,
        target=target,
        source=source,
        reasons=REASON_TEXT,
        max_text=MAX_REPORT_TEXT,
        filed=filed,
        error=error,
        text=text if error else "",
        reason=reason,
        status=200 if filed else status,
    )


@operators_router.get("/reports")
async def queue(
    request: Request,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Open reports, oldest first, each with suspend and dismiss."""
    page = await apis.reports(visitor.token, QUEUE_PAGE_SIZE, cursor)
    return pages.render(
        request,
        "operators_reports.html",
        page=page,
        cursor=cursor,
        reasons=REASON_TEXT,
        notice=DONE_TEXT.get(done or ""),
    )


@operators_router.post("/reports/{report_id}/dismiss")
async def dismiss(
    report_id: str, form: CheckedForm, visitor: CurrentVisitor, apis: ApisDep
) -> Response:
    await apis.dismiss_report(visitor.token, report_id)
    return RedirectResponse("/operators/reports?done=dismissed", status_code=303)


@operators_router.post("/reports/{report_id}/suspend")
async def suspend(
    report_id: str, form: CheckedForm, visitor: CurrentVisitor, apis: ApisDep
) -> Response:
    target = first(form, "target")
    await apis.suspend(visitor.token, target, report_id)
    return RedirectResponse("/operators/reports?done=suspended", status_code=303)


@operators_router.post("/suspensions/lift")
async def lift(form: CheckedForm, visitor: CurrentVisitor, apis: ApisDep) -> Response:
    await apis.unsuspend(visitor.token, first(form, "member").strip())
    return RedirectResponse("/operators/reports?done=unsuspended", status_code=303)
