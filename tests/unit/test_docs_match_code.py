"""The README is the operator's manual: every setting the code reads is in its configuration
table, with the default the code has, and the table lists nothing the code does not read.

Each row's default cell is parsed into the setting's own type (the way pydantic-settings reads
the variable: JSON for lists and models, the string otherwise) and compared with the value, so
`10` does not pass for `100` and every float weight is checked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import pytest
from pydantic import AliasChoices, BaseModel, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from nnmatch.settings import ServiceSettings
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools.cli import DEFAULT_STATE
from nnmatch_web.settings import WebSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SETTINGS: list[type[BaseSettings]] = [
    ServiceSettings,
    ProfilesSettings,
    MatchingSettings,
    NotificationsSettings,
    WebSettings,
]
# Each settings class fixes its own process name (logs, client ids): not an operator's knob.
NOT_SETTINGS = frozenset({"service_name"})
UNSET, EMPTY = "(unset)", "(empty)"
VALUE = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class Setting:
    variable: str
    annotation: Any
    default: Any
    path: tuple[str, ...]  # attributes from the settings object to the value
    aliases: tuple[str, ...] = ()


def _service(settings_class: type[BaseSettings]) -> str:
    return str(settings_class.model_fields["service_name"].default)


def _env_names(field: FieldInfo, name: str, prefix: str, *, nested: bool) -> list[str]:
    """The variables a field is read from, the documented one first. A top-level alias is a
    whole variable name (no prefix added); a nested one names the field within its parent."""
    alias = field.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
    if not choices:
        return [f"{prefix}{name.upper()}"]
    return [f"{prefix if nested else ''}{str(choice).upper()}" for choice in choices]


def _fields(model: Any) -> Iterator[tuple[str, FieldInfo]]:
    """(name, field) of a pydantic model, or of a dataclass whose fields carry `Field(...)`."""
    if issubclass(model, BaseModel):
        yield from model.model_fields.items()
        return
    hints = get_type_hints(model, include_extras=True)
    for field in dataclasses.fields(model):
        yield field.name, FieldInfo.from_annotated_attribute(hints[field.name], field.default)


def _is_nested(annotation: Any) -> bool:
    return isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    )


def _settings_of(
    model: Any,
    prefix: str,
    delimiter: str | None,
    defaults: Any = None,
    path: tuple[str, ...] = (),
) -> Iterator[Setting]:
    """Every variable a settings class reads; nested models through the nested delimiter.

    A nested field's alias names it within its parent's variable; only a top-level field's
    other aliases are variables of their own (`KAFKA_BOOTSTRAP_SERVERS`)."""
    for name, field in _fields(model):
        if name in NOT_SETTINGS:
            continue
        if defaults is None:
            default = field.get_default(call_default_factory=True, validated_data={})
        else:
            default = getattr(defaults, name)
        nested = defaults is not None
        variable, *aliases = _env_names(field, name, prefix, nested=nested)
        annotation = field.annotation
        if delimiter and _is_nested(annotation):
            nested_prefix = f"{variable}{delimiter}"
            yield from _settings_of(annotation, nested_prefix, delimiter, default, (*path, name))
        else:
            aliases = [] if nested else aliases
            yield Setting(variable, annotation, default, (*path, name), tuple(aliases))


def settings_by_service() -> dict[str, list[Setting]]:
    out: dict[str, list[Setting]] = {}
    for settings_class in SETTINGS:
        config = settings_class.model_config
        prefix = str(config.get("env_prefix") or "").upper()
        delimiter = config.get("env_nested_delimiter")
        out[_service(settings_class)] = list(_settings_of(settings_class, prefix, delimiter))
    return out


def _configuration_section() -> list[str]:
    section = README.split("\n## Configuration\n", 1)[1]
    return section.split("\n## ", 1)[0].splitlines()


def documented_rows() -> dict[str, tuple[str, str]]:
    """Variable → (default cell, meaning cell) of the README configuration table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in _configuration_section():
        if line.startswith("| `"):
            variable, default, meaning = (c.strip() for c in line.strip().strip("|").split("|"))
            variable = variable.strip("`")
            assert variable not in rows, f"{variable} has two rows"
            rows[variable] = (default, meaning)
    return rows


def _is_json(annotation: Any) -> bool:
    """pydantic-settings reads lists, dicts and models from JSON, the rest from the string."""
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, list | dict | set | tuple | BaseModel):
        return True
    return any(_is_json(arg) for arg in getattr(annotation, "__args__", ()) if arg is not None)


def parse_default(cell: str, annotation: Any) -> list[Any]:
    """The value(s) one default cell states, in the setting's type: `(unset)` is None,
    `(empty)` the empty string, else one or more `value`s separated by ` / `."""
    if cell == UNSET:
        return [None]
    if cell == EMPTY:
        return [""]
    values = VALUE.findall(cell)
    assert values, f"default cell {cell!r} is neither (unset), (empty) nor `value`s"
    assert " / ".join(f"`{v}`" for v in values) == cell, f"stray text in default cell {cell!r}"
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    return [
        adapter.validate_json(v) if _is_json(annotation) else adapter.validate_strings(v)
        for v in values
    ]


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _services_named(meaning: str) -> list[str]:
    """For a per-service row: the services its meaning names in the order of its defaults."""
    named = re.search(r"\b(\w+(?: / \w+)+)\b", meaning)
    assert named, f"a row with several defaults must name their services: {meaning!r}"
    return named.group(1).split(" / ")


def _expected() -> dict[str, dict[str, Setting]]:
    """Variable → {service: its setting}, over every settings class."""
    expected: dict[str, dict[str, Setting]] = {}
    for service, settings in settings_by_service().items():
        for setting in settings:
            expected.setdefault(setting.variable, {})[service] = setting
    return expected


EXPECTED = _expected()


@pytest.mark.parametrize("variable", sorted(EXPECTED))
def test_each_setting_has_a_row_with_the_default_of_the_code(variable: str) -> None:
    rows = documented_rows()
    assert variable in rows, f"{variable} is not in the README configuration table"
    cell, meaning = rows[variable]
    by_service = EXPECTED[variable]
    annotation = next(iter(by_service.values())).annotation
    stated = [_plain(v) for v in parse_default(cell, annotation)]
    defaults = {service: _plain(s.default) for service, s in by_service.items()}
    if len(stated) == 1:
        wrong = {
            s: d for s, d in defaults.items() if d != stated[0] or type(d) is not type(stated[0])
        }
        assert not wrong, f"{variable}: README says {cell}, the code {wrong}"
    else:
        services = _services_named(meaning)
        assert len(services) == len(stated), f"{variable}: {cell} against {services}"
        per_service = dict(zip(services, stated, strict=True))
        shared = set(defaults) - set(per_service)
        assert shared <= {_service(ServiceSettings)}, f"{variable}: no default for {shared}"
        assert {s: defaults[s] for s in per_service if s in defaults} == {
            s: v for s, v in per_service.items() if s in defaults
        }, f"{variable}: README says {cell}, the code {defaults}"


def _another_value(setting: Setting) -> str | None:
    """A valid value other than the default, as the variable's text (None: not a number)."""
    if setting.annotation is bool:
        return str(not setting.default).lower()
    if setting.annotation is int:
        return str(setting.default + 1)
    if setting.annotation is float:
        return str(setting.default / 2 if setting.default else 0.5)
    return None


@pytest.mark.parametrize(
    ("settings_class", "setting"),
    [
        (c, s)
        for c in SETTINGS
        for s in settings_by_service()[_service(c)]
        if _another_value(s) is not None
    ],
    ids=lambda x: x.__name__ if isinstance(x, type) else x.variable,
)
def test_each_numeric_setting_is_read_from_the_variable_named_in_the_table(
    settings_class: type[BaseSettings], setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names above are derived from the settings classes: this proves the services read them."""
    text = _another_value(setting)
    assert text is not None
    monkeypatch.setenv(setting.variable, text)

    value: Any = settings_class()
    for name in setting.path:
        value = getattr(value, name)

    assert value == TypeAdapter(setting.annotation).validate_strings(text) != setting.default


def test_every_alias_of_a_setting_is_named_in_the_configuration_section() -> None:
    section = "\n".join(_configuration_section())
    aliases = {a for by in EXPECTED.values() for s in by.values() for a in s.aliases}
    assert aliases, "the shared settings accept KAFKA_BOOTSTRAP_SERVERS and REDIS_URL"
    assert {a for a in aliases if f"`{a}`" not in section} == set()


def test_the_cli_state_directory_row_has_the_cli_default() -> None:
    cell, _ = documented_rows()["NNMATCH_STATE_DIR"]

    assert parse_default(cell, Path) == [DEFAULT_STATE]


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    read_by_the_cli = {"NNMATCH_STATE_DIR"}  # typer's envvar, checked above

    stale = set(documented_rows()) - set(EXPECTED) - read_by_the_cli
    assert not stale, f"the README documents settings the code does not read: {sorted(stale)}"


def test_a_nested_model_is_read_through_the_nested_delimiter() -> None:
    class Weights(BaseModel):
        reciprocal: float = 0.6

    class Nested(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="NNMATCH_", env_nested_delimiter="__")
        ranking: Weights = Weights(reciprocal=0.7)

    [setting] = _settings_of(Nested, "NNMATCH_", "__")

    assert (setting.variable, setting.default) == ("NNMATCH_RANKING__RECIPROCAL", 0.7)


@pytest.mark.parametrize(
    ("cell", "annotation", "value"),
    [
        ("`10`", int, [10]),
        ("`0.05`", float, [0.05]),
        ("`true`", bool, [True]),
        ("(unset)", Path | None, [None]),
        ("(empty)", str, [""]),
        ('`["embedder", "matcher"]`', list[str], [["embedder", "matcher"]]),
        ("`8000` / `8001`", int, [8000, 8001]),
    ],
)
def test_default_cells_parse_into_the_settings_type(
    cell: str, annotation: Any, value: list[Any]
) -> None:
    assert parse_default(cell, annotation) == value


def test_a_default_that_only_contains_the_codes_is_a_mismatch() -> None:
    assert parse_default("`100`", int) != [10]
    assert parse_default("`0.25`", float) != [0.2]
    with pytest.raises(AssertionError, match="stray text"):
        parse_default("`10` seconds", int)


def test_the_readme_names_both_setup_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
