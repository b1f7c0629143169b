"""Consumer of the notifications service: matches.v1 → new suggestions in members' inboxes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from prometheus_client import Counter

from nnmatch.events import MatchesComputed, ProfileDeleted, ProfileUpserted
from nnmatch.messaging import Inbound, Rejection
from nnmatch.observability import Metrics
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_notifications.store import RedisInbox

CHANNELS = ("in_app",)
OUTCOMES = ("delivered", "failed")


class NotificationMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.delivered = Counter(
            "nnmatch_notifications_total",
            "Notifications by channel and outcome (delivered; failed: the store refused the "
            "batch, which is redelivered).",
            ["channel", "outcome"],
            registry=metrics.registry,
        )
        for channel in CHANNELS:  # every series exists from the start, so ratios are defined
            for outcome in OUTCOMES:
                self.delivered.labels(channel, outcome)
        self.pipeline_latency = metrics.pipeline_latency


class DeliverSuggestions:
    def __init__(
        self,
        inbox: RedisInbox,
        clock: Callable[[], datetime],
        metrics: NotificationMetrics,
        min_score: float,
        per_update: int,
    ) -> None:
        self._inbox = inbox
        self._clock = clock
        self._metrics = metrics
        self._min_score = min_score
        self._per_update = per_update

    async def __call__(self, batch: list[Inbound[MatchesComputed]]) -> Sequence[Rejection]:
        now = self._clock()
        updates = [
            (r.event.member_id, candidates_to_send(r.event, self._min_score, self._per_update, now))
            for r in batch
            if r.event is not None
        ]
        try:
            added = sum(await self._inbox.add_new_many(updates, self._per_update))
        except Exception:
            tried = sum(min(len(items), self._per_update) for _, items in updates)
            self._metrics.delivered.labels("in_app", "failed").inc(tried)
            raise
        if added:
            self._metrics.delivered.labels("in_app", "delivered").inc(added)
        finished = time.time()
        latency = self._metrics.pipeline_latency.labels("delivered")
        for record in batch:
            if record.event is not None:
                latency.observe(max(0.0, finished - record.event.occurred_at.timestamp()))
        return []


class EraseMembers:
    """profiles.v1 deletions → the member leaves every inbox (upserts are not ours to read)."""

    def __init__(self, inbox: RedisInbox) -> None:
        self._inbox = inbox

    async def __call__(
        self, batch: list[Inbound[ProfileUpserted | ProfileDeleted]]
    ) -> Sequence[Rejection]:
        for record in batch:
            if record.key and not isinstance(record.event, ProfileUpserted):
                await self._inbox.erase(record.key)
        return []
