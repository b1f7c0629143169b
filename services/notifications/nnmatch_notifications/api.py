"""HTTP routes of the notifications service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from nnmatch.access import OWNER_ONLY, MemberIdPath
from nnmatch.paging import MAX_LIMIT, BadCursor, decode_cursor, encode_cursor
from nnmatch.problems import Problem, problem_responses
from nnmatch_notifications.inbox import InboxItem
from nnmatch_notifications.store import RedisInbox


class InboxPage(BaseModel):
    items: list[InboxItem]
    unread: int
    next_cursor: str | None


def get_inbox(request: Request) -> RedisInbox:
    inbox: RedisInbox = request.app.state.inbox
    return inbox


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
    inbox: Annotated[RedisInbox, Depends(get_inbox)],
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
        items=items,
        unread=await inbox.unread(member_id),
        next_cursor=encode_cursor(next_before) if next_before else None,
    )
