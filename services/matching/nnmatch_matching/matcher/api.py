"""HTTP routes of the matcher: a member's ranked matches, and their feedback on them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from nnmatch.access import (
    OWNER_ONLY,
    OWNER_OR_OPERATOR,
    CurrentPrincipal,
    MemberIdPath,
    rate_limited,
)
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Role
from nnmatch.events import FeedbackAction, FeedbackGiven, MemberId, Suggestion
from nnmatch.paging import MAX_LIMIT, BadCursor, offset_page
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch.topics import FEEDBACK
from nnmatch_matching.matcher.deps import EngineDep, MatchesDep, PublisherDep

log = logging.getLogger(__name__)


class FeedbackRequest(BaseModel):
    """A member's reaction to a suggested candidate."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: MemberId = Field(description="The suggested member; not the member themself.")
    action: FeedbackAction = Field(
        description="accept (introduce us if they accept too), dismiss (not for me), or block "
        "(neither of us is suggested to the other again)."
    )


class FeedbackAccepted(BaseModel):
    """The feedback is in the event log; the member's suggestions follow shortly."""

    event_id: str
    member_id: str
    candidate_id: str
    action: FeedbackAction


class MatchesPage(BaseModel):
    member_id: str
    computed_at: datetime | None
    items: list[Suggestion]
    next_cursor: str | None


router = APIRouter(
    prefix="/v1/members", tags=["matches"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{member_id}/matches",
    response_model=MatchesPage,
    responses=problem_responses(400),
    dependencies=[OWNER_OR_OPERATOR],
)
async def get_matches(
    member_id: MemberIdPath,
    request: Request,
    store: MatchesDep,
    engine: EngineDep,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MatchesPage:
    """The member's current ranked suggestions with scores and reasons."""
    try:
        offset_page(0, limit, cursor)  # a forged cursor is refused whether or not there are matches
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    if principal.role is Role.OPERATOR:
        await auditor.record(request, principal, AuditAction.MATCHES_READ, member_id)
    computed = await store.get(member_id)
    if computed is None:
        return MatchesPage(member_id=member_id, computed_at=None, items=[], next_cursor=None)
    items = computed.suggestions
    if engine is not None:
        # A member erased, or excluded by feedback, since the list was computed is never shown.
        items = [
            s
            for s in items
            if s.member_id in engine and not engine.excludes(member_id, s.member_id)
        ]
    try:
        start, end, next_cursor = offset_page(len(items), limit, cursor)
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    return MatchesPage(
        member_id=member_id,
        computed_at=computed.occurred_at,
        items=items[start:end],
        next_cursor=next_cursor,
    )


@router.post(
    "/{member_id}/feedback",
    status_code=202,
    response_model=FeedbackAccepted,
    responses=problem_responses(429),
    summary="Accept, dismiss or block a suggested member (answered once Kafka acknowledged it)",
    dependencies=[OWNER_ONLY, rate_limited("writes")],
)
async def post_feedback(
    member_id: MemberIdPath,
    body: FeedbackRequest,
    publisher: PublisherDep,
) -> FeedbackAccepted:
    """Publishes `FeedbackGiven` on feedback.v1; the matcher then refills the member's list."""
    if body.candidate_id == member_id:
        raise Problem(
            422,
            "Invalid request",
            "candidate_id: a member cannot give feedback on themself",
            errors=[{"field": "candidate_id", "reason": "must not be the member themself"}],
        )
    event = FeedbackGiven(
        producer=publisher.service,
        member_id=member_id,
        candidate_id=body.candidate_id,
        action=body.action,
    )
    try:
        await publisher.publish(FEEDBACK, member_id, event)
    except Exception as exc:
        log.error("kafka did not acknowledge feedback", extra={"error": repr(exc)})
        raise event_log_unavailable("feedback") from exc
    return FeedbackAccepted(
        event_id=str(event.event_id),
        member_id=member_id,
        candidate_id=body.candidate_id,
        action=body.action,
    )
