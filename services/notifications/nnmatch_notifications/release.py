"""Delivers held lists once they settle (quiet imports; the rule is in settle.py).

A loop in the notifications service looks every tick: while an import still moves lists (an
imported member has no list yet, or an import-caused update came within the window) it waits;
then each member whose held list has not changed for the window gets that list's top
few new pairs (`NNMATCH_SETTLED_SUGGESTIONS`), by the same writer as a live update, so the
inbox, the outbox, preferences and "each pair at most once" apply unchanged. The held list is
forgotten only after its items are written, and only if no newer list replaced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from nnmatch_notifications.handlers import NotificationMetrics, SuggestionWriter
from nnmatch_notifications.held import HeldLists
from nnmatch_notifications.settle import SettleRule

log = logging.getLogger(__name__)
MEMBERS_PER_STEP = 200


class SettledReleaser:
    def __init__(
        self,
        held: HeldLists,
        writer: SuggestionWriter,
        rule: SettleRule,
        clock: Callable[[], datetime],
        metrics: NotificationMetrics,
        *,
        per_release: int,
        tick_s: float,
    ) -> None:
        self._held = held
        self._writer = writer
        self._rule = rule
        self._clock = clock
        self._metrics = metrics
        self._per_release = per_release
        self._tick_s = tick_s
        self._loop: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def start(self) -> None:
        """Run the loop in the background (a start hook: returns at once); off with no window."""
        if self._rule.active and not self.running:
            self._loop = asyncio.create_task(self.run(), name="settled lists")

    async def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def run(self) -> None:
        while True:
            try:
                while await self.step() == MEMBERS_PER_STEP:
                    pass  # more are due: no pause
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: wait and try again, never spin
                log.warning("settled-list release failed", extra={"error": repr(exc)})
                await asyncio.sleep(min(5.0, self._tick_s * 10))
            await asyncio.sleep(self._tick_s)

    async def step(self) -> int:
        """Deliver the held lists that have settled; how many were released."""
        now = self._clock()
        activity = await self._held.last_import_activity()
        pending = await self._held.pending_imports(self._rule.pending_since(now))
        if not self._rule.import_settled(now, activity, pending):
            return 0
        ready = await self._held.due(now, MEMBERS_PER_STEP)
        if not ready:
            return 0
        await self._writer.write([event for event, _ in ready], self._per_release)
        for event, raw in ready:
            await self._held.release(event.member_id, raw)
        self._metrics.held.labels("released").inc(len(ready))
        return len(ready)
