"""Consumer of the notifications service: matches.v1 → new suggestions in members' inboxes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from prometheus_client import Counter

from nnmatch.events import (
    ContactUpserted,
    DeliveryRequested,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
)
from nnmatch.messaging import Inbound, Publisher, Rejection
from nnmatch.observability import Metrics
from nnmatch.topics import CONTACTS
from nnmatch_notifications.contacts import RedisContacts
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_notifications.outbox import RedisOutbox
from nnmatch_notifications.schedule import due_time, external_channels
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
    """matches.v1 → new items in inboxes and, for members who want them outside the app, in
    the outbox at the time their preferences say (now, after quiet hours, or the digest)."""

    def __init__(
        self,
        inbox: RedisInbox,
        contacts: RedisContacts,
        clock: Callable[[], datetime],
        metrics: NotificationMetrics,
        min_score: float,
        per_update: int,
    ) -> None:
        self._inbox = inbox
        self._contacts = contacts
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
        settings = await self._contacts.get_many(sorted({m for m, _ in updates}))
        due = {
            member: due_time(s.preferences, now)
            for member, s in settings.items()
            if external_channels(s.preferences)
        }
        try:
            added = sum(await self._inbox.add_new_many(updates, self._per_update, due))
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
    """profiles.v1 deletions → the member leaves every inbox and outbox, their contact details
    and preferences are forgotten, and `contacts.v1` gets a tombstone (upserts are not ours)."""

    def __init__(self, inbox: RedisInbox, publisher: Publisher) -> None:
        self._inbox = inbox
        self._publisher = publisher

    async def __call__(
        self, batch: list[Inbound[ProfileUpserted | ProfileDeleted]]
    ) -> Sequence[Rejection]:
        erased = [r.key for r in batch if r.key and not isinstance(r.event, ProfileUpserted)]
        if erased:
            # Tombstone first: once Redis is clean, nothing may bring the details back.
            await self._publisher.publish_many(CONTACTS, [(m, None) for m in erased])
        for member_id in erased:
            await self._inbox.erase(member_id)
        return []


class ProjectContacts:
    """contacts.v1 → the Redis read model (the API writes it too; this makes Redis rebuildable
    from the log, and applies tombstones)."""

    def __init__(self, contacts: RedisContacts) -> None:
        self._contacts = contacts

    async def __call__(self, batch: list[Inbound[ContactUpserted]]) -> Sequence[Rejection]:
        latest: dict[str, ContactUpserted | None] = {}
        for record in batch:
            if record.key:
                latest[record.key] = record.event
        for member_id, event in latest.items():
            if event is None:
                await self._contacts.delete(member_id)
            else:
                await self._contacts.put(member_id, event.settings, event.occurred_at)
        return []


class RedriveDeliveries:
    """deliveries.v1 (re-driven dead letters) → the items go back into the member's outbox."""

    def __init__(self, outbox: RedisOutbox, clock: Callable[[], datetime]) -> None:
        self._outbox = outbox
        self._clock = clock

    async def __call__(self, batch: list[Inbound[DeliveryRequested]]) -> Sequence[Rejection]:
        for record in batch:
            if record.event is not None:
                await self._outbox.requeue(
                    record.event.member_id, record.event.items, self._clock()
                )
        return []
