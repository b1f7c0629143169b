"""Unsubscribe tokens: only we can mint them, they name one member, and they expire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from nnmatch_notifications.unsubscribe import (
    TOKEN_TTL,
    ExpiredUnsubscribeToken,
    InvalidUnsubscribeToken,
    make_token,
    read_token,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_a_token_names_the_member_it_was_made_for() -> None:
    token = make_token("m-0042", KEY, NOW)
    assert read_token(token, KEY, NOW) == "m-0042"
    assert read_token(token, KEY, NOW + TOKEN_TTL - timedelta(seconds=1)) == "m-0042"


def test_a_token_is_url_safe_and_short() -> None:
    token = make_token("A_very-long_member_id_" * 2 + "x" * 20, KEY, NOW)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    assert quote(token, safe="") == token
    assert len(token) < 200


def test_a_token_made_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidUnsubscribeToken, match="signature"):
        read_token(make_token("m-1", OTHER_KEY, NOW), KEY, NOW)


def test_another_members_id_cannot_be_swapped_in() -> None:
    mine = make_token("m-1", KEY, NOW).split(".")
    theirs = make_token("m-2", KEY, NOW).split(".")
    forged = ".".join([mine[0], theirs[1], mine[2], mine[3]])
    with pytest.raises(InvalidUnsubscribeToken, match="signature"):
        read_token(forged, KEY, NOW)


def test_the_expiry_cannot_be_extended() -> None:
    version, member, expires, mac = make_token("m-1", KEY, NOW).split(".")
    later = str(int(expires) + 86_400 * 365)
    with pytest.raises(InvalidUnsubscribeToken, match="signature"):
        read_token(".".join([version, member, later, mac]), KEY, NOW)


def test_a_flipped_signature_character_is_refused() -> None:
    token = make_token("m-1", KEY, NOW)
    last = "A" if token[-2] != "A" else "B"
    with pytest.raises(InvalidUnsubscribeToken):
        read_token(token[:-2] + last + token[-1], KEY, NOW)


def test_an_expired_token_says_so() -> None:
    token = make_token("m-1", KEY, NOW, ttl=timedelta(days=90))
    with pytest.raises(ExpiredUnsubscribeToken, match="expired"):
        read_token(token, KEY, NOW + timedelta(days=90))
    # An expired token is still an invalid one for callers that only catch the base class.
    assert issubclass(ExpiredUnsubscribeToken, InvalidUnsubscribeToken)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "v1.bS0x.1803214800",
        "v2.bS0x.1803214800.AAAA",
        "v1.bS0x.18032148OO.AAAA",
        "v1.bS0x.-1.AAAA",
        "v1..1803214800.AAAA",
        "v1.bS0x.1803214800.",
        "v1.bS0x.1803214800.AA.AA",
        "v1." + "A" * 600 + ".1803214800.AAAA",
        "v1.bS0x.１８０３.AAAA",  # non-ASCII digits
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidUnsubscribeToken):
        read_token(token, KEY, NOW)


def test_an_alternative_base64_spelling_is_refused() -> None:
    version, member, expires, mac = make_token("m-1", KEY, NOW).split(".")
    # base64url decoding ignores stray characters; a token has exactly one spelling.
    with pytest.raises(InvalidUnsubscribeToken, match="malformed"):
        read_token(".".join([version, member + "+", expires, mac]), KEY, NOW)


def test_a_short_key_is_refused_when_making_and_reading() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_token("m-1", b"short", NOW)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        read_token(make_token("m-1", KEY, NOW), b"short", NOW)


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        make_token("m-1", KEY, datetime(2026, 11, 23, 13, 0))  # naive on purpose
