"""E-mail delivery over SMTP: suggestions, digests and introductions as text and HTML.

Rendering is pure (Jinja2 templates shipped in `templates/`, HTML autoescaped) and composing
the message is pure too; only `EmailChannel.send` touches the network. Every message carries a
one-click unsubscribe link (RFC 8058) and a Message-ID derived from the delivery key, so a
receiver can drop a repeat. Neither the address nor the body is ever logged, and failures name
the SMTP reply code, never the recipient.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import Literal
from urllib.parse import quote, urlencode

import aiosmtplib
import pycountry
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nnmatch.contact import Channel, DeliverySettings
from nnmatch.reasons import reason_sentence
from nnmatch_notifications.channels import Delivery, PermanentFailure, TransientFailure
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.unsubscribe import TOKEN_TTL, make_token

log = logging.getLogger(__name__)

SmtpTls = Literal["none", "starttls", "tls"]
Template = Literal["suggestion", "digest", "introduction", "invitation"]
_MESSAGE_ID_PART = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP server."""

    host: str = "127.0.0.1"
    port: int = 1025
    tls: SmtpTls = "none"
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ItemView:
    """What a template shows of one inbox item (plain strings: nothing left to compute)."""

    display_name: str
    headline: str
    country_name: str
    reasons: tuple[str, ...]
    profile_url: str
    is_introduction: bool
    shared_email: str | None
    is_invitation: bool = False  # a hub's project invitation: the card is the hub and project


@dataclass(frozen=True)
class RenderedEmail:
    template: Template
    subject: str
    text: str
    html: str


def template_for(delivery: Delivery) -> Template:
    """A lone introduction or suggestion gets its own message; anything else is a digest."""
    if len(delivery.items) == 1 and not delivery.digest:
        only = delivery.items[0]
        if only.kind is ItemKind.PROJECT_INVITATION:
            return "invitation"
        return "introduction" if only.kind is ItemKind.INTRODUCTION else "suggestion"
    return "digest"


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    return str(country.name) if country is not None else code


class EmailRenderer:
    """Turns a delivery into subject, text and HTML from the packaged templates."""

    def __init__(self, public_base_url: str) -> None:
        self._base = public_base_url.rstrip("/")
        self._env = Environment(
            loader=PackageLoader("nnmatch_notifications", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def matches_url(self, member_id: str) -> str:
        return f"{self._base}/members/{quote(member_id, safe='')}/matches"

    def profile_url(self, member_id: str) -> str:
        return f"{self._base}/members/{quote(member_id, safe='')}"

    def inbox_url(self, member_id: str) -> str:
        return f"{self._base}/members/{quote(member_id, safe='')}/inbox"

    def view(self, item: InboxItem, member_id: str = "") -> ItemView:
        """`member_id`: the reader, whose inbox an invitation links to (it has no profile)."""
        s = item.suggestion
        introduction = item.kind is ItemKind.INTRODUCTION
        invitation = item.kind is ItemKind.PROJECT_INVITATION
        return ItemView(
            display_name=s.display_name,
            headline=s.headline,
            country_name=country_name(s.country),
            reasons=tuple(reason_sentence(r, s.display_name) for r in s.reasons),
            profile_url=self.inbox_url(member_id) if invitation else self.profile_url(s.member_id),
            is_introduction=introduction,
            shared_email=item.shared_email if introduction else None,
            is_invitation=invitation,
        )

    def render(self, delivery: Delivery, unsubscribe_url: str) -> RenderedEmail:
        if not delivery.items:
            raise ValueError("a delivery without items has nothing to say")
        name = template_for(delivery)
        context = {
            "items": [self.view(item, delivery.member_id) for item in delivery.items],
            "count": len(delivery.items),
            "matches_url": self.matches_url(delivery.member_id),
            "unsubscribe_url": unsubscribe_url,
        }
        subject = " ".join(self._env.get_template(f"{name}.subject.txt").render(context).split())
        context["subject"] = subject
        return RenderedEmail(
            template=name,
            subject=subject,
            text=self._env.get_template(f"{name}.txt").render(context),
            html=self._env.get_template(f"{name}.html").render(context),
        )


def message_id(delivery_key: str, domain: str) -> str:
    """The same delivery always has the same Message-ID, so a receiver can drop a repeat."""
    local = delivery_key
    if not _MESSAGE_ID_PART.fullmatch(local):
        local = hashlib.sha256(delivery_key.encode()).hexdigest()[:32]
    return f"<{local}.nnmatch@{domain}>"


def compose(
    rendered: RenderedEmail,
    *,
    delivery_key: str,
    mail_from: str,
    to: str,
    unsubscribe_url: str,
    now: datetime,
) -> EmailMessage:
    """The multipart/alternative message (plain text first, HTML preferred) with its headers."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(addr_spec=to)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id(delivery_key, sender_domain(mail_from))
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class _WirePolicy(EmailPolicy):
    """SMTP line endings, but `List-Unsubscribe` is never folded.

    The standard policy turns a header line over 78 characters that has no space (a long URL)
    into an RFC 2047 encoded word, which mail clients do not decode in that header; RFC 5322
    allows up to 998 characters."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "list-unsubscribe":
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


WIRE_POLICY = _WirePolicy(linesep="\r\n")


def wire_bytes(message: EmailMessage) -> bytes:
    """The message exactly as it goes to the SMTP server."""
    return message.as_bytes(policy=WIRE_POLICY)


def sender_address(mail_from: str) -> str:
    """The bare address of a `From` such as `nnmatch <no-reply@nnmatch.invalid>`."""
    _, address = parseaddr(mail_from)
    if "@" not in address:
        raise ValueError(f"mail_from {mail_from!r} holds no address like name@example.org")
    return address


def sender_domain(mail_from: str) -> str:
    return sender_address(mail_from).rsplit("@", 1)[1]


class EmailChannel:
    """Sends a delivery as one e-mail; see `channels.DeliveryChannel`."""

    channel: Channel = Channel.EMAIL

    def __init__(
        self,
        smtp: SmtpConfig,
        *,
        mail_from: str,
        public_base_url: str,
        notifications_public_url: str,
        unsubscribe_key: bytes,
        unsubscribe_ttl: timedelta = TOKEN_TTL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        sender_address(mail_from)  # refuse a bad From at start-up, not at the first send
        make_token("check", unsubscribe_key, datetime.now(UTC))  # and a short key
        self._smtp = smtp
        self._from = mail_from
        self._renderer = EmailRenderer(public_base_url)
        if not notifications_public_url.isascii():
            raise ValueError("notifications_public_url must be ASCII (it goes in a header)")
        self._unsubscribe_base = notifications_public_url.rstrip("/") + "/v1/unsubscribe"
        self._key = unsubscribe_key
        self._ttl = unsubscribe_ttl
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: NotificationsSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> EmailChannel:
        if settings.unsubscribe_key is None:
            raise ValueError("NNMATCH_UNSUBSCRIBE_KEY must be set to send e-mail")
        password = settings.smtp_password
        return cls(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                tls=settings.smtp_tls,
                username=settings.smtp_username,
                password=None if password is None else password.get_secret_value(),
                timeout_s=settings.smtp_timeout_s,
            ),
            mail_from=settings.mail_from,
            public_base_url=settings.public_base_url,
            notifications_public_url=settings.notifications_public_url,
            unsubscribe_key=settings.unsubscribe_key.get_secret_value().encode(),
            unsubscribe_ttl=timedelta(days=settings.unsubscribe_ttl_days),
            clock=clock,
        )

    def unsubscribe_url(self, member_id: str, now: datetime) -> str:
        token = make_token(member_id, self._key, now, self._ttl)
        return f"{self._unsubscribe_base}?{urlencode({'token': token})}"

    def message(self, delivery: Delivery, to: str, now: datetime) -> EmailMessage:
        """The message `send` would hand to the server (pure; for previews and tests)."""
        unsubscribe = self.unsubscribe_url(delivery.member_id, now)
        rendered = self._renderer.render(delivery, unsubscribe)
        return compose(
            rendered,
            delivery_key=delivery.key,
            mail_from=self._from,
            to=to,
            unsubscribe_url=unsubscribe,
            now=now,
        )

    async def send(self, delivery: Delivery, settings: DeliverySettings) -> None:
        to = settings.contact.email
        if to is None:
            raise PermanentFailure("member has no e-mail address")
        if not delivery.items:
            raise PermanentFailure("delivery has no items")
        message = wire_bytes(self.message(delivery, to, self._clock()))
        smtp = self._smtp
        try:
            await aiosmtplib.send(
                message,
                sender=sender_address(self._from),
                recipients=[to],
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                timeout=smtp.timeout_s,
                use_tls=smtp.tls == "tls",
                start_tls=smtp.tls == "starttls",
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refusal([r.code for r in exc.recipients], "refused the recipient") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal([exc.code], f"answered {type(exc).__name__}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError: TLS, time-outs too
            # Connection refused, time-outs, a dropped line: no recipient in these messages.
            raise TransientFailure(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
        log.info(
            "e-mail sent",
            extra={
                "member_id": delivery.member_id,
                "delivery_key": delivery.key,
                "template": template_for(delivery),
                "items": len(delivery.items),
            },
        )


def _refusal(codes: Sequence[int], what: str) -> TransientFailure | PermanentFailure:
    """SMTP 4xx is temporary (greylisting, full mailbox, rate limits); anything else is final."""
    shown = ", ".join(str(c) for c in codes)
    if codes and all(400 <= c < 500 for c in codes):
        return TransientFailure(f"SMTP {shown}: server {what} for now")
    return PermanentFailure(f"SMTP {shown}: server {what}")
