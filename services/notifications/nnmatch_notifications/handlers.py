"""Consumer of the notifications service: matches.v1 → new suggestions in members' inboxes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from prometheus_client import Counter

from nnmatch.events import MatchesComputed, ProfileDeleted, ProfileUpserted
from nnmatch.messaging import Inbound, Rejection
from nnmatch.observability import Metrics
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_notifications.store import RedisInbox


class NotificationMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.delivered = Counter(
            "nnmatch_notifications_total",
            "Notifications by channel and outcome (delivered, duplicate).",
            ["channel", "outcome"],
            registry=metrics.registry,
        )


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
        added = sum(await self._inbox.add_new_many(updates, self._per_update))
        if added:
            self._metrics.delivered.labels("in_app", "delivered").inc(added)
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
