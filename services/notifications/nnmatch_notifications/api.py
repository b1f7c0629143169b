"""HTTP routes of the inbox: read it, mark items read, answer a suggestion (thin: the inbox
store and the feedback topic do the work)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from nnmatch.access import OWNER_ONLY, MemberIdPath, rate_limited
from nnmatch.events import FeedbackAction, FeedbackGiven
from nnmatch.paging import MAX_LIMIT, BadCursor, decode_cursor, encode_cursor
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch.topics import FEEDBACK
from nnmatch_notifications.deps import InboxDep, PublisherDep, Services
from nnmatch_notifications.inbox import InboxItem
from nnmatch_notifications.store import Inbox

ITEM_ID = re.compile(r"\d{1,20}-\d{1,20}")


class InboxPage(BaseModel):
    items: list[InboxItem]
    unread: int
    next_cursor: str | None


router = APIRouter(
    prefix="/v1/members", tags=["inbox"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{member_id}/inbox",
    response_model=InboxPage,
    responses=problem_responses(400),
    dependencies=[OWNER_ONLY],
)
async def read_inbox(
    member_id: MemberIdPath,
    inbox: InboxDep,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> InboxPage:
    """The member's inbox, newest first, with the unread count."""
    before = None
    if cursor:
        try:
            before = decode_cursor(cursor)
        except BadCursor as exc:
            raise Problem(400, "Bad request", str(exc)) from exc
        if not before.replace("-", "").isdigit():
            raise Problem(400, "Bad request", "cursor is not one this server issued")
    items, next_before = await inbox.page(member_id, limit, before)
    return InboxPage(
        items=await services.invitations.with_answers(member_id, items),
        unread=await inbox.unread(member_id),
        next_cursor=encode_cursor(next_before) if next_before else None,
    )


class FeedbackBody(BaseModel):
    action: FeedbackAction


class FeedbackAccepted(BaseModel):
    member_id: str
    candidate_id: str
    action: FeedbackAction


async def _own_item(inbox: Inbox, member_id: str, item_id: str) -> InboxItem:
    if not ITEM_ID.fullmatch(item_id):
        raise Problem(404, "Not found", "no such inbox item")
    item = await inbox.item(member_id, item_id)
    if item is None:
        raise Problem(404, "Not found", "no such inbox item")
    return item


@router.post(
    "/{member_id}/inbox/{item_id}/read",
    status_code=204,
    responses=problem_responses(404, 429),
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Mark an inbox item read",
)
async def mark_read(
    member_id: MemberIdPath,
    item_id: Annotated[str, Path(max_length=40)],
    inbox: InboxDep,
) -> Response:
    await _own_item(inbox, member_id, item_id)
    await inbox.mark_read(member_id, item_id)
    return Response(status_code=204)


@router.post(
    "/{member_id}/inbox/{item_id}/feedback",
    status_code=202,
    response_model=FeedbackAccepted,
    responses=problem_responses(404, 429, 503),
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Accept, dismiss or block the member an inbox item is about (publishes feedback.v1)",
)
async def give_feedback(
    member_id: MemberIdPath,
    item_id: Annotated[str, Path(max_length=40)],
    body: FeedbackBody,
    inbox: InboxDep,
    publisher: PublisherDep,
) -> FeedbackAccepted:
    """Answered once Kafka acknowledged the `FeedbackGiven`; both accepting makes an
    introduction."""
    item = await _own_item(inbox, member_id, item_id)
    candidate = item.suggestion.member_id
    event = FeedbackGiven(
        producer=publisher.service, member_id=member_id, candidate_id=candidate, action=body.action
    )
    try:
        await publisher.publish(FEEDBACK, member_id, event)
    except Exception as exc:
        raise event_log_unavailable("feedback") from exc
    await inbox.mark_read(member_id, item_id)
    return FeedbackAccepted(member_id=member_id, candidate_id=candidate, action=body.action)
