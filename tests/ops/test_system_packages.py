"""tools/system-packages, which `make test` runs first: installs the Debian programs the suite
drives when missing (apt as root), otherwise prints the exact command and fails.

Run with a PATH of stand-ins (`id`, `apt-get`, the programs), so nothing is installed here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.ops.tools import ROOT

SCRIPT = ROOT / "tools" / "system-packages"
PROGRAMS = ("promtool", "prometheus", "chromium", "stunnel4")


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _run(bin_dir: Path, uid: int) -> subprocess.CompletedProcess[str]:
    _stand_in(bin_dir, "id", f"echo {uid}")
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_makefile_runs_it_before_the_suite() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "system-packages" in test_rule.split("##")[0]
    assert "tools/system-packages" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_nothing_happens_when_every_program_is_there(tmp_path: Path) -> None:
    for program in PROGRAMS:
        _stand_in(tmp_path, program, "exit 0")
    _stand_in(tmp_path, "apt-get", "echo apt-get must not run; exit 9")

    result = _run(tmp_path, uid=1000)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_as_root_it_installs_each_missing_package_once(tmp_path: Path) -> None:
    calls = tmp_path / "apt-calls"
    _stand_in(tmp_path, "apt-get", f'echo "$*" >> {calls}')

    result = _run(tmp_path, uid=0)

    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends prometheus chromium stunnel4",
    ]


def test_without_root_it_prints_the_exact_command_and_fails(tmp_path: Path) -> None:
    for program in ("chromium", "stunnel4"):
        _stand_in(tmp_path, program, "exit 0")

    result = _run(tmp_path, uid=1000)

    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "run: sudo apt-get update && sudo apt-get install -y -qq --no-install-recommends prometheus"
    )
