"""Notification delivery over the real broker and Redis, a real SMTP server and a real webhook
receiver: once per pair even when matches.v1 is consumed twice, quiet hours, digests,
retries, dead letters and unsubscribe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis
from typer.testing import CliRunner

from nnmatch.contact import QuietHours
from nnmatch.events import (
    DeadLetter,
    MatchesComputed,
    Reason,
    Suggestion,
    decode_event,
    encode_event,
)
from nnmatch_notifications.bootstrap import build_app
from nnmatch_notifications.schedule import end_of_quiet_hours
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.unsubscribe import make_token
from nnmatch_tools import devstack
from nnmatch_tools.cli import app as cli_app
from nnmatch_tools.ports import LOOPBACK, free_port
from tests.integration.test_email_channel import Arrived, Mailbox
from tests.support import (
    Namespace,
    as_member,
    eventually,
    forget,
    new_namespace,
    produce_raw,
    read_topic,
    serving,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


@pytest.fixture(scope="module")
def delivery_namespace(stack: devstack.DevStack) -> Iterator[Namespace]:
    ns = new_namespace(stack)
    yield ns
    asyncio.run(forget(ns))


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname=LOOPBACK, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hook:
    url: str
    fail_first: int = 0
    always_fail: bool = False
    calls: list[str] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Receiver:
    """A webhook receiver on loopback; each test gets its own path and behaviour."""

    base: str
    hooks: dict[str, Hook] = field(default_factory=dict)

    def hook(self, name: str, **behaviour: Any) -> Hook:
        self.hooks[name] = Hook(url=f"{self.base}/hook/{name}", **behaviour)
        return self.hooks[name]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    app = FastAPI()
    port = free_port()
    state = Receiver(base=f"http://127.0.0.1:{port}")

    @app.post("/hook/{name}")
    async def receive(name: str, request: Request) -> Response:
        hook = state.hooks[name]
        hook.calls.append(request.headers["webhook-id"])
        if hook.always_fail or len(hook.calls) <= hook.fail_first:
            return Response(status_code=503)
        hook.accepted.append(await request.json())
        return Response(status_code=204)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.05)
    try:
        yield state
    finally:
        server.should_exit = True
        await task


def _suggestion(member: str, name: str, score: float) -> Suggestion:
    return Suggestion(
        member_id=member,
        display_name=name,
        headline="Cassava field data",
        country="GH",
        score=score,
        reasons=[Reason(kind="shared_sdg", text="both work on SDG 2 (Zero hunger)")],
        computed_at=datetime.now(UTC),
    )


async def _matches(namespace: Namespace, member: str, *suggestions: Suggestion) -> bytes:
    event = MatchesComputed(
        producer="matching",
        member_id=member,
        profile_version=1,
        model_id="mini@test",
        suggestions=list(suggestions),
    )
    raw = encode_event(event)
    await produce_raw(namespace, "matches.v1", [(member.encode(), raw)])
    return raw


@pytest.fixture(scope="module")
async def service(
    delivery_namespace: Namespace, mailbox: Mailbox
) -> AsyncIterator[httpx.AsyncClient]:
    """One notifications app for the module (joining its consumer groups takes a while)."""
    app = build_app(
        NotificationsSettings(
            **delivery_namespace.settings(
                smtp_port=mailbox.port,
                delivery_attempts=3,
                delivery_backoff_s=0.05,
                delivery_backoff_max_s=0.2,
                delivery_tick_s=0.1,
            )
        )
    )
    async with serving(app, headers={}) as client:
        yield client


@pytest.fixture
def namespace(delivery_namespace: Namespace) -> Namespace:
    return delivery_namespace


def _acting_as(service: httpx.AsyncClient, member: str) -> httpx.AsyncClient:
    service.headers.update(as_member(member))
    return service


async def _settle(seconds: float = 2.0) -> None:
    """Give a wrong extra delivery the time to show up before counting."""
    await asyncio.sleep(seconds)


async def test_instant_email_arrives_once_even_when_the_record_is_consumed_twice(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient
) -> None:
    member = "dl-amina"
    http = _acting_as(service, member)
    saved = await http.put(f"/v1/members/{member}/contact", json={"email": "amina@example.org"})
    prefs = await http.put(
        f"/v1/members/{member}/preferences", json={"channels": ["in_app", "email"]}
    )
    raw = await _matches(namespace, member, _suggestion("dl-kofi", "Kofi Mensah", 0.8))
    await produce_raw(namespace, "matches.v1", [(member.encode(), raw)])
    await eventually(lambda: _inbox_has(http, member, 1), 120)  # consumers joined
    await eventually(lambda: _arrived(mailbox, "amina@example.org", 1), 30)
    await _settle()
    inbox = (await http.get(f"/v1/members/{member}/inbox")).json()

    assert saved.status_code == 200, saved.text
    assert saved.json()["webhook_secret"] is None
    assert prefs.json()["channels"] == ["in_app", "email"]
    assert len(_mail_to(mailbox, "amina@example.org")) == 1
    message = _mail_to(mailbox, "amina@example.org")[0].message
    assert _mail_to(mailbox, "amina@example.org")[0].rcpt_tos == ["amina@example.org"]
    assert "Kofi Mensah" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [i["suggestion"]["member_id"] for i in inbox["items"]] == ["dl-kofi"]


def _mail_to(mailbox: Mailbox, address: str) -> list[Arrived]:
    """What reached `address` (the server is shared by the module's tests)."""
    return [a for a in mailbox.arrived if address in a.rcpt_tos]


async def _arrived(mailbox: Mailbox, address: str, count: int) -> bool:
    return len(_mail_to(mailbox, address)) >= count


async def test_quiet_hours_hold_the_message_until_morning_in_the_members_zone(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient
) -> None:
    member = "dl-night"
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Africa/Nairobi"))  # the window is in the member's zone
    quiet = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=2)).strftime("%H:%M"),
        "tz": "Africa/Nairobi",
    }
    http = _acting_as(service, member)
    await http.put(f"/v1/members/{member}/contact", json={"email": "night@example.org"})
    saved = await http.put(
        f"/v1/members/{member}/preferences",
        json={"channels": ["in_app", "email"], "quiet_hours": quiet},
    )
    await _matches(namespace, member, _suggestion("dl-kofi", "Kofi Mensah", 0.8))
    due = await eventually(lambda: _due(namespace, member), 120)
    await _settle()

    assert saved.status_code == 200, saved.text
    assert _mail_to(mailbox, "night@example.org") == []
    expected = end_of_quiet_hours(QuietHours.model_validate(quiet), now)
    assert abs(due - expected.timestamp()) < 120  # held until the window ends, in its zone


async def _due(namespace: Namespace, member: str) -> float | None:
    redis: Any = Redis.from_url(namespace.stack.redis.address)
    async with redis:
        score = await redis.zscore(f"{namespace.redis_prefix}due", member)
    return None if score is None else float(score) / 1000


async def test_the_daily_digest_collects_several_suggestions_into_one_email(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient
) -> None:
    member = "dl-digest"
    http = _acting_as(service, member)
    await http.put(f"/v1/members/{member}/contact", json={"email": "digest@example.org"})
    await http.put(
        f"/v1/members/{member}/preferences",
        json={"channels": ["in_app", "email"], "frequency": "daily"},
    )
    await _matches(namespace, member, _suggestion("dl-a", "Ama Owusu", 0.9))
    await _matches(namespace, member, _suggestion("dl-b", "Bola Ade", 0.8))
    await _matches(namespace, member, _suggestion("dl-c", "Chidi Eze", 0.7))
    due = await eventually(lambda: _pending(namespace, member, 3), 120)
    assert due > datetime.now(UTC).timestamp() + 60  # the digest waits for its time
    await _settle(1)
    assert _mail_to(mailbox, "digest@example.org") == []
    # Time passes: the member's send time comes.
    redis: Any = Redis.from_url(namespace.stack.redis.address)
    async with redis:
        await redis.zadd(f"{namespace.redis_prefix}due", {member: 0})
    await eventually(lambda: _arrived(mailbox, "digest@example.org", 1), 30)
    await _settle()

    assert len(_mail_to(mailbox, "digest@example.org")) == 1
    text = _mail_to(mailbox, "digest@example.org")[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(name in text for name in ("Ama Owusu", "Bola Ade", "Chidi Eze"))


async def _pending(namespace: Namespace, member: str, count: int) -> float | None:
    redis: Any = Redis.from_url(namespace.stack.redis.address)
    async with redis:
        waiting = await redis.hlen(f"{namespace.redis_prefix}pending:{member}")
        score = await redis.zscore(f"{namespace.redis_prefix}due", member)
    return float(score) / 1000 if waiting == count and score is not None else None


async def test_a_webhook_that_fails_twice_then_succeeds_gets_exactly_one_delivery(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient, receiver: Receiver
) -> None:
    member = "dl-hook"
    hook = receiver.hook(member, fail_first=2)
    http = _acting_as(service, member)
    saved = await http.put(f"/v1/members/{member}/contact", json={"webhook_url": hook.url})
    await http.put(f"/v1/members/{member}/preferences", json={"channels": ["in_app", "webhook"]})
    await _matches(namespace, member, _suggestion("dl-kofi", "Kofi Mensah", 0.8))
    await eventually(lambda: _accepted(hook, 1), 120)
    await _settle()

    assert saved.json()["webhook_secret"].startswith("whsec_")  # shown once
    assert len(hook.calls) == 3
    assert len(set(hook.calls)) == 1  # one idempotency key across the retries
    assert len(hook.accepted) == 1
    assert hook.accepted[0]["items"][0]["suggestion"]["display_name"] == "Kofi Mensah"


async def _accepted(hook: Hook, count: int) -> bool:
    return len(hook.accepted) >= count


async def test_a_webhook_that_always_fails_is_dead_lettered_with_the_cause(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient, receiver: Receiver
) -> None:
    member = "dl-broken"
    hook = receiver.hook(member, always_fail=True)
    http = _acting_as(service, member)
    await http.put(f"/v1/members/{member}/contact", json={"webhook_url": hook.url})
    await http.put(f"/v1/members/{member}/preferences", json={"channels": ["in_app", "webhook"]})
    await _matches(namespace, member, _suggestion("dl-kofi", "Kofi Mensah", 0.8))
    records = await read_topic(namespace, "deliveries.v1.dlq", count=1, timeout=120)

    letter = decode_event(records[0].value, (DeadLetter,))
    assert letter.key == member
    assert "503" in letter.error
    assert len(hook.calls) == 3  # the configured attempts, then the dead letter
    assert hook.accepted == []

    # The receiver is fixed; an operator re-drives the dead letter and it arrives once.
    hook.always_fail = False
    redrive = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["dlq", "redrive", "deliveries.v1", "--yes"],
        env=namespace.env(),
    )
    assert redrive.exit_code == 0, redrive.output
    await eventually(lambda: _accepted(hook, 1), 120)
    await _settle()
    assert len(hook.accepted) == 1
    assert hook.accepted[0]["items"][0]["suggestion"]["member_id"] == "dl-kofi"


async def test_unsubscribe_link_stops_the_next_send(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient
) -> None:
    member = "dl-unsub"
    http = _acting_as(service, member)
    await http.put(f"/v1/members/{member}/contact", json={"email": "unsub@example.org"})
    await http.put(f"/v1/members/{member}/preferences", json={"channels": ["in_app", "email"]})
    await _matches(namespace, member, _suggestion("dl-a", "Ama Owusu", 0.9))
    await eventually(lambda: _arrived(mailbox, "unsub@example.org", 1), 120)
    link = str(_mail_to(mailbox, "unsub@example.org")[0].message["List-Unsubscribe"]).strip("<>")
    path = httpx.URL(link)
    # RFC 8058: the mail client POSTs the List-Unsubscribe URL with this body, in one step.
    anonymous = await http.post(
        f"{path.path}?{path.query.decode()}",
        data={"List-Unsubscribe": "One-Click"},
        headers={"authorization": ""},
    )
    prefs = await http.get(f"/v1/members/{member}/preferences")
    await _matches(namespace, member, _suggestion("dl-b", "Bola Ade", 0.8))
    await eventually(lambda: _inbox_has(http, member, 2), 30)
    await _settle()

    assert anonymous.status_code == 200, anonymous.text
    assert prefs.json()["opted_out"] is True
    assert len(_mail_to(mailbox, "unsub@example.org")) == 1


class _Forms(HTMLParser):
    """The forms of a page: (method, action) each, and how many buttons it has."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str]] = []
        self.buttons = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            self.forms.append(((named.get("method") or "get").lower(), named.get("action") or ""))
        elif tag == "button" or (tag == "input" and named.get("type") == "submit"):
            self.buttons += 1


async def test_the_link_opened_with_get_only_asks_and_its_button_posts_the_opt_out(
    namespace: Namespace, service: httpx.AsyncClient
) -> None:
    """A mail scanner or a link preview GETs the link: that must opt nobody out."""
    member = "dl-unsub-get"
    http = _acting_as(service, member)
    await http.put(f"/v1/members/{member}/contact", json={"email": "get@example.org"})
    await http.put(f"/v1/members/{member}/preferences", json={"channels": ["in_app", "email"]})
    key = str(namespace.settings()["unsubscribe_key"]).encode()
    token = make_token(member, key, datetime.now(UTC))
    anonymous = {"authorization": ""}

    page = await http.get("/v1/unsubscribe", params={"token": token}, headers=anonymous)
    scanned_twice = await http.get("/v1/unsubscribe", params={"token": token}, headers=anonymous)
    after_get = (await http.get(f"/v1/members/{member}/preferences")).json()
    forms = _Forms()
    forms.feed(page.text)
    [(method, action)] = forms.forms
    clicked = await http.post(
        httpx.URL("/v1/unsubscribe").join(action),
        data={"List-Unsubscribe": "One-Click"},
        headers=anonymous,
    )
    after_post = (await http.get(f"/v1/members/{member}/preferences")).json()
    forged = await http.get("/v1/unsubscribe", params={"token": token[:-2]}, headers=anonymous)

    assert (page.status_code, scanned_twice.status_code) == (200, 200)
    assert page.headers["content-type"].startswith("text/html")
    assert after_get["opted_out"] is False
    assert (method, forms.buttons) == ("post", 1)
    assert clicked.status_code == 200, clicked.text
    assert "You are unsubscribed" in clicked.text
    assert after_post["opted_out"] is True
    assert forged.status_code == 400


async def _inbox_has(http: httpx.AsyncClient, member: str, count: int) -> bool:
    return len((await http.get(f"/v1/members/{member}/inbox")).json()["items"]) >= count


async def test_an_introduction_goes_out_only_after_both_accept_and_only_once(
    namespace: Namespace, mailbox: Mailbox, service: httpx.AsyncClient
) -> None:
    a, b = "dl-intro-a", "dl-intro-b"
    for member, address in ((a, "intro-a@example.org"), (b, "intro-b@example.org")):
        http = _acting_as(service, member)
        await http.put(
            f"/v1/members/{member}/contact",
            json={"email": address, "share_in_introductions": ["email"]},
        )
        await http.put(f"/v1/members/{member}/preferences", json={"channels": ["in_app", "email"]})
    await _matches(namespace, a, _suggestion(b, "Bea Intro", 0.9))
    await _matches(namespace, b, _suggestion(a, "Ade Intro", 0.9))
    await eventually(lambda: _arrived(mailbox, "intro-a@example.org", 1), 120)
    await eventually(lambda: _arrived(mailbox, "intro-b@example.org", 1), 120)

    http = _acting_as(service, a)
    item_a = (await http.get(f"/v1/members/{a}/inbox")).json()["items"][0]
    first = await http.post(
        f"/v1/members/{a}/inbox/{item_a['item_id']}/feedback", json={"action": "accept"}
    )
    await _settle()
    # One side accepted: nothing about contact details has moved.
    assert not _mentions(mailbox, "intro-a@example.org", "intro-b@example.org")
    assert all(
        i["kind"] == "suggestion"
        for i in (await http.get(f"/v1/members/{a}/inbox")).json()["items"]
    )

    http = _acting_as(service, b)
    item_b = (await http.get(f"/v1/members/{b}/inbox")).json()["items"][0]
    url = f"/v1/members/{b}/inbox/{item_b['item_id']}/feedback"
    second = await http.post(url, json={"action": "accept"})
    again = await http.post(url, json={"action": "accept"})
    await eventually(lambda: _arrived(mailbox, "intro-a@example.org", 2), 120)
    await eventually(lambda: _arrived(mailbox, "intro-b@example.org", 2), 120)
    await _settle()
    inbox_b = (await http.get(f"/v1/members/{b}/inbox")).json()["items"]
    inbox_a = (await _acting_as(service, a).get(f"/v1/members/{a}/inbox")).json()["items"]

    assert (first.status_code, second.status_code, again.status_code) == (202, 202, 202)
    intro_a = [i for i in inbox_a if i["kind"] == "introduction"]
    intro_b = [i for i in inbox_b if i["kind"] == "introduction"]
    assert [i["shared_email"] for i in intro_a] == ["intro-b@example.org"]
    assert [i["shared_email"] for i in intro_b] == ["intro-a@example.org"]
    assert len(_mail_to(mailbox, "intro-a@example.org")) == 2  # suggestion, introduction
    assert len(_mail_to(mailbox, "intro-b@example.org")) == 2
    assert _mentions(mailbox, "intro-a@example.org", "intro-b@example.org")
    assert _mentions(mailbox, "intro-b@example.org", "intro-a@example.org")


def _mentions(mailbox: Mailbox, to: str, text: str) -> bool:
    return any(
        text in a.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for a in _mail_to(mailbox, to)
    )


async def test_another_members_inbox_item_cannot_be_read_or_answered(
    service: httpx.AsyncClient,
) -> None:
    http = _acting_as(service, "dl-intruder")
    read = await http.post("/v1/members/dl-intro-a/inbox/1-0/read")
    feedback = await http.post(
        "/v1/members/dl-intro-a/inbox/1-0/feedback", json={"action": "accept"}
    )
    missing = await http.post("/v1/members/dl-intruder/inbox/1-0/read")
    assert (read.status_code, feedback.status_code, missing.status_code) == (403, 403, 404)
