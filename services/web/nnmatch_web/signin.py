"""Signing in and out: the dev stack's one-click sign-in, or the identity provider's token."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch.auth import InvalidToken, Role
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_web.deps import CheckedForm, PagesDep, SessionsDep
from nnmatch_web.session import Visitor
from nnmatch_web.views import first, member_in_path, safe_next

router = APIRouter(include_in_schema=False)
REASONS = {
    "expired": "Your sign-in has expired or is no longer valid. Please sign in again.",
    "signed-out": "You are signed out.",
}


@router.get("/")
async def home(request: Request, sessions: SessionsDep) -> Response:
    visitor = await sessions.visitor(request)
    return RedirectResponse(visitor.home if visitor else "/sign-in", status_code=303)


@router.get("/sign-in")
async def sign_in_page(
    request: Request,
    pages: PagesDep,
    sessions: SessionsDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    stale = sessions.has_session(request) and await sessions.visitor(request) is None
    return _sign_in(
        request, pages, sessions, safe_next(next_path), REASONS.get(reason or ""), forget=stale
    )


def _sign_in(
    request: Request,
    pages: PagesDep,
    sessions: SessionsDep,
    next_path: str | None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    forget: bool = False,
) -> Response:
    response = pages.render(
        request,
        "sign_in.html",
        status=status,
        next_path=next_path or "",
        notice=notice,
        error=error,
        dev_sign_in=sessions.dev_sign_in,
        suggested_member=member_in_path(next_path) or "m-00001",
        hub_page=(next_path or "").startswith("/hub"),
    )
    if forget:
        sessions.end(request, response)  # an expired or refused token is forgotten
    return response


def _signed_in(
    request: Request, sessions: SessionsDep, visitor: Visitor, next_path: str | None
) -> Response:
    response = RedirectResponse(next_path or visitor.home, status_code=303)
    sessions.start(request, response, visitor)
    return response


@router.post("/sign-in/dev")
async def dev_sign_in(
    request: Request, form: CheckedForm, pages: PagesDep, sessions: SessionsDep
) -> Response:
    """Dev stack only: a token minted with the dev signing key, for whoever is named."""
    next_path = safe_next(first(form, "next"))
    if not sessions.dev_sign_in:
        return _sign_in(
            request, pages, sessions, next_path, error="Dev sign-in is off here.", status=404
        )
    role = first(form, "role")
    ident = first(form, "id") or ("operator" if role == "operator" else "")
    if role not in ("member", "hub", "operator") or not re.fullmatch(MEMBER_ID_PATTERN, ident):
        return _sign_in(
            request,
            pages,
            sessions,
            next_path,
            error="Give an id of 1 to 64 letters, digits, - or _.",
            status=422,
        )
    try:
        visitor = await sessions.verify(sessions.mint_dev(Role(role), ident))
    except InvalidToken as exc:
        return _sign_in(request, pages, sessions, next_path, error=f"Refused: {exc}.", status=401)
    return _signed_in(request, sessions, visitor, next_path)


@router.post("/sign-in/token")
async def token_sign_in(
    request: Request, form: CheckedForm, pages: PagesDep, sessions: SessionsDep
) -> Response:
    """Production seam: a bearer token from the community's identity provider, verified."""
    next_path = safe_next(first(form, "next"))
    try:
        visitor = await sessions.verify(first(form, "token"))
    except InvalidToken as exc:
        return _sign_in(
            request,
            pages,
            sessions,
            next_path,
            error=f"That token was refused: {exc}.",
            status=401,
        )
    return _signed_in(request, sessions, visitor, next_path)


@router.post("/sign-out")
async def sign_out(request: Request, form: CheckedForm, sessions: SessionsDep) -> Response:
    response = RedirectResponse("/sign-in?reason=signed-out", status_code=303)
    sessions.end(request, response)
    return response
