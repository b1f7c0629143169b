"""`nnmatch up`'s restarts: a delay doubling with each exit in a row up to a bound, starting
over after a run that lasted, and only the service that exited is touched."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from nnmatch_tools.launcher import RestartPolicy, ServiceProcess, restart_exited

POLICY = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, healthy_after_s=10.0)


class FakeService(ServiceProcess):
    """A service whose process is imagined: it is up or not as the test says."""

    def __init__(self, name: str) -> None:
        super().__init__(name, 0, Path(f"/nonexistent/{name}.log"))
        self.up = True
        self.starts = 0

    def start(self, env: Mapping[str, str]) -> None:
        self.starts += 1
        self.up = True

    def alive(self) -> bool:
        return self.up


def test_the_delay_doubles_up_to_its_bound() -> None:
    assert [POLICY.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_only_the_exited_service_restarts_after_its_delay() -> None:
    profiles, web = FakeService("profiles"), FakeService("web")
    group = [profiles, web]
    said: list[str] = []
    profiles.started_at = 100.0

    profiles.up = False
    restart_exited(group, {}, said.append, POLICY, now=200.0)  # ran 100 s: a first exit
    restart_exited(group, {}, said.append, POLICY, now=200.5)  # its delay is not over
    waiting = profiles.starts
    restart_exited(group, {}, said.append, POLICY, now=201.0)

    assert waiting == 0
    assert (profiles.starts, web.starts) == (1, 0)
    assert said[0].startswith("profiles exited (code None); restarting it in 1 s")
    assert said[1].startswith("profiles restarted")


def test_a_crash_loop_waits_longer_and_a_long_run_starts_the_count_over() -> None:
    service = FakeService("matching")
    group = [service]
    delays: list[float] = []
    now = 0.0
    for run_s in (1.0, 1.0, 1.0, 60.0):
        service.started_at, now = now, now + run_s
        service.up = False
        restart_exited(group, {}, lambda line: None, POLICY, now)
        assert service.restart_at is not None
        delays.append(service.restart_at - now)
        now = service.restart_at
        restart_exited(group, {}, lambda line: None, POLICY, now)

    assert delays == [1.0, 2.0, 4.0, 1.0]
    assert service.starts == 4
