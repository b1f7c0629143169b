"""Opaque cursors: what the server issues comes back intact; anything else is refused."""

from __future__ import annotations

import base64

import pytest

from nnmatch.paging import BadCursor, decode_cursor, encode_cursor, offset_page


@pytest.mark.parametrize("position", ["o:0", "o:120", "1700000000000-0", "Nairobi · Dakar", ""])
def test_cursor_round_trips(position: str) -> None:
    cursor = encode_cursor(position)

    assert decode_cursor(cursor) == position
    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(("total", "limit"), [(23, 5), (20, 5), (1, 100), (100, 100), (7, 1)])
def test_offset_pages_cover_the_list_once_with_no_overlap(total: int, limit: int) -> None:
    items = list(range(total))
    seen: list[int] = []
    cursor: str | None = None
    pages = 0

    while True:
        start, end, cursor = offset_page(total, limit, cursor)
        page = items[start:end]
        assert 0 < len(page) <= limit
        seen.extend(page)
        pages += 1
        if cursor is None:
            break
        assert pages <= total, "paging does not terminate"

    assert seen == items
    assert pages == -(-total // limit)


def test_an_empty_list_is_one_empty_page_with_no_cursor() -> None:
    assert offset_page(0, 20, None) == (0, 0, None)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="not-base64"),
        pytest.param("ZZZZ€", id="non-ascii"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
        pytest.param(encode_cursor("x:5"), id="other-prefix"),
        pytest.param(encode_cursor("o:"), id="no-number"),
        pytest.param(encode_cursor("o:-1"), id="negative"),
        pytest.param(encode_cursor("o:1e3"), id="not-an-integer"),
        pytest.param(encode_cursor("o:²"), id="superscript-digit"),
    ],
)
def test_forged_cursor_is_refused_as_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor, match="not one this server issued"):
        offset_page(50, 10, cursor)
