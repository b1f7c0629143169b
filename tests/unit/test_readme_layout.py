"""The README's layout names every package, module and data directory of the code, each with
what it is, and nothing that is gone.

The layout is the code block under `## Layout`: a line is a name (a directory ends in `/`)
and a description; two more spaces of indent put a name inside the line above it that is one
level up; names at the left margin are paths from the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The importable packages: the shared library, each service's package and the tooling.
PACKAGE_ROOTS = ("libs/nnmatch", "services/*/nnmatch_*", "tools/nnmatch_tools")
# What else must be listed: the test suites and the benchmarks.
ALSO_LISTED = ("tests/*/", "bench/*.py")
SKIPPED = frozenset({"__init__.py", "__pycache__", "py.typed"})
ENTRY = re.compile(r"^(?P<indent>(?:  )*)(?P<name>\S+)(?:\s{2,}(?P<what>\S.*))?$")


def layout_block(readme: str) -> list[str]:
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```\n", 2)[1].splitlines()


def listed(lines: list[str]) -> dict[str, str]:
    """Path (directories end in /) → its description, from the layout's lines."""
    entries: dict[str, str] = {}
    parents: list[str] = []
    for line in lines:
        match = ENTRY.match(line)
        assert match, f"not a layout line (name, two spaces, what it is): {line!r}"
        level = len(match["indent"]) // 2
        assert level <= len(parents), f"indented past its parent: {line!r}"
        name = match["name"]
        path = name if level == 0 else parents[level - 1] + name
        assert path not in entries, f"{path} is listed twice"
        entries[path] = match["what"] or ""
        del parents[level:]
        if name.endswith("/"):
            parents.append(path)
    return entries


def _walk(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.iterdir()):
        if path.name in SKIPPED or path.name.startswith("."):
            continue
        if path.is_dir():
            yield path
            if (path / "__init__.py").exists():  # a subpackage: its modules too
                yield from _walk(path)
        elif path.suffix == ".py" or path.name == "README.md":
            yield path


def _name(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    return relative + "/" if path.is_dir() else relative


def code_paths() -> set[str]:
    """Every package, module, README and data directory the layout must name."""
    paths: set[str] = set()
    for pattern in PACKAGE_ROOTS:
        for package in ROOT.glob(pattern):
            paths.add(_name(package))
            paths.update(_name(p) for p in _walk(package))
    for pattern in ALSO_LISTED:
        paths.update(_name(p) for p in ROOT.glob(pattern) if p.name not in SKIPPED)
    return paths


LISTED = listed(layout_block(README.read_text()))


def test_every_package_module_and_data_directory_is_in_the_layout() -> None:
    missing = sorted(code_paths() - set(LISTED))

    assert not missing, f"add to the README layout: {missing}"


def test_nothing_in_the_layout_is_gone() -> None:
    gone = sorted(p for p in LISTED if not (ROOT / p).exists())

    assert not gone, f"the README layout lists what is not there: {gone}"


def test_every_package_has_a_line_saying_what_it_is() -> None:
    packages = {p for p in code_paths() if p.endswith("/") and (ROOT / p / "__init__.py").exists()}
    modules = {p for p in code_paths() if p.endswith(".py")}

    silent = sorted(p for p in packages | modules if not LISTED.get(p))

    assert packages >= {"libs/nnmatch/", "tools/nnmatch_tools/"}
    assert len(packages) >= 8, "the four services, matching's three subpackages, the library"
    assert not silent, f"say what these are in the README layout: {silent}"


@pytest.mark.parametrize(
    ("lines", "paths"),
    [
        (["a/  A", "  b.py  B", "  c/  C", "    d.py  D", "  e.py  E"], {"a/c/d.py", "a/e.py"}),
        (["x/y/  XY", "  z.py  Z", "w/  W"], {"x/y/z.py", "w/"}),
    ],
)
def test_the_layout_nests_by_indent(lines: list[str], paths: set[str]) -> None:
    assert paths <= set(listed(lines))


def test_a_module_not_in_the_layout_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "libs" / "nnmatch"
    package.mkdir(parents=True)
    (package / "__init__.py").touch()
    (package / "new.py").touch()

    found = {p.relative_to(tmp_path).as_posix() for p in _walk(package)}

    assert found == {"libs/nnmatch/new.py"}
    assert "libs/nnmatch/new.py" not in listed(["libs/nnmatch/  the library", "  old.py  gone"])
