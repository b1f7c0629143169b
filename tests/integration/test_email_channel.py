"""E-mail delivery against a real SMTP server (aiosmtpd) started here on loopback: what
arrives, once, with both parts; and how the server's refusals become transient or permanent
failures for the scheduler."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from nnmatch.contact import ContactDetails, DeliverySettings
from nnmatch.events import Reason, Suggestion
from nnmatch_notifications.channels import (
    Delivery,
    DeliveryChannel,
    PermanentFailure,
    TransientFailure,
)
from nnmatch_notifications.email import EmailChannel, SmtpConfig
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.unsubscribe import read_token
from nnmatch_tools.ports import LOOPBACK, free_port

KEY = b"unsubscribe-key-for-tests-only!!"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
AMINA = DeliverySettings(contact=ContactDetails(email="amina@example.org"))


@dataclass(frozen=True)
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Mailbox:
    """What the server received; `refuse` maps a recipient to the reply it gets instead."""

    port: int
    arrived: list[Arrived] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.arrived.append(Arrived(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname=LOOPBACK, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def mailer(port: int, timeout_s: float = 5.0) -> EmailChannel:
    return EmailChannel(
        SmtpConfig(host=LOOPBACK, port=port, timeout_s=timeout_s),
        mail_from="nnmatch <no-reply@nnmatch.example>",
        public_base_url="https://nnmatch.example",
        notifications_public_url="https://api.nnmatch.example",
        unsubscribe_key=KEY,
        clock=lambda: NOW,
    )


def item(
    member_id: str = "m-0042",
    name: str = "Kofi Mensah",
    *,
    kind: ItemKind = ItemKind.SUGGESTION,
    shared_email: str | None = None,
) -> InboxItem:
    return InboxItem(
        item_id=f"item-{member_id}",
        kind=kind,
        created_at=NOW,
        shared_email=shared_email,
        suggestion=Suggestion(
            member_id=member_id,
            display_name=name,
            headline="Solar microgrids for rural clinics",
            country="GH",
            score=0.83,
            reasons=[Reason(kind="shared_sdg", text=f"both work on SDG 7 ({name})")],
            computed_at=NOW,
        ),
    )


def single(i: InboxItem, key: str = "0123abcd0123abcd") -> Delivery:
    return Delivery(member_id="m-0001", items=[i], key=key, digest=False)


def bodies(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())


def test_the_email_channel_is_a_delivery_channel() -> None:
    channel: DeliveryChannel = mailer(free_port())
    assert channel.channel == "email"


async def test_a_suggestion_arrives_once_with_both_parts(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await mailer(mailbox.port).send(single(item()), AMINA)

    assert len(mailbox.arrived) == 1
    arrived = mailbox.arrived[0]
    assert arrived.mail_from == "no-reply@nnmatch.example"
    assert arrived.rcpt_tos == ["amina@example.org"]
    assert arrived.message["To"] == "amina@example.org"
    assert arrived.message["Subject"] == "Someone to meet: Kofi Mensah"
    assert arrived.message["Message-ID"] == "<0123abcd0123abcd.nnmatch@nnmatch.example>"
    plain, html = bodies(arrived.message)
    for body in (plain, html):
        assert "Kofi Mensah" in body
        assert "both work on SDG 7 (Kofi Mensah)" in body
        assert "https://nnmatch.example/members/m-0042" in body
    # Neither the address nor the body reaches our logs (or the SMTP client's), not even in
    # structured fields; `mail.log` is the test server's own logger.
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "e-mail sent" in logged
    assert "amina@example.org" not in logged
    assert "both work on SDG 7" not in logged


async def test_a_repeated_send_carries_the_same_message_id(mailbox: Mailbox) -> None:
    channel = mailer(mailbox.port)
    await channel.send(single(item()), AMINA)
    await channel.send(single(item()), AMINA)
    ids = {a.message["Message-ID"] for a in mailbox.arrived}
    assert len(mailbox.arrived) == 2
    assert ids == {"<0123abcd0123abcd.nnmatch@nnmatch.example>"}


async def test_a_digest_of_three_arrives_as_one_message(mailbox: Mailbox) -> None:
    names = ["Kofi Mensah", "Li Wei", "Ana Souza"]
    delivery = Delivery(
        member_id="m-0001",
        items=[item(f"m-{i}", name) for i, name in enumerate(names)],
        key="digestkey",
        digest=True,
    )
    await mailer(mailbox.port).send(delivery, AMINA)

    assert len(mailbox.arrived) == 1
    message = mailbox.arrived[0].message
    assert message["Subject"] == "3 new people to meet on nnmatch"
    plain, html = bodies(message)
    for body in (plain, html):
        for i, name in enumerate(names):
            assert f"both work on SDG 7 ({name})" in body
            assert f"https://nnmatch.example/members/m-{i}" in body


async def test_an_introduction_shows_the_shared_address(mailbox: Mailbox) -> None:
    intro = item(kind=ItemKind.INTRODUCTION, shared_email="kofi@example.org")
    await mailer(mailbox.port).send(single(intro), AMINA)

    assert len(mailbox.arrived) == 1
    message = mailbox.arrived[0].message
    assert message["Subject"] == "Introduction: you and Kofi Mensah both said yes"
    plain, html = bodies(message)
    assert "kofi@example.org" in plain
    assert 'href="mailto:kofi@example.org"' in html


async def test_the_unsubscribe_link_that_arrives_names_the_member(mailbox: Mailbox) -> None:
    await mailer(mailbox.port).send(single(item()), AMINA)

    message = mailbox.arrived[0].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(message["List-Unsubscribe"]).strip().removeprefix("<").removesuffix(">")
    parsed = urlsplit(url)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == (
        "https://api.nnmatch.example/v1/unsubscribe"
    )
    assert read_token(parse_qs(parsed.query)["token"][0], KEY, NOW) == "m-0001"
    plain, html = bodies(message)
    assert url in plain
    assert f'href="{url}"' in html


async def test_a_server_that_is_down_is_a_transient_failure() -> None:
    with pytest.raises(TransientFailure, match="unreachable"):
        await mailer(free_port()).send(single(item()), AMINA)


async def test_a_server_that_never_answers_times_out_as_a_transient_failure() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # greets nobody; waits until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TransientFailure, match="unreachable"):
            await mailer(port, timeout_s=0.5).send(single(item()), AMINA)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        server.close()
        await server.wait_closed()


async def test_a_member_without_an_address_is_a_permanent_failure(mailbox: Mailbox) -> None:
    with pytest.raises(PermanentFailure, match="no e-mail address"):
        await mailer(mailbox.port).send(single(item()), DeliverySettings())
    assert mailbox.arrived == []


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        ("550 5.1.1 <amina@example.org>: no such user", PermanentFailure),
        ("451 4.7.1 <amina@example.org>: greylisted, try again later", TransientFailure),
    ],
)
async def test_a_refused_recipient_fails_by_the_reply_code(
    mailbox: Mailbox, reply: str, failure: type[Exception]
) -> None:
    mailbox.refuse["amina@example.org"] = reply
    with pytest.raises(failure) as caught:
        await mailer(mailbox.port).send(single(item()), AMINA)

    assert mailbox.arrived == []
    assert reply[:3] in str(caught.value)
    # The failure becomes a dead letter's cause and may be logged: it must not carry the address.
    assert "amina@example.org" not in _chain_text(caught.value)


def _chain_text(exc: BaseException) -> str:
    """What a log line with the traceback would show (causes and unsuppressed contexts)."""
    return "".join(traceback.format_exception(exc))
