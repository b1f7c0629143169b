"""Run the services as real processes: for `nnmatch up`, the demo and end-to-end tests.

Each service runs as `python -m <package>` with its settings in the environment and its log in
the state directory; `stop` sends SIGTERM (graceful: finish the batch, commit, close) and only
then SIGKILL. A group tells each process where the others listen (`NNMATCH_<NAME>_URL`): the
web pages call the three APIs, and e-mails link to the web pages. `ServiceGroup.watch` restarts
a service that exits, with a bounded backoff (compose's `restart: unless-stopped`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nnmatch_tools.ports import free_port, port_free

SERVICES: dict[str, tuple[str, int]] = {
    "profiles": ("nnmatch_profiles", 8001),
    "matching": ("nnmatch_matching", 8002),
    "notifications": ("nnmatch_notifications", 8003),
    "web": ("nnmatch_web", 8000),
}


class ServiceFailed(RuntimeError):
    """A service exited or did not become ready; the message carries its log's tail."""


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a service that exited: as Docker's `unless-stopped` does, after a delay
    that doubles with each exit in a row up to `max_delay_s`, and starts over once a run has
    lasted `healthy_after_s` (a crash loop waits, a rare crash comes back at once)."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    healthy_after_s: float = 10.0

    def delay(self, exits_in_a_row: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** max(0, exits_in_a_row - 1))


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = field(default=0.0, repr=False)  # time.monotonic() of the last start
    exits_in_a_row: int = field(default=0, repr=False)
    restart_at: float | None = field(default=None, repr=False)  # set while waiting to restart
    own_env: dict[str, str] = field(default_factory=dict)  # over the group's: NNMATCH_ROLES …

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: Mapping[str, str]) -> None:
        """Start (or restart) the service with `env`, then its `own_env`, over this process's
        environment."""
        module, _ = SERVICES[self.name]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**os.environ, **env, **self.own_env, "NNMATCH_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started_at = time.monotonic()

    @property
    def process_id(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServiceFailed(f"{self.name} exited; its log ends:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.25)
        raise ServiceFailed(
            f"{self.name} not ready after {timeout:.0f} s ({self.url}/readyz); log:\n"
            f"{self.log_tail()}"
        )

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, wait for the graceful shutdown, then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: a crash, for tests that prove nothing is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class ServiceGroup:
    """The services, started together and stopped in reverse order (the web pages first)."""

    services: dict[str, ServiceProcess]
    env: dict[str, str] = field(default_factory=dict, repr=False)  # what `start` passed on

    @classmethod
    def create(
        cls,
        log_dir: Path,
        ports: Mapping[str, int] | None = None,
        names: Iterable[str] | None = None,
    ) -> ServiceGroup:
        """Default ports where free; 0 (or a taken port) means any free port. `names` picks
        some of SERVICES (default: all four, the web pages included)."""
        wanted = set(SERVICES if names is None else names)
        if unknown := wanted - set(SERVICES):
            raise ValueError(f"unknown services {sorted(unknown)}; known: {sorted(SERVICES)}")
        chosen: dict[str, int] = {}
        for name, (_, default) in SERVICES.items():
            if name not in wanted:
                continue
            port = (ports or {}).get(name, default)
            chosen[name] = port if port and port_free(port) else free_port()
        return cls(
            {
                name: ServiceProcess(name, port, log_dir / f"{name}.log")
                for name, port in chosen.items()
            }
        )

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def addresses(self) -> dict[str, str]:
        """Where each member of the group listens, as the settings that name it
        (`NNMATCH_PROFILES_URL` ...; `NNMATCH_PUBLIC_BASE_URL`: the web pages e-mails link to)."""
        env = {f"NNMATCH_{name.upper()}_URL": s.url for name, s in self.services.items()}
        if "web" in self.services:
            env["NNMATCH_PUBLIC_BASE_URL"] = self.services["web"].url
        return env

    def start(self, env: Mapping[str, str], timeout: float = 180.0) -> None:
        """Start every service with `env` (which wins over the group's own addresses)."""
        env = {**self.addresses(), **env}
        self.env = env
        for service in self.services.values():
            service.start(env)
        for service in self.services.values():
            service.wait_ready(timeout)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def watch(
        self,
        report: Callable[[str], None],
        policy: RestartPolicy = RestartPolicy(),
        interval: float = 0.5,
    ) -> None:
        """Keep every service running until interrupted (Ctrl-C): see `restart_exited`."""
        while True:
            restart_exited(self.services.values(), self.env, report, policy, time.monotonic())
            time.sleep(interval)


def restart_exited(
    services: Iterable[ServiceProcess],
    env: Mapping[str, str],
    report: Callable[[str], None],
    policy: RestartPolicy,
    now: float,
) -> None:
    """Schedule a restart for each service that exited, and restart (with `env`) those whose
    delay is over; the others keep running untouched."""
    for service in services:
        if service.alive():
            continue
        if service.restart_at is None:
            ran_well = now - service.started_at >= policy.healthy_after_s
            service.exits_in_a_row = 1 if ran_well else service.exits_in_a_row + 1
            delay = policy.delay(service.exits_in_a_row)
            service.restart_at = now + delay
            code = service.process.returncode if service.process is not None else None
            report(
                f"{service.name} exited (code {code}); restarting it in {delay:.0f} s "
                f"(exit {service.exits_in_a_row} in a row; log: {service.log_path})"
            )
        elif now >= service.restart_at:
            service.restart_at = None
            service.start(env)
            report(f"{service.name} restarted (pid {service.process_id})")
