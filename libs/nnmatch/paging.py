"""Opaque cursors for list endpoints: clients pass back what they were given, nothing more."""

from __future__ import annotations

import base64
import binascii
import re

_OFFSET = re.compile(r"o:([0-9]{1,12})")

MAX_LIMIT = 100


class BadCursor(ValueError):
    """A cursor this server did not issue."""


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadCursor("cursor is not one this server issued; start again without it") from exc


def offset_page(total: int, limit: int, cursor: str | None) -> tuple[int, int, str | None]:
    """(start, end, next_cursor) for a list addressed by position."""
    start = 0
    if cursor:
        match = _OFFSET.fullmatch(decode_cursor(cursor))
        if match is None:
            raise BadCursor("cursor is not one this server issued; start again without it")
        start = int(match.group(1))
    end = min(total, start + limit)
    return start, end, encode_cursor(f"o:{end}") if end < total else None
