"""Parse a bulk import (one JSON profile with `member_id` per line), reporting each bad line."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from nnmatch.profile import BulkProfileLine


class LineError(BaseModel):
    line: int
    error: str


class TooManyLines(ValueError):
    """The import is larger than one request may carry."""


def parse_ndjson(body: bytes, max_lines: int) -> tuple[list[BulkProfileLine], list[LineError]]:
    """Valid lines in order, and a reason for every invalid one (blank lines are skipped)."""
    good: list[BulkProfileLine] = []
    bad: list[LineError] = []
    lines = body.removesuffix(b"\n").split(b"\n")
    if len(lines) > max_lines:
        raise TooManyLines(f"{len(lines)} lines; at most {max_lines} per request, split the file")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            bad.append(LineError(line=number, error=f"not JSON: {exc}"))
            continue
        try:
            good.append(BulkProfileLine.model_validate(data))
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            bad.append(LineError(line=number, error=reasons))
    return good, bad
