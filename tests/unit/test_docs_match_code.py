"""The README is the operator's manual: every setting the code reads is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from nnmatch.settings import ServiceSettings
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_web.settings import WebSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SETTINGS: list[type[BaseSettings]] = [
    ServiceSettings,
    ProfilesSettings,
    MatchingSettings,
    NotificationsSettings,
    WebSettings,
]


def _documented_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in README.splitlines():
        if line.startswith("| `NNMATCH_"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1]
    return rows


@pytest.mark.parametrize("settings_class", SETTINGS, ids=lambda c: c.__name__)
def test_every_setting_is_in_the_readme_configuration_table(
    settings_class: type[BaseSettings],
) -> None:
    documented = _documented_rows()
    for name, field in settings_class.model_fields.items():
        if name == "service_name":
            continue
        variable = f"NNMATCH_{name.upper()}"
        assert variable in documented, f"{variable} is not in the README configuration table"
        default = field.default
        if isinstance(default, bool):
            assert str(default).lower() in documented[variable]
        elif isinstance(default, int | str) and default != "":
            assert str(default) in documented[variable], (variable, documented[variable])


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {f"NNMATCH_{n.upper()}" for c in SETTINGS for n in c.model_fields}
    known.add("NNMATCH_STATE_DIR")  # read by the CLI (typer envvar), not a service setting
    assert set(_documented_rows()) <= known


def test_the_readme_names_both_setup_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
