"""Start slow dependencies in the background, retrying, so the HTTP server answers at once.

`/healthz` answers while a model loads or Kafka is away; `/readyz` says what is still missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class StartupRefused(Exception):
    """A start-up problem that retrying cannot fix (unsafe configuration): stop, say why."""


@dataclass
class Startup:
    """Runs `step` until it succeeds, with capped exponential backoff between attempts."""

    step: Callable[[], Awaitable[None]]
    name: str = "startup"
    max_backoff: float = 30.0
    done: bool = False
    last_error: str | None = None
    refused: str | None = None
    on_refused: Callable[[], None] | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except StartupRefused as exc:
                self.refused = self.last_error = str(exc)
                log.critical("refusing to start", extra={"step": self.name, "reason": str(exc)})
                if self.on_refused is not None:
                    self.on_refused()
                return
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "start-up step failed; retrying",
                    extra={"step": self.name, "error": self.last_error, "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(self.max_backoff, delay * 2)
                continue
            self.done = True
            self.last_error = None
            log.info("started", extra={"step": self.name})
            return

    async def readiness(self) -> str | None:
        if self.done:
            return None
        if self.refused:
            return f"refused to start: {self.refused}"
        return f"starting ({self.last_error})" if self.last_error else "starting"

    async def stop(self) -> None:
        if self._task and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
