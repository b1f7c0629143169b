"""What the page routes are given: the visitor, a checked form, the APIs and the renderer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_web.apis import ApiError, Apis
from nnmatch_web.render import Pages
from nnmatch_web.session import HubOnly, Sessions, SignInRequired, Visitor
from nnmatch_web.views import parse_form

PAGE_SIZE = 20
MemberId = Annotated[str, Path(pattern=MEMBER_ID_PATTERN)]


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def get_apis(request: Request) -> Apis:
    apis: Apis = request.app.state.apis
    return apis


def get_sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def here(request: Request) -> str:
    """This page's path and query, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def signed_in(
    request: Request, sessions: Annotated[Sessions, Depends(get_sessions)]
) -> Visitor:
    """The verified visitor; otherwise off to the sign-in page (and back here afterwards)."""
    visitor = await sessions.visitor(request)
    if visitor is None:
        reason = "expired" if sessions.has_session(request) else None
        raise SignInRequired(here(request), reason)
    return visitor


async def own_hub(visitor: Annotated[Visitor, Depends(signed_in)]) -> str:
    """The visitor's own hub, for the hub's pages; a visitor without a hub token is told so."""
    if visitor.hub_id is None:
        raise HubOnly("these pages belong to a hub")
    return visitor.hub_id


async def checked_form(
    request: Request, sessions: Annotated[Sessions, Depends(get_sessions)]
) -> dict[str, list[str]]:
    """The posted form, once its anti-forgery token and origin are checked."""
    form: dict[str, list[str]] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_form(await request.body())
    sessions.check_form(request, form)
    return form


async def count_unread(request: Request, apis: Apis, visitor: Visitor) -> None:
    """The inbox's unread count for the navigation; a page still shows when it is unknown."""
    if visitor.member_id is None:
        return
    try:
        page = await apis.inbox(visitor.token, visitor.member_id, limit=1)
    except ApiError:
        return
    request.state.unread = int(page.get("unread", 0))


CurrentVisitor = Annotated[Visitor, Depends(signed_in)]
OwnHub = Annotated[str, Depends(own_hub)]
CheckedForm = Annotated[dict[str, list[str]], Depends(checked_form)]
PagesDep = Annotated[Pages, Depends(get_pages)]
ApisDep = Annotated[Apis, Depends(get_apis)]
SessionsDep = Annotated[Sessions, Depends(get_sessions)]
