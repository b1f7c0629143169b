"""What a visitor sees when something is refused or fails: a readable page, never a trace.

An API's 401 sends the visitor to sign in again; 403 says the page belongs to someone else;
503 (a service away or slow) says to try again in a moment. For htmx requests the message goes
into the page's alert region instead of replacing what the visitor was looking at.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nnmatch_web.apis import ApiError
from nnmatch_web.deps import here
from nnmatch_web.render import Pages, is_htmx
from nnmatch_web.session import ForgedRequest, HubOnly, NotAllowed, Sessions, SignInRequired

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("That did not work", "The request was not understood: {detail}."),
    403: (
        "This is not yours",
        "This page belongs to another member, or needs another kind of sign-in. "
        "You can only see and change your own things.",
    ),
    404: ("Not found", "There is nothing here: {detail}."),
    409: ("That did not work", "{detail}."),
    405: ("Not found", "There is nothing here."),
    413: ("Too long", "That was more text than we accept at once."),
    422: ("That did not work", "{detail}."),
    429: ("Slow down a little", "Too many changes in a short time. Try again in {retry} seconds."),
    500: ("Something went wrong", "Something went wrong on our side; it has been logged."),
    502: ("Something went wrong", "A service answered with an error; it has been logged."),
    503: (
        "Please try again in a moment",
        "Part of nnmatch is busy or restarting ({detail}). Nothing was changed; "
        "try again in a few seconds.",
    ),
}


def _sign_in_redirect(request: Request, next_path: str, reason: str | None) -> Response:
    query = {"next": next_path} | ({"reason": reason} if reason else {})
    target = f"/sign-in?{urlencode(query)}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def error_page(
    request: Request,
    status: int,
    detail: str = "",
    retry_after: str | None = None,
    title: str | None = None,
    text: str | None = None,
) -> Response:
    pages: Pages = request.app.state.pages
    shown_status = 502 if status >= 500 and status not in (500, 503) else status
    default_title, template = MESSAGES.get(shown_status, MESSAGES[400])
    message = text or template.format(detail=detail.rstrip(".") or "no details", retry=retry_after)
    headers = {"Retry-After": retry_after} if retry_after and shown_status in (429, 503) else {}
    if is_htmx(request):
        headers |= {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return pages.render(
            request, "_error.html", status=shown_status, headers=headers, message=message
        )
    return pages.render(
        request,
        "error.html",
        status=shown_status,
        headers=headers,
        title=title or default_title,
        message=message,
    )


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return _sign_in_redirect(request, exc.next_path, exc.reason)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            sessions: Sessions = request.app.state.sessions
            response = _sign_in_redirect(request, here(request), "expired")
            sessions.end(request, response)
            return response
        if exc.status >= 500:
            log.warning("a service failed a page's call", extra={"status": exc.status})
        return error_page(request, exc.status, exc.detail, exc.retry_after)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return error_page(
            request,
            403,
            text=f"Sorry: {exc}. Sign in with an operator account to see it.",
            title="Operators only",
        )

    @app.exception_handler(HubOnly)
    async def _hub_only(request: Request, exc: HubOnly) -> Response:
        return error_page(
            request,
            403,
            text="Sorry: these pages belong to a hub. Sign in with your hub's account to see them.",
            title="Hubs only",
        )

    @app.exception_handler(ForgedRequest)
    async def _forged(request: Request, exc: ForgedRequest) -> Response:
        return error_page(
            request,
            403,
            title="Please try again",
            text=f"We did not act on that form: {exc}. Reload the page and send it again.",
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 404, "no such address")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("page failed", extra={"path": request.url.path})
        return error_page(request, 500)
