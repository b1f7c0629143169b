"""The `nnmatch` command line, run as a user would (in-process via typer's runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from nnmatch_tools import devstack, evaluate, evaluate_real
from nnmatch_tools.cli import app
from nnmatch_tools.launcher import ServiceProcess
from nnmatch_tools.ports import free_port
from nnmatch_tools.seed import generate_members
from nnmatch_tools.seed_hubs import generate_hubs
from tests.support import STATE_DIR, Namespace, as_member

pytestmark = pytest.mark.integration

runner = CliRunner()


def test_help_explains_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("dev", "up", "seed", "demo"):
        assert command in result.output


def test_dev_up_status_down_round_trip(tmp_path: Path, stack: devstack.DevStack) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.kafka.address, "REDIS_URL": stack.redis.address}
    state = str(tmp_path / "state")
    up = runner.invoke(app, ["dev", "up", "--state-dir", state], env=env)
    status = runner.invoke(app, ["dev", "status", "--state-dir", state], env=env)
    down = runner.invoke(app, ["dev", "down", "--state-dir", state], env=env)
    missing = runner.invoke(app, ["dev", "status", "--state-dir", state], env=env)

    assert up.exit_code == 0, up.output
    assert f"export NNMATCH_KAFKA_BOOTSTRAP_SERVERS={stack.kafka.address}" in up.output
    assert "already running" in up.output
    assert status.exit_code == 0
    assert status.output.count(" up ") == 2
    assert "nothing" in down.output  # it started nothing, so it stops nothing
    assert missing.exit_code == 1


def test_dev_up_output_is_what_a_shell_evals(
    tmp_path: Path, stack: devstack.DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eval "$(nnmatch dev up)"` in bash sets every variable to exactly the stack's value."""
    nnmatch = Path(sys.executable).parent / "nnmatch"
    assert nnmatch.exists(), "`make install` installs the nnmatch command beside python"
    state = tmp_path / "state"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.kafka.address)  # reuse the test stack
    monkeypatch.setenv("REDIS_URL", stack.redis.address)
    env = os.environ | {
        "NNMATCH_CMD": str(nnmatch),
        "STATE": str(state),
        "PYTHON": sys.executable,
    }
    script = (
        'eval "$("$NNMATCH_CMD" dev up --state-dir "$STATE")" && '
        '"$PYTHON" -c "import json, os; print(json.dumps(dict(os.environ)))"'
    )
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    expected = devstack.up(state).env()  # the same state directory: the same keys
    devstack.down(state)

    assert result.returncode == 0, result.stderr
    assert "command not found" not in result.stderr
    after = json.loads(result.stdout)
    assert {name: after.get(name) for name in expected} == expected
    assert json.loads(after["NNMATCH_WEBHOOK_ALLOW_NETWORKS"]) == ["127.0.0.0/8", "::1/128"]


def test_seed_loads_members_then_hubs_and_projects(namespace: Namespace, tmp_path: Path) -> None:
    profiles = ServiceProcess("profiles", free_port(), tmp_path / "profiles.log")
    profiles.start(namespace.env())
    try:
        profiles.wait_ready(60)
        result = runner.invoke(
            app,
            [
                "seed",
                "--members",
                "150",
                "--seed",
                "3",
                "--profiles-url",
                profiles.url,
                "--state-dir",
                str(STATE_DIR),
            ],
        )
        stored = httpx.get(
            f"{profiles.url}/v1/members/m-00149", headers=as_member("m-00149"), timeout=10
        )
        [hub, *_] = generate_hubs(generate_members(150, seed=3), seed=3)
        member = as_member(hub.members[0])
        hub_page = httpx.get(f"{profiles.url}/v1/hubs/{hub.hub_id}", headers=member, timeout=10)
        project = httpx.get(
            f"{profiles.url}/v1/hubs/{hub.hub_id}/projects/p-1", headers=member, timeout=10
        )
    finally:
        profiles.stop()

    assert result.exit_code == 0, result.output
    assert "accepted 150 members, 2 hubs, 4 projects" in result.output
    assert stored.status_code == 200
    assert stored.json()["version"] == 1
    assert hub_page.status_code == 200
    assert hub_page.json()["hub"] == hub.hub.model_dump(mode="json")
    assert project.status_code == 200
    assert project.json()["project"]["open"] is True


def test_seed_names_the_fix_when_the_profiles_service_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["seed", "--members", "2", "--profiles-url", url])
    assert result.exit_code == 1
    assert "nnmatch up" in result.output


def test_eval_scores_in_this_process_with_the_options_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_run(*args: object, command: str) -> Path:
        calls.append((*args, command))
        return tmp_path / "eval.json"

    monkeypatch.setattr(evaluate, "run", fake_run)  # a subprocess would not see the fake
    options = ["--members", "60", "--queries", "3", "--lists", "5", "--seed", "7"]
    result = runner.invoke(app, ["eval", *options, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert evaluate.main([*options, "--out", str(tmp_path)]) == 0

    rerun = f"nnmatch eval {' '.join(options)} --out {tmp_path}"
    assert calls == [(60, 3, 5, 7, tmp_path, rerun)] * 2


def test_eval_of_the_real_set_passes_its_options_and_refuses_a_bad_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_run(*args: object, command: str) -> Path:
        calls.append((*args, command))
        return tmp_path / "eval-real.json"

    monkeypatch.setattr(evaluate_real, "run", fake_run)
    options = ["--set", "real", "--part", "tune", "--style", "bio", "--people", "300"]
    result = runner.invoke(app, ["eval", *options, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call[:4] == ("tune", "bio", 300, tmp_path)
    assert str(call[-1]).startswith("nnmatch eval --set real --part tune --style bio")

    wrong = runner.invoke(app, ["eval", "--set", "real", "--part", "train"])
    assert wrong.exit_code == 1
    assert "one of tune, report, all" in wrong.output
    assert len(calls) == 1
