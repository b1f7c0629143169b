"""CSV columns → profile fields, by a small mapping file (YAML, JSON or TOML).

A spreadsheet export rarely names its columns as the profile does, and keeps lists in one cell.
The mapping says which column holds which field and how list cells are split; what it does not
name keeps the default column (`DEFAULT_COLUMNS`, documented in the README). Cells become the
same JSON a bulk NDJSON line holds, and the profile model validates them: no second rule here.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Profile field (dotted for nested ones) → default CSV column.
DEFAULT_COLUMNS: dict[str, str] = {
    "member_id": "member_id",
    "display_name": "display_name",
    "headline": "headline",
    "bio": "bio",
    "expertise": "expertise",
    "interests": "interests",
    "sdgs": "sdgs",
    "offers.kinds": "offers_kinds",
    "offers.text": "offers_text",
    "seeks.kinds": "seeks_kinds",
    "seeks.text": "seeks_text",
    "country": "country",
    "languages": "languages",
    "organisation.name": "organisation_name",
    "organisation.type": "organisation_type",
    "hubs": "hubs",
    "visibility.discoverable": "discoverable",
    "visibility.show_organisation": "show_organisation",
}
LIST_FIELDS = frozenset(
    {"expertise", "interests", "sdgs", "offers.kinds", "seeks.kinds", "languages", "hubs"}
)
BOOL_FIELDS = frozenset({"visibility.discoverable", "visibility.show_organisation"})
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


class MappingError(ValueError):
    """The mapping file cannot be read, or names a field or column that does not exist."""


class CsvMapping(BaseModel):
    """Which column holds each profile field, and the separator inside list cells."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    list_separator: str = Field(default=";", min_length=1, max_length=4)
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="profile field → CSV column; null leaves the field out; unnamed fields "
        "keep their default column",
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(columns) - set(DEFAULT_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown profile field(s) {', '.join(unknown)}; "
                f"known: {', '.join(DEFAULT_COLUMNS)}"
            )
        return columns

    def resolved(self) -> dict[str, str]:
        """Every mapped field → its column (defaults filled in, nulls left out)."""
        merged: dict[str, str | None] = {**DEFAULT_COLUMNS, **self.columns}
        return {field: column for field, column in merged.items() if column}

    def check_header(self, header: Sequence[str]) -> list[str]:
        """Refuse columns the mapping names explicitly but the file lacks (a typo); return the
        file's columns that map to no field, for the report."""
        present = set(header)
        missing = sorted(c for f, c in self.columns.items() if c and c not in present)
        if missing:
            raise MappingError(f"column(s) named in the mapping are not in the file: {missing}")
        used = set(self.resolved().values())
        return [c for c in header if c not in used]

    def to_line(self, row: Mapping[str, str | None]) -> dict[str, Any]:
        """One CSV row as a bulk line's JSON object; empty cells are left out, so the
        profile's defaults (or its 'field required') apply."""
        line: dict[str, Any] = {}
        for field, column in self.resolved().items():
            cell = (row.get(column) or "").strip()
            if not cell:
                continue
            _put(line, field, self._value(field, cell))
        return line

    def _value(self, field: str, cell: str) -> Any:
        if field in LIST_FIELDS:
            items = [part.strip() for part in cell.split(self.list_separator) if part.strip()]
            if field == "sdgs":
                return [int(i) if i.isdigit() else i for i in items]
            return items
        if field in BOOL_FIELDS:
            lowered = cell.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else cell
        return cell


def _put(line: dict[str, Any], field: str, value: Any) -> None:
    head, _, tail = field.partition(".")
    if tail:
        line.setdefault(head, {})[tail] = value
    else:
        line[head] = value


def load_mapping(path: Path | None) -> CsvMapping:
    """The mapping in `path` (by extension: .yaml/.yml, .json or .toml); the default if None."""
    if path is None:
        return CsvMapping()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise MappingError(f"mapping {path}: use .yaml, .yml, .json or .toml")
    except (yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping {path} is not valid {suffix[1:]}: {exc}") from exc
    try:
        return CsvMapping.model_validate(data or {})
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in exc.errors()
        )
        raise MappingError(f"mapping {path}: {reasons}") from exc
