"""What a benchmark ran on, recorded in its JSON: results differ more between machines than runs.

Two machines both reporting "AMD EPYC" with the same AVX-512 flags measured OpenVINO bf16 at
2.4× and 4.2× torch fp32: the CPU family (Zen 4 runs AVX-512 at half width, Zen 5 at full) is
what can tell them apart, so it is recorded beside the model name and the flags that decide
which embedding backend is fastest. Call it first: the load average is then the machine's,
not the bench's own work.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""The flags that decide which backend is fastest (int8 on VNNI, bf16 on AVX512-BF16 / AMX)."""


def cpu_of(cpuinfo: str) -> dict[str, Any]:
    """The first processor's model name, family, model number and the flags of CPU_FLAGS."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor is enough: the others are the same
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", "unknown"),
        "cpu_family": fields.get("cpu family"),
        "cpu_model_number": fields.get("model"),
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
    }


def code_of(directory: Path) -> dict[str, Any]:
    """The git commit checked out at `directory` and whether tracked files differ from it
    (None and None outside a git work tree): which code a result measured."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30
        )

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "uncommitted_changes": None}
        changed = git("diff", "--quiet", "HEAD", "--")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": head.stdout.strip(), "uncommitted_changes": changed.returncode != 0}


def describe_machine(**extra: Any) -> dict[str, Any]:
    """Cores, CPU, load at the start and Python, the code measured (`code_of` this checkout),
    plus what the caller adds (library versions)."""
    try:
        cpu = cpu_of(Path("/proc/cpuinfo").read_text())
    except OSError:
        cpu = cpu_of("")
    return {
        "cpus": os.cpu_count(),
        **cpu,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **code_of(Path(__file__).resolve().parent),
        **extra,
    }
