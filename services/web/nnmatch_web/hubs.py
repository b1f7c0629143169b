"""Hub pages: free-text collaborator search with filters, a shortlist, and its CSV export.

The search form is a GET (a search is a read: its address can be shared, bookmarked and paged
back and forth). The shortlist lives in a cookie of member ids; its page and its CSV read each
member's visible fields from the profiles API with the hub's own token.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch_web.apis import ApiError, Apis
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, PagesDep, here
from nnmatch_web.render import PRIVATE, is_htmx
from nnmatch_web.session import Visitor
from nnmatch_web.views import (
    SearchForm,
    field_errors,
    first,
    parse_shortlist,
    safe_next,
    shortlist_cookie,
    shortlist_csv,
    update_shortlist,
)

router = APIRouter(prefix="/hub", include_in_schema=False)
SHORTLIST_COOKIE = "nnmatch_shortlist"
SEARCH_PAGE_SIZE = 10
PROFILE_FETCHES = 8  # concurrent profile reads for the shortlist


def shortlist_of(request: Request) -> list[str]:
    return parse_shortlist(request.cookies.get(SHORTLIST_COOKIE))


@router.get("/search")
async def search(
    request: Request, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    form = SearchForm.from_query({k: request.query_params.getlist(k) for k in request.query_params})
    shortlist = shortlist_of(request)
    request.state.shortlisted = len(shortlist)
    results: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    error: str | None = None
    if form.query:
        try:
            results = await apis.search(visitor.token, form.body(SEARCH_PAGE_SIZE))
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            errors = field_errors(exc.problem)
            error = exc.detail
    return pages.render(
        request,
        "search.html",
        form=form,
        results=results,
        errors=errors,
        error=error,
        shortlist=set(shortlist),
        back=here(request),
        next_query=form.query_string(results["next_cursor"])
        if results and results.get("next_cursor")
        else None,
        first_query=form.query_string() if form.cursor else None,
    )


@router.post("/shortlist")
async def change_shortlist(
    request: Request, form: CheckedForm, visitor: CurrentVisitor, pages: PagesDep
) -> Response:
    member_id = first(form, "member_id")
    adding = first(form, "op") == "add"
    ids = update_shortlist(shortlist_of(request), member_id, adding)
    request.state.shortlisted = len(ids)
    if is_htmx(request):
        response: Response = pages.render(
            request,
            "_shortlist_button.html",
            member_id=member_id,
            name=first(form, "name") or member_id,
            listed=member_id in ids,
            back=first(form, "back"),
            oob=True,
        )
    else:
        response = RedirectResponse(safe_next(first(form, "back")) or "/hub/shortlist", 303)
    response.set_cookie(
        SHORTLIST_COOKIE,
        shortlist_cookie(ids),
        max_age=30 * 86400,
        httponly=True,
        samesite="strict",
        secure=request.app.state.sessions.secure(request),
        path="/hub",
    )
    return response


async def _profiles(apis: Apis, visitor: Visitor, ids: list[str]) -> list[dict[str, Any]]:
    """Each shortlisted member's visible fields; members gone or hidden since are left out."""
    gate = asyncio.Semaphore(PROFILE_FETCHES)

    async def one(member_id: str) -> dict[str, Any] | None:
        async with gate:
            try:
                return await apis.profile(visitor.token, member_id)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

    found = await asyncio.gather(*(one(i) for i in ids))
    return [p for p in found if p is not None]


@router.get("/shortlist")
async def shortlist(
    request: Request, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    ids = shortlist_of(request)
    request.state.shortlisted = len(ids)
    profiles = await _profiles(apis, visitor, ids)
    return pages.render(
        request, "shortlist.html", profiles=profiles, missing=len(ids) - len(profiles)
    )


@router.get("/shortlist.csv")
async def shortlist_export(request: Request, visitor: CurrentVisitor, apis: ApisDep) -> Response:
    profiles = await _profiles(apis, visitor, shortlist_of(request))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        shortlist_csv(profiles),
        media_type="text/csv; charset=utf-8",
        headers={
            **PRIVATE,
            "content-disposition": f'attachment; filename="nnmatch-shortlist-{stamp}.csv"',
        },
    )
