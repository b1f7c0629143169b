"""Hub pages: free-text collaborator search with filters, the hub's shortlist, and its CSV.

The search form is a GET (a search is a read: its address can be shared, bookmarked and paged
back and forth). The shortlist is the hub's own, kept by the profiles API and shared by every
leader signed in with the hub's token; its page and its CSV read each member's visible fields
from the profiles API with that token.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch_web.apis import ApiError, Apis, unless_missing
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, OwnHub, PagesDep, here
from nnmatch_web.render import PRIVATE, is_htmx
from nnmatch_web.session import Visitor
from nnmatch_web.views import (
    SearchForm,
    field_errors,
    first,
    safe_next,
    shortlist_csv,
    shortlisted_ids,
)

router = APIRouter(prefix="/hub", include_in_schema=False)
SEARCH_PAGE_SIZE = 10
PROFILE_FETCHES = 8  # concurrent profile reads for the shortlist


async def _shortlist_of(request: Request, apis: Apis, visitor: Visitor) -> list[str] | None:
    """The hub's shortlist (and its count for the menu); None for a visitor without a hub."""
    hub_id = visitor.hub_id
    if hub_id is None:
        return None
    ids = shortlisted_ids(await apis.shortlist(visitor.token, hub_id))
    request.state.shortlisted = len(ids)
    return ids


@router.get("/search")
async def search(
    request: Request, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    form = SearchForm.from_query({k: request.query_params.getlist(k) for k in request.query_params})
    results: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    error: str | None = None

    async def run_search() -> dict[str, Any] | None:
        if not form.query:
            return None
        return await apis.search(visitor.token, form.body(SEARCH_PAGE_SIZE))

    try:
        results, shortlist = await asyncio.gather(
            run_search(), _shortlist_of(request, apis, visitor)
        )
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        errors = field_errors(exc.problem)
        error = exc.detail
        shortlist = await _shortlist_of(request, apis, visitor)
    return pages.render(
        request,
        "search.html",
        form=form,
        results=results,
        errors=errors,
        error=error,
        shortlist=None if shortlist is None else set(shortlist),
        back=here(request),
        next_query=form.query_string(results["next_cursor"])
        if results and results.get("next_cursor")
        else None,
        first_query=form.query_string() if form.cursor else None,
    )


@router.post("/shortlist")
async def change_shortlist(
    request: Request,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    member_id = first(form, "member_id")
    adding = first(form, "op") == "add"
    ids = shortlisted_ids(await apis.change_shortlist(visitor.token, hub_id, member_id, adding))
    request.state.shortlisted = len(ids)
    if is_htmx(request):
        return pages.render(
            request,
            "_shortlist_button.html",
            member_id=member_id,
            name=first(form, "name") or member_id,
            listed=member_id in ids,
            back=first(form, "back"),
            oob=True,
        )
    return RedirectResponse(safe_next(first(form, "back")) or "/hub/shortlist", 303)


async def visible_profiles(apis: Apis, visitor: Visitor, ids: list[str]) -> list[dict[str, Any]]:
    """Each shortlisted member's visible fields; members gone or hidden since are left out."""
    gate = asyncio.Semaphore(PROFILE_FETCHES)

    async def one(member_id: str) -> dict[str, Any] | None:
        async with gate:
            return await unless_missing(apis.profile(visitor.token, member_id))

    found = await asyncio.gather(*(one(i) for i in ids))
    return [p for p in found if p is not None]


@router.get("/shortlist")
async def shortlist(
    request: Request, visitor: CurrentVisitor, hub_id: OwnHub, apis: ApisDep, pages: PagesDep
) -> Response:
    page = await apis.shortlist(visitor.token, hub_id)
    ids = shortlisted_ids(page)
    request.state.shortlisted = len(ids)
    profiles = await visible_profiles(apis, visitor, ids)
    return pages.render(
        request,
        "shortlist.html",
        profiles=profiles,
        missing=len(ids) - len(profiles),
        limit=page.get("limit"),
    )


@router.get("/shortlist.csv")
async def shortlist_export(visitor: CurrentVisitor, hub_id: OwnHub, apis: ApisDep) -> Response:
    ids = shortlisted_ids(await apis.shortlist(visitor.token, hub_id))
    profiles = await visible_profiles(apis, visitor, ids)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        shortlist_csv(profiles),
        media_type="text/csv; charset=utf-8",
        headers={
            **PRIVATE,
            "content-disposition": f'attachment; filename="nnmatch-shortlist-{stamp}.csv"',
        },
    )
