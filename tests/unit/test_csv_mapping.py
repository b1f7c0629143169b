"""CSV rows become bulk lines by the mapping file; bad rows are named by their line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnmatch_tools.csv_mapping import DEFAULT_COLUMNS, CsvMapping, MappingError, load_mapping
from nnmatch_tools.import_source import SourceFormat, count_records, format_of, read_csv

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "import"


def test_default_columns_fill_nested_fields_and_split_lists() -> None:
    row = {
        "member_id": "m-1",
        "display_name": "Amina",
        "expertise": "vision; agritech ;",
        "sdgs": "2;13",
        "offers_kinds": "mentor",
        "organisation_name": "UoN",
        "discoverable": "No",
        "country": "ke",
        "languages": "en;sw",
        "bio": "  ",
    }
    line = CsvMapping().to_line(row)
    assert line == {
        "member_id": "m-1",
        "display_name": "Amina",
        "expertise": ["vision", "agritech"],
        "sdgs": [2, 13],
        "offers": {"kinds": ["mentor"]},
        "organisation": {"name": "UoN"},
        "visibility": {"discoverable": False},
        "country": "ke",
        "languages": ["en", "sw"],
    }


def test_mapping_renames_columns_and_null_leaves_a_field_out() -> None:
    mapping = CsvMapping(list_separator="|", columns={"display_name": "Name", "hubs": None})
    line = mapping.to_line({"Name": "Kofi", "display_name": "ignored", "hubs": "h1", "sdgs": "1|2"})
    assert line == {"display_name": "Kofi", "sdgs": [1, 2]}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("m.yaml", "list_separator: '|'\ncolumns:\n  display_name: Name\n"),
        ("m.json", json.dumps({"list_separator": "|", "columns": {"display_name": "Name"}})),
        ("m.toml", 'list_separator = "|"\n[columns]\ndisplay_name = "Name"\n'),
    ],
)
def test_mapping_files_in_yaml_json_and_toml_say_the_same(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_mapping(path) == CsvMapping(list_separator="|", columns={"display_name": "Name"})


def test_a_mapping_naming_an_unknown_field_or_absent_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  nickname: Nick\n")
    with pytest.raises(MappingError, match="unknown profile field"):
        load_mapping(path)
    with pytest.raises(MappingError, match="not in the file"):
        CsvMapping(columns={"display_name": "Full name"}).check_header(["Name"])
    assert load_mapping(None) == CsvMapping()
    assert set(CsvMapping().resolved()) == set(DEFAULT_COLUMNS)


def test_the_shipped_example_validates_but_its_bad_row_by_line_number() -> None:
    mapping = load_mapping(EXAMPLES / "mapping.example.yaml")
    path = EXAMPLES / "members.example.csv"
    records = list(read_csv(path, mapping))
    assert [(r.line, r.member is not None) for r in records] == [(2, True), (4, True), (5, False)]
    assert records[0].member is not None
    assert records[0].member.bio.startswith("Builds field-ready")  # a cell spanning two lines
    assert records[0].member.offers.kinds == ["mentor"]
    assert "country" in (records[2].error or "")
    assert count_records(path, SourceFormat.CSV) == 3
    assert mapping.check_header(_header(path)) == ["Notes"]  # shown as ignored


def _header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_format_comes_from_the_extension_unless_given(tmp_path: Path) -> None:
    assert format_of(Path("a.jsonl"), None) is SourceFormat.NDJSON
    assert format_of(Path("a.CSV"), None) is SourceFormat.CSV
    assert format_of(Path("a.txt"), SourceFormat.CSV) is SourceFormat.CSV
