"""Every test file that reaches the real broker and Redis carries the `integration` marker.

`-m "not integration"` must leave only tests that run without them, so the marker is checked
here rather than remembered: a file needs it when one of its tests or fixtures asks for
`stack` or `namespace` (tests/conftest.py), directly or through another fixture, or when it
starts a broker and Redis (`devstack.up`) or the services as processes of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REAL_STACK = frozenset({"stack", "namespace"})
STARTERS = frozenset({"up", "ServiceGroup", "ServiceProcess"})  # devstack.up, the launcher


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    args = function.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}


def _is_fixture(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def _fixtures(trees: Iterable[ast.Module]) -> dict[str, set[str]]:
    """Fixture name → the fixtures it asks for."""
    found: dict[str, set[str]] = {}
    for tree in trees:
        for function in _functions(tree):
            if _is_fixture(function):
                found.setdefault(function.name, set()).update(_parameters(function))
    return found


def _real_stack_fixtures(fixtures: dict[str, set[str]]) -> set[str]:
    """The fixtures that are, or depend on, the real broker and Redis."""
    real = set(REAL_STACK)
    grew = True
    while grew:
        grew = False
        for name, wanted in fixtures.items():
            if name not in real and wanted & real:
                real.add(name)
                grew = True
    return real


def _has_integration_marker(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            marks = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            if any(isinstance(m, ast.Attribute) and m.attr == "integration" for m in marks):
                return True
    return False


def _starts_its_own(tree: ast.Module) -> bool:
    """True if the module calls `devstack.up(...)` or builds a service process."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in STARTERS and (name != "up" or ast.unparse(func) == "devstack.up"):
                return True
    return False


def uses_real_stack(tree: ast.Module, shared: dict[str, set[str]]) -> bool:
    """True if a test or fixture of this module reaches the real broker and Redis."""
    real = _real_stack_fixtures(shared | _fixtures([tree]))
    return _starts_its_own(tree) or any(_parameters(f) & real for f in _functions(tree))


def _conftests_for(path: Path) -> list[ast.Module]:
    folders = [p for p in path.parents if p == TESTS or TESTS in p.parents]
    return [
        ast.parse((folder / "conftest.py").read_text())
        for folder in folders
        if (folder / "conftest.py").exists()
    ]


def _test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_every_test_file_on_the_real_broker_and_redis_is_marked_integration() -> None:
    unmarked = []
    for path in _test_files():
        tree = ast.parse(path.read_text())
        shared = _fixtures(_conftests_for(path))
        if uses_real_stack(tree, shared) and not _has_integration_marker(tree):
            unmarked.append(str(path.relative_to(TESTS.parent)))
    assert not unmarked, f"add `pytestmark = pytest.mark.integration` to {unmarked}"


def test_the_scan_finds_the_files_that_use_the_stack() -> None:
    using = [p for p in _test_files() if uses_real_stack(ast.parse(p.read_text()), {})]
    # Reached through a fixture of tests/web/conftest.py, not a parameter of its own.
    pages = ast.parse((TESTS / "web" / "test_pages.py").read_text())
    web_fixtures = _fixtures(_conftests_for(TESTS / "web" / "test_pages.py"))

    assert len(using) >= 20
    assert TESTS / "integration" / "test_redis_stores.py" in using
    assert not uses_real_stack(ast.parse(Path(__file__).read_text()), {})
    assert uses_real_stack(pages, web_fixtures)


@pytest.mark.parametrize(
    ("source", "marked"),
    [
        ("import pytest\ndef test_a(namespace): ...", False),
        ("import pytest\npytestmark = pytest.mark.integration\ndef test_a(stack): ...", True),
        ("import pytest\npytestmark = [pytest.mark.e2e, pytest.mark.integration]", True),
        ("import pytest\npytestmark = pytest.mark.e2e\ndef test_a(namespace): ...", False),
        ("import pytest\npytestmark = pytest.mark.asyncio", False),
    ],
)
def test_the_marker_is_read_from_the_module_pytestmark(source: str, marked: bool) -> None:
    assert _has_integration_marker(ast.parse(source)) is marked


def test_a_fixture_on_the_stack_makes_its_users_need_the_marker() -> None:
    source = (
        "import pytest\n"
        "@pytest.fixture\n"
        "def services(namespace): ...\n"
        "@pytest.fixture\n"
        "def client(services): ...\n"
        "def test_a(client): ...\n"
    )
    unrelated = (
        "import pytest\n@pytest.fixture\ndef services(tmp_path): ...\ndef test_a(services): ..."
    )
    own_stack = "def test_a(tmp_path):\n    world = devstack.up(tmp_path)"

    assert uses_real_stack(ast.parse(source), {})
    assert not uses_real_stack(ast.parse(unrelated), {})
    assert uses_real_stack(ast.parse(own_stack), {})
