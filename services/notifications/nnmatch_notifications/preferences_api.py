"""HTTP routes for how a member is reached: contact details, preferences, unsubscribe links."""

from __future__ import annotations

from typing import Annotated

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


@router.api_route(
    "/v1/unsubscribe",
    methods=["GET", "POST"],
    response_class=HTMLResponse,
    responses={400: {}, 503: {}},
    summary="One-click unsubscribe from the link in every e-mail (no sign-in: the link is signed)",
)
async def unsubscribe(
    book: ContactBookDep, key: UnsubscribeKeyDep, token: Annotated[str, Query(max_length=500)]
) -> HTMLResponse:
    if key is None:
        raise Problem(503, "Service unavailable", "unsubscribe links are not configured here")
    try:
        member_id = read_token(token, key, utc_now())
    except InvalidUnsubscribeToken as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    try:
        await book.opt_out(member_id)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("change") from exc
    return HTMLResponse(UNSUBSCRIBED_PAGE)
