"""`devstack.shell_exports`: the lines `nnmatch dev up` prints survive bash's `eval` intact,
whatever the values hold (a JSON list, spaces, quotes, `$(…)`, a newline)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nnmatch_tools.devstack import shell_exports

ODD_VALUES = {
    "A_JSON_LIST": '["127.0.0.0/8", "::1/128"]',
    "A_PATH_WITH_SPACES": "/tmp/my state/dev-jwks.json",
    "QUOTES": 'it\'s "quoted"',
    "TWO_LINES": "first\nsecond",
    "EMPTY": "",
    "PLAIN": "127.0.0.1:9092",
}


def test_eval_sets_each_variable_to_its_exact_value(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    values = ODD_VALUES | {"NOT_RUN": f"$(touch {marker}) `touch {marker}` $HOME"}
    lines = shell_exports(values)
    show = 'for name in "$@"; do printf "%s\\0" "${!name}"; done'

    result = subprocess.run(
        ["bash", "-c", f'eval "$(printf "%s\\n" "$EXPORTS")"; {show}', "bash", *values],
        env={"EXPORTS": "\n".join(lines), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\0")[:-1] == list(values.values())
    assert not marker.exists(), "a value ran as a command"
    assert "export PLAIN=127.0.0.1:9092" in lines  # plain values stay readable


def test_a_name_a_shell_cannot_assign_is_refused() -> None:
    with pytest.raises(ValueError, match="not a shell variable name"):
        shell_exports({"NOT-A-NAME": "x"})
