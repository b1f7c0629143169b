"""The notifications service's consumers: matches, profiles, contacts, re-driven deliveries
and feedback in; inboxes, outboxes and the contacts read model out.

Every handler takes the one `Adapters` (the stores, the publisher and the clock) that the
bootstrap builds on Redis and Kafka, and the unit tests on the in-memory fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram

from nnmatch.events import (
    ContactUpserted,
    DeliveryRequested,
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    is_static_tier,
)
from nnmatch.messaging import Inbound, Rejection
from nnmatch.observability import Metrics
from nnmatch.publishing import EventPublisher
from nnmatch.topics import CONTACTS
from nnmatch_notifications.contacts import Contacts
from nnmatch_notifications.health import SegmentedCounts
from nnmatch_notifications.held import HeldLists
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_notifications.introductions import Introducer
from nnmatch_notifications.outbox import Outbox
from nnmatch_notifications.schedule import due_time, external_channels
from nnmatch_notifications.settle import SettleRule
from nnmatch_notifications.store import Inbox

CHANNELS = ("in_app",)
OUTCOMES = ("delivered", "failed")


@dataclass(frozen=True)
class Adapters:
    """The outside things the handlers read and write, shared by all of them."""

    inbox: Inbox
    outbox: Outbox
    contacts: Contacts
    publisher: EventPublisher
    clock: Callable[[], datetime]
    held: HeldLists
    health: SegmentedCounts | None = None  # product health by region and hub (health.py)


class NotificationMetrics:
    """The handlers' series, on the service's registry (one instance per app)."""

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
        self.time_to_first_suggestion = Histogram(
            "nnmatch_time_to_first_suggestion_seconds",
            "From a member's first profile to their first suggestion in the inbox.",
            buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400),
            registry=metrics.registry,
        )
        self.feedback = Counter(
            "nnmatch_inbox_feedback_total",
            "Members' reactions to suggestions, by action (accept rate = accept / delivered).",
            ["action"],
            registry=metrics.registry,
        )
        for action in FeedbackAction:
            self.feedback.labels(str(action))
        self.held = Counter(
            "nnmatch_notifications_held_total",
            "Matches updates held until the member's list settles (quiet imports), and held "
            "lists released to the inbox.",
            ["outcome"],
            registry=metrics.registry,
        )
        for outcome in ("held", "released"):
            self.held.labels(outcome)
        self.first_pass = Counter(
            "nnmatch_notifications_first_pass_lists_total",
            "Lists of the static first-pass model (NNMATCH_EMBEDDING_BACKEND=static) not "
            "delivered: members see them in the app; the lists ranked once the full model is "
            "back are delivered.",
            registry=metrics.registry,
        )
        self.introductions = Counter(
            "nnmatch_introductions_total",
            "Mutual accepts that became introductions (each pair once).",
            registry=metrics.registry,
        )


class SuggestionWriter:
    """Lists → their best new suggestions in inboxes and, for members who want them outside
    the app, in the outbox at the time their preferences say (now, after quiet hours, or the
    digest). Used for live updates and for held lists once they settle."""

    def __init__(self, adapters: Adapters, metrics: NotificationMetrics, *, min_score: float):
        self._inbox = adapters.inbox
        self._contacts = adapters.contacts
        self._clock = adapters.clock
        self._health = adapters.health
        self._metrics = metrics
        self._min_score = min_score

    async def write(self, events: Sequence[MatchesComputed], limit: int) -> list[int]:
        """How many items each list added (at most `limit`; pairs already shown are skipped)."""
        if not events:
            return []
        now = self._clock()
        updates = [
            (e.member_id, candidates_to_send(e, self._min_score, limit, now)) for e in events
        ]
        settings = await self._contacts.get_many(sorted({m for m, _ in updates}))
        due = {
            member: due_time(s.preferences, now)
            for member, s in settings.items()
            if external_channels(s.preferences)
        }
        try:
            # A list handed over again (redelivered after a crash) adds nothing the second time.
            ids = [str(e.event_id) for e in events]
            counts = await self._inbox.add_new_many(updates, limit, due, update_ids=ids)
            added = sum(counts)
        except Exception:
            tried = sum(min(len(items), limit) for _, items in updates)
            self._metrics.delivered.labels("in_app", "failed").inc(tried)
            raise
        if added:
            self._metrics.delivered.labels("in_app", "delivered").inc(added)
            added_by = [(m, n) for (m, _), n in zip(updates, counts, strict=True) if n]
            joined = await self._inbox.take_joined([m for m, _ in added_by])
            waited = {m: max(0.0, time.time() - at) for m, at in joined.items()}
            for seconds in waited.values():
                self._metrics.time_to_first_suggestion.observe(seconds)
            if self._health is not None:
                await self._health.suggested(added_by)
                await self._health.first_suggestions(waited)
        return counts


class DeliverSuggestions:
    """matches.v1 → inboxes and outboxes: at once, or, for lists a bulk import is moving,
    once they settle (settle.py says which; release.py delivers them). Lists of the static
    first pass are not delivered: they are intermediate, the full model's will replace them
    (an imported member's held list waits for that one)."""

    def __init__(
        self,
        adapters: Adapters,
        metrics: NotificationMetrics,
        *,
        min_score: float,
        per_update: int,
        settle: SettleRule | None = None,
    ) -> None:
        self._writer = SuggestionWriter(adapters, metrics, min_score=min_score)
        self._held = adapters.held
        self._clock = adapters.clock
        self._metrics = metrics
        self._per_update = per_update
        self._settle = settle or SettleRule(timedelta(0))

    async def __call__(self, batch: list[Inbound[MatchesComputed]]) -> Sequence[Rejection]:
        events = [r.event for r in batch if r.event is not None]
        if first_pass := sum(is_static_tier(e.model_id) for e in events):
            self._metrics.first_pass.inc(first_pass)
            events = [e for e in events if not is_static_tier(e.model_id)]
        live = await self._hold(events)
        counts = await self._writer.write(live, self._per_update)
        finished = time.time()
        latency = self._metrics.pipeline_latency.labels("delivered")
        end_to_end = self._metrics.pipeline_latency.labels("end_to_end")
        for event in events:
            latency.observe(max(0.0, finished - event.occurred_at.timestamp()))
        for event, count in zip(live, counts, strict=True):
            if count and event.source_occurred_at is not None:
                # From the profile change to a new suggestion in the inbox.
                end_to_end.observe(max(0.0, finished - event.source_occurred_at.timestamp()))
        return []

    async def _hold(self, events: list[MatchesComputed]) -> list[MatchesComputed]:
        """Keep the lists an import is moving until they settle; the rest to deliver now."""
        if not self._settle.active or not events:
            return events
        members = sorted({e.member_id for e in events})
        # Imported members' first lists are held whatever ranked them: at scale most come
        # from the matcher's background queue, with no imported profile's time on them.
        awaiting = await self._held.awaiting_list(members)
        await self._held.note_lists(events)
        sources = [e.source_occurred_at for e in events if e.source_occurred_at is not None]
        imported = await self._held.imported(sources)
        holding = await self._held.holding(members) | awaiting
        held, live, caused = self._settle.split(events, imported, holding)
        if held or caused:
            now = self._clock()
            await self._held.hold(held, self._settle.due(now), now if caused else None)
            self._metrics.held.labels("held").inc(len(held))
        return live


class EraseMembers:
    """profiles.v1 deletions → the member leaves every inbox and outbox, their contact details,
    preferences, held list and feedback state are forgotten, and `contacts.v1` gets a
    tombstone. Of upserts, a member's first (version 1) is noted (when they joined, for the
    metric) and the times of those a bulk import wrote (to recognise what they cause)."""

    def __init__(self, adapters: Adapters) -> None:
        self._inbox = adapters.inbox
        self._publisher = adapters.publisher
        self._held = adapters.held
        self._health = adapters.health

    async def __call__(
        self, batch: list[Inbound[ProfileUpserted | ProfileDeleted]]
    ) -> Sequence[Rejection]:
        joined = [
            (r.event.member_id, r.event.occurred_at)
            for r in batch
            if isinstance(r.event, ProfileUpserted) and r.event.version == 1
        ]
        if joined:  # for the time-to-first-suggestion metric
            await self._inbox.record_joined(joined)
        if self._health is not None:  # each member's region and hub, for product health
            await self._health.record_profiles(
                [
                    (r.event.member_id, r.event.profile)
                    for r in batch
                    if isinstance(r.event, ProfileUpserted)
                ]
            )
        imported = [
            (r.event.member_id, r.event.occurred_at, r.event.version)
            for r in batch
            if isinstance(r.event, ProfileUpserted) and r.event.origin == "import"
        ]
        await self._held.record_imports(imported)
        erased = [r.key for r in batch if r.key and not isinstance(r.event, ProfileUpserted)]
        if erased:
            # Tombstone first: once Redis is clean, nothing may bring the details back.
            await self._publisher.publish_many(CONTACTS, [(m, None) for m in erased])
        for member_id in erased:
            await self._inbox.erase(member_id)
            await self._held.forget(member_id)
        return []


class ProjectContacts:
    """contacts.v1 → the contacts read model (the API writes it too; this makes it rebuildable
    from the log, and applies tombstones). Within a batch only each member's last record
    counts."""

    def __init__(self, adapters: Adapters) -> None:
        self._contacts = adapters.contacts

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

    def __init__(self, adapters: Adapters) -> None:
        self._outbox = adapters.outbox
        self._clock = adapters.clock

    async def __call__(self, batch: list[Inbound[DeliveryRequested]]) -> Sequence[Rejection]:
        for record in batch:
            if record.event is not None:
                await self._outbox.requeue(
                    record.event.member_id, record.event.items, self._clock()
                )
        return []


class IntroduceMutualAccepts:
    """feedback.v1 → when two members have accepted each other, both get an introduction
    (introductions.py: in the inbox, and by e-mail/webhook as they chose) with the contact
    details the other chose to share; once per pair. Before that, no contact detail crosses
    between them."""

    def __init__(self, adapters: Adapters, metrics: NotificationMetrics) -> None:
        self._health = adapters.health
        self._feedback = metrics.feedback
        self._introducer = introducer_of(adapters, metrics)

    async def __call__(self, batch: list[Inbound[FeedbackGiven]]) -> Sequence[Rejection]:
        for record in batch:
            event = record.event
            if event is None:
                continue
            self._feedback.labels(str(event.action)).inc()
            if self._health is not None:
                await self._health.feedback(event.member_id, event.action)
            if event.action is FeedbackAction.ACCEPT:
                await self._introducer.accept(event.member_id, event.candidate_id)
        return []


def introducer_of(adapters: Adapters, metrics: NotificationMetrics) -> Introducer:
    """The one introducer over these adapters (feedback and accepted invitations share it)."""
    return Introducer(
        adapters.inbox, adapters.contacts, adapters.clock, metrics.introductions, adapters.health
    )
