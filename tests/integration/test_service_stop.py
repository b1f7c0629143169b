"""SIGTERM on a service process (what `nnmatch up`, compose and Kubernetes send) runs its whole
shutdown: the drain and stop hooks, the consumers' last commit, then Redis. It exits (0, or by
the SIGTERM uvicorn re-raises once done) with no failed hook and no background work left
running (the notifications scheduler's ticks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnmatch_tools.launcher import ServiceProcess
from nnmatch_tools.ports import free_port
from tests.support import Namespace

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["profiles", "notifications"])
def test_sigterm_runs_the_shutdown_hooks_and_exits_cleanly(
    name: str, namespace: Namespace, tmp_path: Path
) -> None:
    service = ServiceProcess(name, free_port(), tmp_path / f"{name}.log")
    service.start(namespace.env() | {"NNMATCH_LOG_LEVEL": "INFO"})
    try:
        service.wait_ready(120)
    finally:
        service.stop(grace=60)
    log = service.log_path.read_text()

    assert service.process is not None
    # uvicorn re-raises the SIGTERM once its shutdown is complete, hence -15 rather than 0.
    assert service.process.returncode in (0, -15), log
    assert "Application shutdown complete" in log
    for failure in ("shutdown hook failed", "delivery tick failed", "Traceback"):
        assert failure not in log, log
