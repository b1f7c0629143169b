"""HTTP routes of the matching service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from nnmatch.access import OWNER_OR_OPERATOR, MemberIdPath
from nnmatch.events import Suggestion
from nnmatch.paging import MAX_LIMIT, BadCursor, offset_page
from nnmatch.problems import Problem, problem_responses
from nnmatch_matching.engine import MatchEngine
from nnmatch_matching.store import RedisMatchesStore


class MatchesPage(BaseModel):
    member_id: str
    computed_at: datetime | None
    items: list[Suggestion]
    next_cursor: str | None


def get_store(request: Request) -> RedisMatchesStore:
    store: RedisMatchesStore = request.app.state.matches_store
    return store


def get_engine(request: Request) -> MatchEngine | None:
    engine: MatchEngine | None = request.app.state.engine
    return engine


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
    store: Annotated[RedisMatchesStore, Depends(get_store)],
    engine: Annotated[MatchEngine | None, Depends(get_engine)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MatchesPage:
    """The member's current ranked suggestions with scores and reasons."""
    try:
        offset_page(0, limit, cursor)  # a forged cursor is refused whether or not there are matches
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    computed = await store.get(member_id)
    if computed is None:
        return MatchesPage(member_id=member_id, computed_at=None, items=[], next_cursor=None)
    items = computed.suggestions
    if engine is not None:
        # A member erased since the list was computed is never shown.
        items = [s for s in items if s.member_id in engine]
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
