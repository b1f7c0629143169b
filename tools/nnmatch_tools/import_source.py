"""The records of an import file (NDJSON or CSV), each validated by the API's own model.

Every record keeps the line number it starts on in the file, so a bad line is reported where
an operator can find it, and a resume can say exactly which lines were already acknowledged.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from nnmatch.profile import BulkProfileLine
from nnmatch_tools.csv_mapping import CsvMapping

MAX_REASONS = 5


class SourceFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


class SourceError(ValueError):
    """The file cannot be read as the format it claims (not a bad line: the whole file)."""


@dataclass(frozen=True)
class SourceRecord:
    """One record: its first line in the file, and the member or why it is invalid."""

    line: int
    member: BulkProfileLine | None
    error: str | None = None


def format_of(path: Path, given: SourceFormat | None) -> SourceFormat:
    """The format asked for, else the one the extension names."""
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return SourceFormat.NDJSON
    if suffix == ".csv":
        return SourceFormat.CSV
    raise SourceError(f"{path.name}: cannot tell the format from {suffix!r}; give --format")


def describe(exc: ValidationError) -> str:
    """The first few field errors, as the bulk API words them."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
        for e in exc.errors()[:MAX_REASONS]
    )


def _validated(line: int, data: object) -> SourceRecord:
    try:
        return SourceRecord(line, BulkProfileLine.model_validate(data))
    except ValidationError as exc:
        return SourceRecord(line, None, describe(exc))


def read_ndjson(path: Path) -> Iterator[SourceRecord]:
    """One record per non-blank line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield SourceRecord(number, None, f"not JSON: {exc}")
                continue
            yield _validated(number, data)


def read_csv(path: Path, mapping: CsvMapping) -> Iterator[SourceRecord]:
    """One record per row (a quoted cell may span lines: the row's first line is its number)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return
        mapping.check_header(reader.fieldnames)
        start = reader.line_num + 1
        try:
            for row in reader:
                if any((cell or "").strip() for cell in row.values() if isinstance(cell, str)):
                    if None in row:  # more cells than the header has columns
                        yield SourceRecord(start, None, "more cells than the header has columns")
                    else:
                        yield _validated(start, mapping.to_line(row))
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"{path.name} line {start}: not valid CSV: {exc}") from exc


def unmapped_columns(path: Path, mapping: CsvMapping) -> list[str]:
    """The CSV's columns no field maps to (ignored; shown so a typo is noticed)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    return mapping.check_header(header)


def read_source(path: Path, fmt: SourceFormat, mapping: CsvMapping) -> Iterator[SourceRecord]:
    if fmt is SourceFormat.NDJSON:
        return read_ndjson(path)
    return read_csv(path, mapping)


def count_records(path: Path, fmt: SourceFormat) -> int:
    """How many records the file holds (for the progress bar's total and ETA), cheaply."""
    if fmt is SourceFormat.NDJSON:
        with path.open("rb") as handle:
            return sum(1 for raw in handle if raw.strip())
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        try:
            return sum(1 for row in rows if any(cell.strip() for cell in row))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"{path.name}: not valid CSV: {exc}") from exc
