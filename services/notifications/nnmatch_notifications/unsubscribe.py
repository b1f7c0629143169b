"""Unsubscribe tokens: a link in every e-mail that opts a member out without logging in.

A token names the member and an expiry, signed with HMAC-SHA256 under the service's key, so
only we can mint one and nobody can turn it into another member's. Pure: the key and the clock
are passed in. Shape (URL-safe, no padding): `v1.<member id, base64url>.<expiry, unix s>.<mac>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

VERSION = "v1"
TOKEN_TTL = timedelta(days=90)
MIN_KEY_BYTES = 16
MAX_TOKEN_CHARS = 512  # a member id is at most 64 characters; anything longer is not ours
_CONTEXT = b"nnmatch unsubscribe v1\n"  # domain separation: this key signs nothing else


class InvalidUnsubscribeToken(ValueError):
    """The token was not made by us, was altered or is malformed."""


class ExpiredUnsubscribeToken(InvalidUnsubscribeToken):
    """The token was ours but its time is up; the member can unsubscribe from settings."""


def make_token(member_id: str, key: bytes, now: datetime, ttl: timedelta = TOKEN_TTL) -> str:
    """A token that opts `member_id` out until `now + ttl`."""
    _check_key(key)
    if not member_id:
        raise ValueError("an unsubscribe token needs a member id")
    expires = int((_aware(now) + ttl).timestamp())
    member = _b64(member_id.encode())
    return f"{VERSION}.{member}.{expires}.{_b64(_mac(key, member, expires))}"


def read_token(token: str, key: bytes, now: datetime) -> str:
    """The member id a token names; raises `InvalidUnsubscribeToken` (or `Expired…`)."""
    _check_key(key)
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidUnsubscribeToken("unsubscribe token too long")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise InvalidUnsubscribeToken("not an unsubscribe token")
    _, member, expires_text, mac_text = parts
    if not expires_text.isascii() or not expires_text.isdigit():
        raise InvalidUnsubscribeToken("unsubscribe token is malformed")
    expires = int(expires_text)
    try:
        offered = _unb64(mac_text)
        member_id = _unb64(member).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidUnsubscribeToken("unsubscribe token is malformed") from exc
    # The signature is checked before the expiry, so an expiry we report is one we wrote.
    if not hmac.compare_digest(offered, _mac(key, member, expires)) or not member_id:
        raise InvalidUnsubscribeToken("unsubscribe token signature does not match")
    if _aware(now).timestamp() >= expires:
        raise ExpiredUnsubscribeToken("unsubscribe token has expired")
    return member_id


def _mac(key: bytes, member: str, expires: int) -> bytes:
    return hmac.new(key, _CONTEXT + f"{member}.{expires}".encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:  # one spelling per value: no alternative encodings of a token
        raise ValueError("non-canonical base64")
    return raw


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the unsubscribe key must be at least {MIN_KEY_BYTES} bytes")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime (UTC) as now")
    return now
