"""E-mail rendering and composing, without a server: what a member reads and what a mail
client needs (both parts, escaping, links, one-click unsubscribe, a stable Message-ID)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from nnmatch.events import Reason, Suggestion
from nnmatch_notifications.channels import Delivery
from nnmatch_notifications.email import (
    EmailChannel,
    EmailRenderer,
    SmtpConfig,
    template_for,
    wire_bytes,
)
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.unsubscribe import read_token

KEY = b"unsubscribe-key-for-tests-only!!"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TO = "amina@example.org"


def item(
    member_id: str = "m-0042",
    name: str = "Kofi Mensah",
    *,
    kind: ItemKind = ItemKind.SUGGESTION,
    shared_email: str | None = None,
    reasons: tuple[str, ...] = ("offers mentoring on vision models that you seek",),
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
            reasons=[Reason(kind="offer_meets_seek", text=text) for text in reasons],
            computed_at=NOW,
        ),
    )


def channel() -> EmailChannel:
    return EmailChannel(
        SmtpConfig(),
        mail_from="nnmatch <no-reply@nnmatch.example>",
        public_base_url="https://nnmatch.example/",
        notifications_public_url="https://api.nnmatch.example",
        unsubscribe_key=KEY,
        clock=lambda: NOW,
    )


def sent(delivery: Delivery) -> EmailMessage:
    """The message as a receiver parses it from the wire."""
    raw = wire_bytes(channel().message(delivery, TO, NOW))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())


def single(i: InboxItem, key: str = "k-1") -> Delivery:
    return Delivery(member_id="m-0001", items=[i], key=key, digest=False)


def test_a_suggestion_has_both_parts_with_name_reasons_and_links() -> None:
    message = sent(single(item(reasons=("both work on SDG 13", "you both speak Swahili"))))
    assert message["Subject"] == "Someone to meet: Kofi Mensah"
    plain, html = parts(message)
    for body in (plain, html):
        assert "Kofi Mensah" in body
        assert "Solar microgrids for rural clinics" in body
        assert "Ghana" in body
        assert "You both work on SDG 13." in body
        assert "You both speak Swahili." in body
        assert "https://nnmatch.example/members/m-0042" in body
        assert "https://nnmatch.example/members/m-0001/matches" in body
        assert "https://api.nnmatch.example/v1/unsubscribe?token=" in body
    assert '<a href="https://nnmatch.example/members/m-0042"' in html
    assert "<li>You both work on SDG 13.</li>" in html


def test_a_quoted_offer_says_whose_words_and_is_cut_at_a_word() -> None:
    offer = "Labelled field data on cassava disease from trials across Ghana, with photos " * 2
    text = f"offers collaboration on projects, which you seek: {offer[:90]}"
    plain, html = parts(sent(single(item(reasons=(text,)))))

    for body in (plain, unescape(html)):
        assert "Kofi Mensah offers collaboration on projects, which you seek." in body
        assert "In Kofi Mensah's words: “Labelled field data on cassava disease" in body
        assert "with photos Labelled…”" in body


def test_html_is_escaped_and_plain_text_is_not() -> None:
    hostile = item(
        name="<script>alert(1)</script>",
        reasons=('<img src=x onerror="steal()">',),
    )
    message = sent(single(hostile))
    plain, html = parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;steal()&#34;&gt;" in html
    assert "<script>alert(1)</script>" in plain  # plain text is shown as text, not markup


def test_a_digest_is_one_message_whose_subject_counts_the_suggestions() -> None:
    names = ["Kofi Mensah", "Li Wei", "Ana Souza"]
    delivery = Delivery(
        member_id="m-0001",
        items=[item(f"m-{i}", name) for i, name in enumerate(names)],
        key="k-digest",
        digest=True,
    )
    assert template_for(delivery) == "digest"
    message = sent(delivery)
    assert message["Subject"] == "3 new people to meet on nnmatch"
    plain, html = parts(message)
    for body in (plain, html):
        for i, name in enumerate(names):
            assert name in body
            assert f"https://nnmatch.example/members/m-{i}" in body


def test_a_digest_of_one_says_one_person() -> None:
    message = sent(Delivery(member_id="m-0001", items=[item()], key="k", digest=True))
    assert message["Subject"] == "1 new person to meet on nnmatch"


def test_an_introduction_shows_the_shared_address() -> None:
    intro = item(kind=ItemKind.INTRODUCTION, shared_email="kofi@example.org")
    message = sent(single(intro))
    assert message["Subject"] == "Introduction: you and Kofi Mensah both said yes"
    plain, html = parts(message)
    assert "kofi@example.org" in plain
    assert '<a href="mailto:kofi@example.org">kofi@example.org</a>' in html


def test_an_introduction_without_a_shared_address_says_so() -> None:
    plain, html = parts(sent(single(item(kind=ItemKind.INTRODUCTION))))
    for body in (plain, html):
        assert "chose not to share an e-mail address" in body
        assert "mailto:" not in body


def test_a_suggestion_never_shows_a_contact_detail() -> None:
    # Only an introduction (both accepted) may carry the other member's address.
    leaky = item(shared_email="kofi@example.org")
    plain, html = parts(sent(single(leaky)))
    assert "kofi@example.org" not in plain
    assert "kofi@example.org" not in html


def test_the_message_id_is_derived_from_the_delivery_key() -> None:
    first = sent(single(item(), key="0123abcd"))
    again = sent(single(item(), key="0123abcd"))
    other = sent(single(item(), key="4567ef00"))
    assert first["Message-ID"] == again["Message-ID"] == "<0123abcd.nnmatch@nnmatch.example>"
    assert other["Message-ID"] != first["Message-ID"]
    odd = sent(single(item(), key="has spaces <and> @ signs"))
    assert odd["Message-ID"].startswith("<")
    assert odd["Message-ID"].endswith(".nnmatch@nnmatch.example>")
    assert " " not in odd["Message-ID"]


def test_one_click_unsubscribe_headers_carry_a_token_for_the_member() -> None:
    raw = wire_bytes(channel().message(single(item()), TO, NOW))
    header = next(
        line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")
    ).decode()
    assert "=?" not in header  # a plain URL, not an RFC 2047 encoded word mail clients skip
    message = sent(single(item()))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    parsed = urlsplit(url)
    assert (parsed.scheme, parsed.netloc, parsed.path) == (
        "https",
        "api.nnmatch.example",
        "/v1/unsubscribe",
    )
    assert read_token(parse_qs(parsed.query)["token"][0], KEY, NOW) == "m-0001"
    plain, _ = parts(message)
    assert url in plain


def test_addresses_and_date_headers() -> None:
    message = sent(single(item()))
    assert message["To"] == TO
    assert message["From"] == "nnmatch <no-reply@nnmatch.example>"
    assert message["Date"].datetime == NOW
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_non_ascii_name_survives_the_round_trip() -> None:
    message = sent(single(item(name="Amélie Ngũgĩ")))
    assert message["Subject"] == "Someone to meet: Amélie Ngũgĩ"
    plain, html = parts(message)
    assert "Amélie Ngũgĩ" in plain
    assert "Amélie Ngũgĩ" in html


def test_which_template_a_delivery_gets() -> None:
    intro = item(kind=ItemKind.INTRODUCTION)
    assert template_for(single(item())) == "suggestion"
    assert template_for(single(intro)) == "introduction"
    two = Delivery(member_id="m-1", items=[item(), intro], key="k", digest=False)
    assert template_for(two) == "digest"


def test_rendering_nothing_is_refused() -> None:
    empty = Delivery(member_id="m-1", items=[], key="k", digest=True)
    with pytest.raises(ValueError, match="nothing"):
        EmailRenderer("https://nnmatch.example").render(empty, "https://x/unsubscribe")


def test_the_channel_needs_an_unsubscribe_key_and_a_from_address() -> None:
    with pytest.raises(ValueError, match="NNMATCH_UNSUBSCRIBE_KEY"):
        EmailChannel.from_settings(NotificationsSettings(unsubscribe_key=None))
    built = EmailChannel.from_settings(
        NotificationsSettings(unsubscribe_key="x" * 32, smtp_password="secret")
    )
    assert built.unsubscribe_url("m-1", NOW).startswith(
        "http://127.0.0.1:8003/v1/unsubscribe?token="
    )
    with pytest.raises(ValueError, match="no address"):
        EmailChannel(
            SmtpConfig(),
            mail_from="nnmatch",
            public_base_url="https://nnmatch.example",
            notifications_public_url="https://api.nnmatch.example",
            unsubscribe_key=KEY,
        )
