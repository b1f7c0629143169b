"""Bulk import parsing: good lines kept in order, every bad line reported by number and cause."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nnmatch_profiles.bulk import TooManyLines, parse_ndjson
from tests.unit.builders import AMINA


def _line(member_id: str | None, **changes: Any) -> bytes:
    data = AMINA | changes
    if member_id is not None:
        data = data | {"member_id": member_id}
    return json.dumps(data).encode("utf-8")


def test_good_lines_are_kept_in_order() -> None:
    body = b"\n".join(_line(f"m-{i}") for i in (3, 1, 2))

    good, bad = parse_ndjson(body, max_lines=10)

    assert [line.member_id for line in good] == ["m-3", "m-1", "m-2"]
    assert good[0].profile().display_name == "Amina Yusuf"
    assert bad == []


def test_each_bad_line_is_reported_by_its_number_with_the_reason() -> None:
    body = b"\n".join(
        [
            _line("m-1"),
            b'{"member_id": "m-2", "display_name": ',
            _line("m-3", country="XX"),
            b"",
            _line(None),
            _line("m-6"),
            b"[1, 2]",
        ]
    )

    good, bad = parse_ndjson(body, max_lines=10)

    assert [line.member_id for line in good] == ["m-1", "m-6"]
    assert [error.line for error in bad] == [2, 3, 5, 7]
    assert bad[0].error.startswith("not JSON:")
    assert bad[1].error.startswith("country:")
    assert "ISO 3166-1" in bad[1].error
    assert bad[2].error == "member_id: Field required"
    assert bad[3].error.startswith("line:")


def test_invalid_utf8_line_is_reported_as_not_json() -> None:
    body = _line("m-1") + b'\n{"member_id": "m-\xff"}\n'

    good, bad = parse_ndjson(body, max_lines=10)

    assert len(good) == 1
    assert [(e.line, e.error[:9]) for e in bad] == [(2, "not JSON:")]


def test_every_invalid_field_of_a_line_is_named() -> None:
    body = _line("bad id!", sdgs=[18])

    _, bad = parse_ndjson(body, max_lines=10)

    assert len(bad) == 1
    assert "member_id" in bad[0].error
    assert "sdgs.0" in bad[0].error


def test_blank_lines_are_skipped_without_errors() -> None:
    body = b"\n\n" + _line("m-1") + b"\n   \n\r\n" + _line("m-2") + b"\n\n"

    good, bad = parse_ndjson(body, max_lines=10)

    assert [line.member_id for line in good] == ["m-1", "m-2"]
    assert bad == []


def test_windows_line_endings_are_accepted() -> None:
    body = _line("m-1") + b"\r\n" + _line("m-2") + b"\r\n"

    good, bad = parse_ndjson(body, max_lines=10)

    assert [line.member_id for line in good] == ["m-1", "m-2"]
    assert bad == []


@pytest.mark.parametrize("trailing_newline", [True, False], ids=["trailing-newline", "no-newline"])
def test_exactly_the_limit_is_accepted(trailing_newline: bool) -> None:
    body = b"\n".join(_line(f"m-{i}") for i in range(3)) + (b"\n" if trailing_newline else b"")

    good, _ = parse_ndjson(body, max_lines=3)

    assert len(good) == 3


@pytest.mark.parametrize("trailing_newline", [True, False], ids=["trailing-newline", "no-newline"])
def test_more_lines_than_the_limit_are_refused(trailing_newline: bool) -> None:
    body = b"\n".join(_line(f"m-{i}") for i in range(4)) + (b"\n" if trailing_newline else b"")

    with pytest.raises(TooManyLines, match="at most 3"):
        parse_ndjson(body, max_lines=3)
