"""Member pages: matches with reasons, accept / dismiss / block, the inbox, introductions,
the profile and how to be reached. Each page calls the APIs with the visitor's token; the
APIs answer 403 for someone else's page, which the pages turn into "this is not yours"."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch_web.apis import ApiError, Apis, unless_missing
from nnmatch_web.deps import (
    PAGE_SIZE,
    ApisDep,
    CheckedForm,
    CurrentVisitor,
    MemberId,
    PagesDep,
    count_unread,
)
from nnmatch_web.invitation_pages import ANSWERED_TEXT
from nnmatch_web.render import Pages, is_htmx
from nnmatch_web.session import Visitor
from nnmatch_web.views import (
    contact_body,
    empty_profile,
    field_errors,
    first,
    preferences_body,
    profile_body,
)

router = APIRouter(prefix="/members", include_in_schema=False)
Cursor = Annotated[str | None, Query(max_length=200)]
Done = Annotated[str | None, Query(max_length=20)]
ACTIONS = ("accept", "dismiss", "block")
DONE_TEXT = {
    "accept": "Accepted. If they accept you too, you will both get an introduction.",
    "dismiss": "Dismissed. They will not be suggested to you again.",
    "block": "Blocked. Neither of you will be suggested to the other again.",
}
SAVED_TEXT = {
    "profile": "Your profile is saved. Your matches are being updated.",
    "preferences": "Your notification preferences are saved.",
    "contact": "Your contact details are saved.",
}
SETTLE_S = 3.0  # how long an accept/dismiss/block waits to see the candidate leave the list
PROJECTS_SHOWN = 3  # projects for the member on the first page of their matches
INTRODUCTION_PAGES = 5  # inbox pages of 100 read for the introductions page (the inbox keeps 500)


@router.get("/{member_id}")
async def member(
    request: Request, member_id: MemberId, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    """Oneself: the profile form. Another member: what a member may see of them (their card
    from one's own suggestions); hubs and operators see the profile's visible fields."""
    if visitor.member_id == member_id:
        return RedirectResponse(f"/members/{member_id}/profile", status_code=303)
    if visitor.member_id is None:
        stored = await apis.profile(visitor.token, member_id)
        return pages.render(request, "member.html", stored=stored, card=None, member_id=member_id)
    card, _ = await asyncio.gather(
        _find_suggestion(apis, visitor, member_id), count_unread(request, apis, visitor)
    )
    if card is None:
        raise ApiError(404, f"{member_id} is not among your suggestions or in your inbox")
    return pages.render(request, "member.html", stored=None, card=card, member_id=member_id)


async def _find_suggestion(apis: Apis, visitor: Visitor, other: str) -> dict[str, Any] | None:
    me = visitor.member_id or ""
    matches, inbox = await asyncio.gather(
        apis.matches(visitor.token, me, limit=100), apis.inbox(visitor.token, me, limit=100)
    )
    for item in matches["items"]:
        if item["member_id"] == other:
            return dict(item)
    for entry in inbox["items"]:
        if entry["suggestion"]["member_id"] == other:
            return dict(entry["suggestion"])
    return None


# --- matches ---------------------------------------------------------------------------------


@router.get("/{member_id}/matches")
async def matches(
    request: Request,
    member_id: MemberId,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    cursor: Cursor = None,
    done: Done = None,
) -> Response:
    """The member's matches, and on the first page up to `PROJECTS_SHOWN` open projects that
    fit them (the projects are a bonus: if they cannot be read, the matches still show)."""
    page, projects, _ = await asyncio.gather(
        apis.matches(visitor.token, member_id, PAGE_SIZE, cursor),
        _projects_for(apis, visitor, member_id) if cursor is None else _nothing(),
        count_unread(request, apis, visitor),
    )
    return pages.render(
        request,
        "matches.html",
        member_id=member_id,
        page=page,
        projects=projects,
        cursor=cursor,
        notice=DONE_TEXT.get(done or ""),
        own=visitor.member_id == member_id,
    )


async def _projects_for(
    apis: Apis, visitor: Visitor, member_id: str
) -> list[dict[str, Any]] | None:
    """Up to `PROJECTS_SHOWN` projects for the member; None when the service cannot say (the
    hubs role does not run, an older service without the route, or it is down): the page
    says so instead of failing."""
    try:
        found = await apis.member_projects(visitor.token, member_id, PROJECTS_SHOWN)
    except ApiError as exc:
        if exc.status in (401, 403):  # not theirs, or signed out: the page says so
            raise
        return None
    items: list[dict[str, Any]] = found["items"]
    return items


async def _nothing() -> None:
    return None


@router.post("/{member_id}/matches/{candidate_id}/feedback")
async def match_feedback(
    request: Request,
    member_id: MemberId,
    candidate_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    action = _action(form)
    await apis.feedback(visitor.token, member_id, candidate_id, action)
    await _until_left(apis, visitor, member_id, candidate_id)
    if is_htmx(request):
        return pages.render(
            request,
            "_done.html",
            action=action,
            text=DONE_TEXT[action],
            name=first(form, "name") or candidate_id,
            item_id=f"match-{candidate_id}",
        )
    return RedirectResponse(f"/members/{member_id}/matches?done={action}", status_code=303)


async def _until_left(apis: Apis, visitor: Visitor, member_id: str, candidate_id: str) -> None:
    """Wait (briefly) until the matcher applied the feedback, so the list the visitor sees
    next, reloaded or redirected to, no longer shows the candidate. It usually takes well
    under a second; past SETTLE_S the page answers anyway and the list follows shortly."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while asyncio.get_running_loop().time() < deadline:
        page = await apis.matches(visitor.token, member_id, limit=100)
        if all(item["member_id"] != candidate_id for item in page["items"]):
            return
        await asyncio.sleep(0.1)


def _action(form: dict[str, list[str]]) -> str:
    action = first(form, "action")
    if action not in ACTIONS:
        raise ApiError(422, "choose accept, dismiss or block")
    return action


# --- inbox and introductions -------------------------------------------------------------------


@router.get("/{member_id}/inbox")
async def inbox(
    request: Request,
    member_id: MemberId,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    cursor: Cursor = None,
    done: Done = None,
) -> Response:
    page = await apis.inbox(visitor.token, member_id, PAGE_SIZE, cursor)
    request.state.unread = int(page.get("unread", 0))
    return pages.render(
        request,
        "inbox.html",
        member_id=member_id,
        page=page,
        cursor=cursor,
        notice=DONE_TEXT.get(done or "")
        or ANSWERED_TEXT.get(done or "")
        or ("Marked as read." if done == "read" else None),
    )


@router.post("/{member_id}/inbox/{item_id}/read")
async def inbox_read(
    request: Request,
    member_id: MemberId,
    item_id: str,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    await apis.mark_read(visitor.token, member_id, item_id)
    if is_htmx(request):
        await count_unread(request, apis, visitor)
        return pages.render(request, "_read.html", item_id=item_id)
    return RedirectResponse(f"/members/{member_id}/inbox?done=read", status_code=303)


@router.post("/{member_id}/inbox/{item_id}/feedback")
async def inbox_feedback(
    request: Request,
    member_id: MemberId,
    item_id: str,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    action = _action(form)
    await apis.inbox_feedback(visitor.token, member_id, item_id, action)
    if is_htmx(request):
        await count_unread(request, apis, visitor)
        return pages.render(
            request,
            "_done.html",
            action=action,
            text=DONE_TEXT[action],
            name=first(form, "name") or "them",
            item_id=f"item-{item_id}",
        )
    return RedirectResponse(f"/members/{member_id}/inbox?done={action}", status_code=303)


@router.get("/{member_id}/introductions")
async def introductions(
    request: Request, member_id: MemberId, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    """Every introduction in the inbox (the inbox API pages newest first, all kinds mixed)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(INTRODUCTION_PAGES):
        page = await apis.inbox(visitor.token, member_id, 100, cursor)
        request.state.unread = int(page.get("unread", 0))
        found += [item for item in page["items"] if item["kind"] == "introduction"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return pages.render(request, "introductions.html", member_id=member_id, items=found)


# --- profile ------------------------------------------------------------------------------------


@router.get("/{member_id}/profile")
async def profile(
    request: Request,
    member_id: MemberId,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    saved: Done = None,
) -> Response:
    stored, _ = await asyncio.gather(
        _stored_profile(apis, visitor, member_id), count_unread(request, apis, visitor)
    )
    values = stored["profile"] if stored else empty_profile()
    return _profile_page(request, pages, member_id, values, stored, saved=saved)


async def _stored_profile(apis: Apis, visitor: Visitor, member_id: str) -> dict[str, Any] | None:
    """The member's stored profile, or None when they have none yet."""
    return await unless_missing(apis.profile(visitor.token, member_id))


def _profile_page(
    request: Request,
    pages: Pages,
    member_id: str,
    values: dict[str, Any],
    stored: dict[str, Any] | None,
    errors: dict[str, str] | None = None,
    saved: str | None = None,
    status: int = 200,
) -> Response:
    return pages.render(
        request,
        "profile.html",
        status=status,
        member_id=member_id,
        p=values,
        stored=stored,
        errors=errors or {},
        notice=SAVED_TEXT.get(saved or ""),
    )


@router.post("/{member_id}/profile")
async def save_profile(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    body = profile_body(form)
    try:
        await apis.put_profile(visitor.token, member_id, body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        stored, _ = await asyncio.gather(
            _stored_profile(apis, visitor, member_id), count_unread(request, apis, visitor)
        )
        errors = field_errors(exc.problem, top=True) or {"body": exc.detail}
        return _profile_page(request, pages, member_id, body, stored, errors, status=422)
    return RedirectResponse(f"/members/{member_id}/profile?saved=profile", status_code=303)


# --- how to be reached ----------------------------------------------------------------------------


@router.get("/{member_id}/preferences")
async def preferences(
    request: Request,
    member_id: MemberId,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    saved: Done = None,
) -> Response:
    prefs, contact, _ = await asyncio.gather(
        apis.preferences(visitor.token, member_id),
        apis.contact(visitor.token, member_id),
        count_unread(request, apis, visitor),
    )
    return _preferences_page(request, pages, member_id, prefs, contact, saved=saved)


def _preferences_page(
    request: Request,
    pages: Pages,
    member_id: str,
    prefs: dict[str, Any],
    contact: dict[str, Any],
    *,
    saved: str | None = None,
    errors: dict[str, str] | None = None,
    contact_errors: dict[str, str] | None = None,
    webhook_secret: str | None = None,
    status: int = 200,
) -> Response:
    return pages.render(
        request,
        "preferences.html",
        status=status,
        member_id=member_id,
        prefs=prefs,
        contact=contact,
        errors=errors or {},
        contact_errors=contact_errors or {},
        webhook_secret=webhook_secret,
        notice=SAVED_TEXT.get(saved or ""),
    )


@router.post("/{member_id}/preferences")
async def save_preferences(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    body = preferences_body(form)
    try:
        await apis.put_preferences(visitor.token, member_id, body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        contact, _ = await asyncio.gather(
            apis.contact(visitor.token, member_id), count_unread(request, apis, visitor)
        )
        errors = field_errors(exc.problem) or {"body": exc.detail}
        return _preferences_page(
            request, pages, member_id, body, contact, errors=errors, status=422
        )
    return RedirectResponse(f"/members/{member_id}/preferences?saved=preferences", status_code=303)


@router.post("/{member_id}/contact")
async def save_contact(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    body = contact_body(form)
    try:
        saved = await apis.put_contact(visitor.token, member_id, body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        prefs, _ = await asyncio.gather(
            apis.preferences(visitor.token, member_id), count_unread(request, apis, visitor)
        )
        errors = field_errors(exc.problem) or {"body": exc.detail}
        return _preferences_page(
            request, pages, member_id, prefs, body, contact_errors=errors, status=422
        )
    if saved.get("webhook_secret"):  # shown once: render it now instead of redirecting
        prefs, _ = await asyncio.gather(
            apis.preferences(visitor.token, member_id), count_unread(request, apis, visitor)
        )
        return _preferences_page(
            request,
            pages,
            member_id,
            prefs,
            saved["contact"],
            saved="contact",
            webhook_secret=saved["webhook_secret"],
        )
    return RedirectResponse(f"/members/{member_id}/preferences?saved=contact", status_code=303)
