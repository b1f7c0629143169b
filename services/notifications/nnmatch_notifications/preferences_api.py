"""HTTP routes for how a member is reached: contact details, preferences, unsubscribe links."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from nnmatch.access import OWNER_ONLY, MemberIdPath, rate_limited
from nnmatch.contact import ContactDetails, Preferences
from nnmatch.events import utc_now
from nnmatch.problems import Problem, event_log_unavailable
from nnmatch_notifications.contacts import BrokerUnavailable, ContactRefused
from nnmatch_notifications.deps import ContactBookDep, UnsubscribeKeyDep
from nnmatch_notifications.unsubscribe import InvalidUnsubscribeToken, read_token


class ContactSaved(BaseModel):
    contact: ContactDetails
    webhook_secret: str | None = None  # shown once, when a webhook URL is new or changed


router = APIRouter(tags=["delivery preferences"], responses={401: {}, 403: {}})


@router.put(
    "/v1/members/{member_id}/contact",
    response_model=ContactSaved,
    responses={422: {}, 429: {}, 503: {}},
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Set e-mail, webhook URL and what to share in introductions",
)
async def put_contact(
    member_id: MemberIdPath, contact: ContactDetails, book: ContactBookDep
) -> ContactSaved:
    """A new or changed webhook URL gets a new signing secret, shown in this answer only."""
    try:
        settings, secret = await book.set_contact(member_id, contact)
    except ContactRefused as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc
    except BrokerUnavailable as exc:
        raise event_log_unavailable("change") from exc
    return ContactSaved(contact=settings.contact, webhook_secret=secret)


@router.get(
    "/v1/members/{member_id}/contact",
    response_model=ContactDetails,
    dependencies=[OWNER_ONLY],
)
async def get_contact(member_id: MemberIdPath, book: ContactBookDep) -> ContactDetails:
    return (await book.get(member_id)).contact


@router.put(
    "/v1/members/{member_id}/preferences",
    response_model=Preferences,
    responses={422: {}, 429: {}, 503: {}},
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Channels, frequency, quiet hours, daily cap, opt-out",
)
async def put_preferences(
    member_id: MemberIdPath, preferences: Preferences, book: ContactBookDep
) -> Preferences:
    try:
        return (await book.set_preferences(member_id, preferences)).preferences
    except BrokerUnavailable as exc:
        raise event_log_unavailable("change") from exc


@router.get(
    "/v1/members/{member_id}/preferences",
    response_model=Preferences,
    dependencies=[OWNER_ONLY],
)
async def get_preferences(member_id: MemberIdPath, book: ContactBookDep) -> Preferences:
    return (await book.get(member_id)).preferences


UNSUBSCRIBED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribed · nnmatch</title></head><body>
<main><h1>You are unsubscribed</h1>
<p>nnmatch will send you no more e-mails or webhooks. Your in-app inbox stays; you can turn
notifications back on in your preferences.</p></main></body></html>"""

CONFIRM_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Unsubscribe · nnmatch</title></head><body>
<main><h1>Unsubscribe from nnmatch?</h1>
<p>You will get no more e-mails or webhooks from nnmatch. Your in-app inbox stays; you can turn
notifications back on in your preferences.</p>
<form method="post" action="{action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form></main></body></html>"""

UnsubscribeToken = Annotated[str, Query(max_length=500)]
UNSUBSCRIBE_RESPONSES: dict[int | str, dict[str, Any]] = {400: {}, 503: {}}


def _member_of(token: str, key: bytes | None) -> str:
    """The member a link names; 503 when links are not configured, 400 for a bad link."""
    if key is None:
        raise Problem(503, "Service unavailable", "unsubscribe links are not configured here")
    try:
        return read_token(token, key, utc_now())
    except InvalidUnsubscribeToken as exc:
        raise Problem(400, "Bad request", str(exc)) from exc


@router.get(
    "/v1/unsubscribe",
    response_class=HTMLResponse,
    responses=UNSUBSCRIBE_RESPONSES,
    summary="The e-mail's unsubscribe link: a page asking to confirm (changes nothing)",
)
async def confirm_unsubscribe(key: UnsubscribeKeyDep, token: UnsubscribeToken) -> HTMLResponse:
    """A GET never opts out: mail scanners and link previews follow links nobody clicked.

    The page's one button POSTs the same link, as a mail client's one-click does."""
    _member_of(token, key)  # a bad or expired link says so now, not after the click
    action = html.escape("?" + urlencode({"token": token}), quote=True)
    return HTMLResponse(
        CONFIRM_PAGE.format(action=action),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.post(
    "/v1/unsubscribe",
    response_class=HTMLResponse,
    responses=UNSUBSCRIBE_RESPONSES,
    summary="Unsubscribe in one step: RFC 8058 one-click (List-Unsubscribe-Post) or the button",
)
async def unsubscribe(
    book: ContactBookDep, key: UnsubscribeKeyDep, token: UnsubscribeToken
) -> HTMLResponse:
    """Opts the member out. The signed link is the credential; the body (RFC 8058's
    `List-Unsubscribe=One-Click`) is not needed."""
    member_id = _member_of(token, key)
    try:
        await book.opt_out(member_id)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("change") from exc
    return HTMLResponse(UNSUBSCRIBED_PAGE, headers={"Cache-Control": "no-store"})
