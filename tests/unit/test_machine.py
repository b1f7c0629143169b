"""What a benchmark records about the machine it ran on."""

import subprocess
from pathlib import Path

from nnmatch_tools.machine import code_of, cpu_of, describe_machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 avx512_vp2intersect

processor\t: 1
cpu family\t: 99
model name\t: Something Else
flags\t\t: fpu amx_int8
"""


def test_the_first_processors_family_model_and_deciding_flags() -> None:
    assert cpu_of(CPUINFO) == {
        "cpu_model": "AMD EPYC",
        "cpu_family": "26",
        "cpu_model_number": "2",
        "cpu_flags": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"],
    }


def test_no_cpuinfo_says_unknown() -> None:
    assert cpu_of("") == {
        "cpu_model": "unknown",
        "cpu_family": None,
        "cpu_model_number": None,
        "cpu_flags": [],
    }


def test_the_callers_versions_join_the_description() -> None:
    machine = describe_machine(faiss="1.0")
    assert machine["faiss"] == "1.0"
    assert {"cpu_model", "cpu_family", "cpu_model_number", "cpu_flags"} <= machine.keys()
    assert machine["cpus"]
    assert len(machine["load_average_at_start"]) == 3


def test_the_code_measured_is_the_commit_and_whether_tracked_files_differ(tmp_path: Path) -> None:
    assert code_of(tmp_path) == {"commit": None, "uncommitted_changes": None}  # not a repo

    def git(*args: str) -> str:
        return subprocess.run(
            [
                "git",
                "-C",
                str(tmp_path),
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.org",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "bench.py").write_text("one\n")
    git("add", "bench.py")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert code_of(tmp_path) == {"commit": head, "uncommitted_changes": False}
    (tmp_path / "results.json").write_text("{}\n")  # untracked: results being written
    assert code_of(tmp_path)["uncommitted_changes"] is False
    (tmp_path / "bench.py").write_text("two\n")
    assert code_of(tmp_path) == {"commit": head, "uncommitted_changes": True}
    assert describe_machine()["commit"]  # this checkout's
