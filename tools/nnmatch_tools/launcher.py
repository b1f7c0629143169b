"""Run the services as real processes: for `nnmatch up`, the demo and end-to-end tests.

Each service runs as `python -m <package>` with its settings in the environment and its log in
the state directory; `stop` sends SIGTERM (graceful: finish the batch, commit, close) and only
then SIGKILL. A group tells each process where the others listen (`NNMATCH_<NAME>_URL`): the
web pages call the three APIs, and e-mails link to the web pages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
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


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: Mapping[str, str]) -> None:
        """Start (or restart) the service with `env` over this process's environment."""
        module, _ = SERVICES[self.name]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**os.environ, **env, "NNMATCH_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

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
        for service in self.services.values():
            service.start(env)
        for service in self.services.values():
            service.wait_ready(timeout)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
