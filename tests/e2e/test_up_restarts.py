"""`nnmatch up` keeps the system running as compose's `restart: unless-stopped` does: a service
killed with SIGKILL comes back by itself, and the other services keep answering meanwhile.

`nnmatch up` runs as a user runs it (the installed command, a process of its own) on the test
broker and Redis, in the test's own topic and Redis-key prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import Namespace

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

MODULES = {
    "nnmatch_profiles": "profiles",
    "nnmatch_matching": "matching",
    "nnmatch_notifications": "notifications",
    "nnmatch_web": "web",
}
START_TIMEOUT_S = 300.0  # matching loads the model first
RESTART_TIMEOUT_S = 120.0


def _wait(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; `nnmatch up` said:\n{log.read_text()}")


def _services(up_pid: int) -> dict[str, tuple[int, int]]:
    """The services `nnmatch up` runs now: name → (pid, port), read from /proc."""
    children = Path(f"/proc/{up_pid}/task/{up_pid}/children").read_text().split()
    found: dict[str, tuple[int, int]] = {}
    for pid in map(int, children):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # exited between the listing and the read
            continue
        module = argv[2].decode() if len(argv) > 2 and argv[1] == b"-m" else ""
        port = next(int(v[13:]) for v in environ if v.startswith(b"NNMATCH_PORT="))
        if module in MODULES:
            found[MODULES[module]] = (pid, port)
    return found


def _status(port: int, path: str) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def _nnmatch_up(namespace: Namespace, state: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    nnmatch = Path(sys.executable).parent / "nnmatch"
    assert nnmatch.exists(), "`make install` installs the nnmatch command beside python"
    env = os.environ | namespace.env() | {"COLUMNS": "200"}
    with log.open("wb") as out:
        up = subprocess.Popen(
            [str(nnmatch), "up", "--state-dir", str(state)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield up
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C: `nnmatch up` stops its services
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(timeout=10)


def test_a_killed_service_comes_back_by_itself_and_the_others_keep_answering(
    namespace: Namespace, tmp_path: Path
) -> None:
    log = tmp_path / "nnmatch-up.log"
    with _nnmatch_up(namespace, tmp_path / "state", log) as up:
        _wait(lambda: b"nnmatch is up" in log.read_bytes(), START_TIMEOUT_S, "nnmatch up", log)
        before = _services(up.pid)
        killed_pid, profiles_port = before["profiles"]
        others = {name: port for name, (_, port) in before.items() if name != "profiles"}

        os.kill(killed_pid, signal.SIGKILL)
        answers: dict[str, list[int]] = {name: [] for name in others}

        def back() -> bool:
            for name, port in others.items():
                answers[name].append(_status(port, "/healthz"))
            pid = _services(up.pid).get("profiles", (killed_pid, 0))[0]
            return pid != killed_pid and _status(profiles_port, "/readyz") == 200

        _wait(back, RESTART_TIMEOUT_S, "profiles to come back", log)
        after = _services(up.pid)
        still_up = up.poll() is None
        said = log.read_text()

    assert set(before) == set(MODULES.values())
    assert still_up, said
    assert after["profiles"][0] != killed_pid
    assert after["profiles"][1] == profiles_port
    assert {name: after[name][0] for name in others} == {
        name: before[name][0] for name in others
    }, "the other services were not restarted"
    assert all(codes and set(codes) == {200} for codes in answers.values()), answers
    assert "profiles exited (code -9)" in said
    assert "profiles restarted" in said
    assert "stopping the rest" not in said
