"""The notifications consumers and the delivery scheduler on the in-memory fakes: what reaches
inboxes and outboxes, what is published, and what is never done twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

import pytest

from nnmatch.contact import (
    Channel,
    ContactDetails,
    DeliverySettings,
    Frequency,
    Preferences,
    QuietHours,
)
from nnmatch.events import (
    ContactUpserted,
    DeadLetter,
    DeliveryItem,
    DeliveryRequested,
    Event,
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    Suggestion,
)
from nnmatch.member_keys import MemberKey, MemoryMemberKeys
from nnmatch.messaging import Inbound
from nnmatch.observability import Metrics
from nnmatch.publishing import InMemoryPublisher
from nnmatch.topics import CONTACTS, DELIVERIES
from nnmatch_notifications.channels import Delivery, PermanentFailure, TransientFailure
from nnmatch_notifications.contacts import MemoryContacts
from nnmatch_notifications.delivery_state import MemoryDeliveryStates
from nnmatch_notifications.handlers import (
    Adapters,
    DeliverSuggestions,
    EraseMembers,
    IntroduceMutualAccepts,
    NotificationMetrics,
    ProjectContacts,
    RedriveDeliveries,
)
from nnmatch_notifications.held import MemoryHeldLists
from nnmatch_notifications.inbox import ItemKind
from nnmatch_notifications.outbox import MemoryOutbox
from nnmatch_notifications.sender import DeliveryMetrics, DeliveryScheduler, RetryPolicy
from nnmatch_notifications.store import MemoryInbox, MemoryKeyspace
from tests.unit.builders import amina

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # a Monday, 16:00 in Nairobi
E = TypeVar("E", bound=Event)


class Clock:
    """The one clock of a test: handlers read it as a datetime, the fakes as seconds."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class EveryoneKnown(MemoryMemberKeys):
    """Every member has a key (none of these tests erases one)."""

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        return await self.get_or_create_many(member_ids)


@dataclass
class World:
    clock: Clock
    adapters: Adapters
    inbox: MemoryInbox
    outbox: MemoryOutbox
    contacts: MemoryContacts
    publisher: InMemoryPublisher
    metrics: Metrics
    handler_metrics: NotificationMetrics
    keys: MemoryMemberKeys = field(default_factory=EveryoneKnown)

    def deliver(self, per_update: int = 5, min_score: float = 0.0) -> DeliverSuggestions:
        return DeliverSuggestions(
            self.adapters, self.handler_metrics, min_score=min_score, per_update=per_update
        )

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def shown(self, member: str) -> list[tuple[ItemKind, str]]:
        items, _ = await self.inbox.page(member, 100, None)
        return [(i.kind, i.suggestion.member_id) for i in items]


def make_world(cooling_off_s: int = 0) -> World:
    clock = Clock()
    keyspace = MemoryKeyspace(clock.seconds)
    inbox = MemoryInbox(keyspace, max_items=100, cooling_off_s=cooling_off_s)
    outbox = MemoryOutbox(keyspace)
    contacts = MemoryContacts(keyspace)
    publisher = InMemoryPublisher(service="notifications")
    metrics = Metrics("notifications")
    adapters = Adapters(inbox, outbox, contacts, publisher, clock, MemoryHeldLists())
    return World(
        clock, adapters, inbox, outbox, contacts, publisher, metrics, NotificationMetrics(metrics)
    )


@pytest.fixture
def world() -> World:
    return make_world()


def record(event: E | None, key: str | None = None, offset: int = 0) -> Inbound[E]:
    if key is None:
        assert event is not None
        key = str(getattr(event, "member_id", ""))
    return Inbound(key, event, "topic", 0, offset, 0)


def suggestion(member: str, score: float = 0.5, name: str | None = None) -> Suggestion:
    return Suggestion(
        member_id=member,
        display_name=name or member.upper(),
        country="GH",
        score=score,
        computed_at=NOW,
    )


def matches(member: str, *suggestions: Suggestion) -> MatchesComputed:
    return MatchesComputed(
        producer="matching",
        member_id=member,
        profile_version=1,
        model_id="test",
        suggestions=list(suggestions),
    )


def by(
    *channels: Channel, frequency: Frequency = Frequency.INSTANT, **preferences: Any
) -> DeliverySettings:
    return DeliverySettings(
        contact=ContactDetails(email="member@example.org"),
        preferences=Preferences(
            channels=[Channel.IN_APP, *channels], frequency=frequency, **preferences
        ),
    )


# --- matches.v1 → inboxes ------------------------------------------------------------------


async def test_an_update_adds_its_best_suggestions_above_the_threshold_up_to_the_limit(
    world: World,
) -> None:
    update = matches(
        "m-a",
        suggestion("c-low", 0.2),
        suggestion("c-best", 0.9),
        suggestion("m-a", 0.95),  # the member themself
        suggestion("c-mid", 0.5),
        suggestion("c-good", 0.7),
    )
    await world.deliver(per_update=2, min_score=0.3)([record(update)])

    assert await world.shown("m-a") == [
        (ItemKind.SUGGESTION, "c-good"),
        (ItemKind.SUGGESTION, "c-best"),
    ]
    assert world.sample("nnmatch_notifications_total", channel="in_app", outcome="delivered") == 2


async def test_a_redelivered_batch_adds_nothing_twice(world: World) -> None:
    best_three = (suggestion("c-1", 0.9), suggestion("c-2", 0.8), suggestion("c-3", 0.7))
    batch = [
        record(matches("m-a", *best_three), offset=0),  # two places, a spare
        record(matches("m-b", suggestion("c-1")), offset=1),
    ]
    deliver = world.deliver(per_update=2)
    await deliver(batch)
    await deliver(batch)  # the commit was lost: Kafka hands the batch over again

    # Not the spare in the places of the two already shown: the update was applied once.
    assert await world.shown("m-a") == [(ItemKind.SUGGESTION, "c-2"), (ItemKind.SUGGESTION, "c-1")]
    assert len(await world.shown("m-b")) == 1
    assert world.sample("nnmatch_notifications_total", channel="in_app", outcome="delivered") == 3
    await deliver([record(matches("m-a", *best_three), offset=2)])  # a new list, same ranking
    assert len(await world.shown("m-a")) == 3


async def test_a_suggestion_delivered_within_the_cooling_off_is_not_added_again() -> None:
    world = make_world(cooling_off_s=7 * 86_400)
    deliver = world.deliver()
    await deliver([record(matches("m-a", suggestion("c-1")))])
    world.clock.advance(timedelta(days=3))
    await deliver([record(matches("m-a", suggestion("c-1"), suggestion("c-2")))])
    within = await world.shown("m-a")
    world.clock.advance(timedelta(days=5))
    await deliver([record(matches("m-a", suggestion("c-1")))])

    assert within == [(ItemKind.SUGGESTION, "c-2"), (ItemKind.SUGGESTION, "c-1")]
    assert await world.shown("m-a") == [
        (ItemKind.SUGGESTION, "c-1"),  # back after the cooling-off, once, newest
        (ItemKind.SUGGESTION, "c-2"),
    ]


async def test_a_member_who_chose_email_gets_new_suggestions_queued_and_others_do_not(
    world: World,
) -> None:
    await world.contacts.put("m-mail", by(Channel.EMAIL), NOW)
    await world.contacts.put("m-off", by(Channel.EMAIL, opted_out=True), NOW)
    await world.deliver()(
        [
            record(matches("m-mail", suggestion("c-1"))),
            record(matches("m-app", suggestion("c-1"))),
            record(matches("m-off", suggestion("c-1"))),
        ]
    )

    assert await world.outbox.due_members(NOW, 10) == ["m-mail"]
    claimed = await world.outbox.claim("m-mail")
    assert claimed is not None
    assert [i.suggestion.member_id for i in claimed.items] == ["c-1"]


async def test_a_digest_member_is_queued_for_the_digest_time_not_now(world: World) -> None:
    await world.contacts.put("m-digest", by(Channel.EMAIL, frequency=Frequency.DAILY), NOW)
    await world.deliver()([record(matches("m-digest", suggestion("c-1")))])

    assert await world.outbox.due_members(NOW, 10) == []
    assert await world.outbox.due_members(NOW + timedelta(days=1), 10) == ["m-digest"]
    assert await world.shown("m-digest") == [(ItemKind.SUGGESTION, "c-1")]  # in-app at once


class BrokenInbox(MemoryInbox):
    async def add_new_many(self, *args: Any, **kwargs: Any) -> list[int]:
        raise ConnectionError("redis away")


async def test_a_store_failure_counts_what_was_tried_as_failed_and_raises_for_redelivery(
    world: World,
) -> None:
    broken = BrokenInbox(MemoryKeyspace(world.clock.seconds), max_items=10)
    adapters = Adapters(
        broken, world.outbox, world.contacts, world.publisher, world.clock, MemoryHeldLists()
    )
    deliver = DeliverSuggestions(adapters, world.handler_metrics, min_score=0.0, per_update=1)

    with pytest.raises(ConnectionError):
        await deliver([record(matches("m-a", suggestion("c-1"), suggestion("c-2")))])
    assert world.sample("nnmatch_notifications_total", channel="in_app", outcome="failed") == 1
    assert world.sample("nnmatch_notifications_total", channel="in_app", outcome="delivered") == 0


async def test_the_first_suggestion_after_joining_is_timed_once(world: World) -> None:
    joined = ProfileUpserted(producer="profiles", member_id="m-new", version=1, profile=amina())
    await EraseMembers(world.adapters)([record(joined)])
    deliver = world.deliver()
    await deliver([record(matches("m-new", suggestion("c-1")))])
    await deliver([record(matches("m-new", suggestion("c-2")))])

    assert world.sample("nnmatch_time_to_first_suggestion_seconds_count") == 1


# --- profiles.v1 → erasure -----------------------------------------------------------------


async def test_an_erasure_empties_the_inbox_removes_the_member_elsewhere_and_tombstones_contacts(
    world: World,
) -> None:
    await world.contacts.put("m-x", by(Channel.EMAIL), NOW)
    await world.deliver()(
        [
            record(matches("m-x", suggestion("m-a"))),
            record(matches("m-a", suggestion("m-x"), suggestion("m-b"))),
        ]
    )
    deleted = ProfileDeleted(producer="profiles", member_id="m-x")
    await EraseMembers(world.adapters)([record(deleted), record(None, key="m-x", offset=1)])

    assert await world.shown("m-x") == []
    assert await world.shown("m-a") == [(ItemKind.SUGGESTION, "m-b")]
    assert await world.contacts.get("m-x") == DeliverySettings()
    tombstones = world.publisher.on(CONTACTS)
    assert tombstones
    assert {(r.key, r.event) for r in tombstones} == {("m-x", None)}
    assert await world.outbox.due_members(NOW, 10) == []


async def test_when_the_tombstone_is_refused_nothing_is_erased_until_the_retry(
    world: World,
) -> None:
    await world.deliver()([record(matches("m-x", suggestion("m-a")))])
    world.publisher.fail_next = ConnectionError("broker away")
    erase = EraseMembers(world.adapters)
    batch: list[Inbound[ProfileUpserted | ProfileDeleted]] = [
        record(ProfileDeleted(producer="profiles", member_id="m-x"))
    ]

    with pytest.raises(ConnectionError):
        await erase(batch)
    assert await world.shown("m-x") == [(ItemKind.SUGGESTION, "m-a")]
    await erase(batch)
    assert await world.shown("m-x") == []


async def test_a_profile_update_erases_nothing(world: World) -> None:
    await world.deliver()([record(matches("m-a", suggestion("c-1")))])
    updated = ProfileUpserted(producer="profiles", member_id="m-a", version=2, profile=amina())
    await EraseMembers(world.adapters)([record(updated)])

    assert await world.shown("m-a") == [(ItemKind.SUGGESTION, "c-1")]
    assert world.publisher.records == []


# --- contacts.v1 → the read model ----------------------------------------------------------


def contact_event(member: str, settings: DeliverySettings, at: datetime) -> ContactUpserted:
    return ContactUpserted(
        producer="notifications", member_id=member, settings=settings
    ).model_copy(update={"occurred_at": at})


async def test_the_last_contacts_record_of_a_batch_wins_and_a_tombstone_forgets(
    world: World,
) -> None:
    project = ProjectContacts(world.adapters)
    await project(
        [
            record(contact_event("m-a", by(Channel.WEBHOOK), NOW)),
            record(contact_event("m-a", by(Channel.EMAIL), NOW + timedelta(seconds=1)), offset=1),
            record(contact_event("m-b", by(Channel.EMAIL), NOW), offset=2),
            record(None, key="m-b", offset=3),
        ]
    )

    assert await world.contacts.get("m-a") == by(Channel.EMAIL)
    assert await world.contacts.get("m-b") == DeliverySettings()


async def test_an_older_contacts_record_never_rolls_newer_settings_back(world: World) -> None:
    await world.contacts.put("m-a", by(Channel.EMAIL), NOW)  # the API wrote it
    stale = contact_event("m-a", by(Channel.WEBHOOK), NOW - timedelta(minutes=1))
    await ProjectContacts(world.adapters)([record(stale)])

    assert await world.contacts.get("m-a") == by(Channel.EMAIL)


# --- deliveries.v1 → re-drive --------------------------------------------------------------


async def test_a_redriven_delivery_is_due_again_at_once(world: World) -> None:
    request = DeliveryRequested(
        producer="notifications",
        member_id="m-r",
        channel=Channel.WEBHOOK,
        items=[DeliveryItem(item_id="7-0", kind="suggestion", suggestion=suggestion("c-1"))],
    )
    await RedriveDeliveries(world.adapters)([record(request), record(None, key="m-r")])

    assert await world.outbox.due_members(NOW, 10) == ["m-r"]
    claimed = await world.outbox.claim("m-r")
    assert claimed is not None
    assert [(i.item_id, i.suggestion.member_id) for i in claimed.items] == [("7-0", "c-1")]


# --- feedback.v1 → introductions -----------------------------------------------------------


def feedback(member: str, candidate: str, action: FeedbackAction) -> FeedbackGiven:
    return FeedbackGiven(
        producer="notifications", member_id=member, candidate_id=candidate, action=action
    )


ACCEPT, DISMISS = FeedbackAction.ACCEPT, FeedbackAction.DISMISS


def both_accept(a: str, b: str) -> list[Inbound[FeedbackGiven]]:
    return [record(feedback(a, b, ACCEPT)), record(feedback(b, a, ACCEPT), offset=1)]


async def test_a_mutual_accept_yields_exactly_one_introduction_per_side(world: World) -> None:
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce([record(feedback("m-a", "m-b", ACCEPT))])
    one_sided = (await world.shown("m-a"), await world.shown("m-b"))
    await introduce([record(feedback("m-b", "m-a", ACCEPT))])
    await introduce(
        [record(feedback("m-b", "m-a", ACCEPT)), record(feedback("m-a", "m-b", ACCEPT))]
    )

    assert one_sided == ([], [])
    assert await world.shown("m-a") == [(ItemKind.INTRODUCTION, "m-b")]
    assert await world.shown("m-b") == [(ItemKind.INTRODUCTION, "m-a")]
    assert world.sample("nnmatch_introductions_total") == 1
    assert world.sample("nnmatch_inbox_feedback_total", action="accept") == 4


async def test_an_introduction_shares_only_the_address_the_other_chose_to_share(
    world: World,
) -> None:
    sharing = DeliverySettings(
        contact=ContactDetails(email="a@example.org", share_in_introductions=["email"])
    )
    private = DeliverySettings(contact=ContactDetails(email="b@example.org"))
    await world.contacts.put("m-a", sharing, NOW)
    await world.contacts.put("m-b", private, NOW)
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce(
        [record(feedback("m-a", "m-b", ACCEPT)), record(feedback("m-b", "m-a", ACCEPT))]
    )

    [for_a] = (await world.inbox.page("m-a", 10, None))[0]
    [for_b] = (await world.inbox.page("m-b", 10, None))[0]
    assert for_b.shared_email == "a@example.org"
    assert for_a.shared_email is None


async def test_an_introduction_shows_the_suggestion_the_member_saw(world: World) -> None:
    await world.deliver()([record(matches("m-a", suggestion("m-b", 0.8, name="Bola Ade")))])
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce(
        [record(feedback("m-a", "m-b", ACCEPT)), record(feedback("m-b", "m-a", ACCEPT))]
    )

    items_a, _ = await world.inbox.page("m-a", 10, None)
    items_b, _ = await world.inbox.page("m-b", 10, None)
    assert (items_a[0].kind, items_a[0].suggestion.display_name) == (
        ItemKind.INTRODUCTION,
        "Bola Ade",
    )
    assert items_b[0].suggestion.display_name == "m-a"  # never suggested to b: the id


async def test_introductions_go_out_at_once_even_to_digest_members(world: World) -> None:
    await world.contacts.put("m-a", by(Channel.EMAIL, frequency=Frequency.WEEKLY), NOW)
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce(
        [record(feedback("m-a", "m-b", ACCEPT)), record(feedback("m-b", "m-a", ACCEPT))]
    )

    assert await world.outbox.due_members(NOW, 10) == ["m-a"]


async def test_a_dismissal_or_accepting_oneself_is_counted_but_introduces_no_one(
    world: World,
) -> None:
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce(
        [
            record(feedback("m-a", "m-b", DISMISS)),
            record(feedback("m-b", "m-a", ACCEPT)),
            record(feedback("m-c", "m-c", ACCEPT)),
            record(None, key="m-a"),
        ]
    )

    assert (await world.shown("m-a"), await world.shown("m-b"), await world.shown("m-c")) == (
        [],
        [],
        [],
    )
    assert world.sample("nnmatch_inbox_feedback_total", action="dismiss") == 1
    assert world.sample("nnmatch_introductions_total") == 0


# --- the delivery scheduler ----------------------------------------------------------------


@dataclass
class FakeChannel:
    """Records what it was asked to send; fails the first `fail_first` sends with `error`."""

    channel: Channel
    fail_first: int = 0
    error: Exception = field(default_factory=lambda: TransientFailure("503"))
    sent: list[Delivery] = field(default_factory=list)
    calls: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, delivery: Delivery, settings: DeliverySettings) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise self.error
        self.sent.append(delivery)
        self.arrived.set()


def scheduler(
    world: World,
    *channels: FakeChannel,
    attempts: int = 3,
    states: MemoryDeliveryStates | None = None,
) -> DeliveryScheduler:
    return DeliveryScheduler(
        world.outbox,
        world.contacts.get,
        {c.channel: c for c in channels},
        world.publisher,
        DeliveryMetrics(world.metrics),
        world.clock,
        retry=RetryPolicy(attempts, 0.001, 0.001),
        tick_s=0.01,
        states=states,
        keys=world.keys,
    )


async def queue(world: World, member: str, settings: DeliverySettings, *items: str) -> None:
    await world.contacts.put(member, settings, NOW)
    await world.deliver(per_update=10)(
        [record(matches(member, *(suggestion(c, 0.9 - i / 10) for i, c in enumerate(items))))]
    )


def sent_to(channel: FakeChannel) -> list[list[str]]:
    return [[i.suggestion.member_id for i in d.items] for d in channel.sent]


async def test_a_due_suggestion_goes_out_once_by_each_chosen_channel(world: World) -> None:
    email, webhook = FakeChannel(Channel.EMAIL), FakeChannel(Channel.WEBHOOK)
    await queue(world, "m-a", by(Channel.EMAIL, Channel.WEBHOOK), "c-1")
    sender = scheduler(world, email, webhook)
    await sender.deliver("m-a")
    await sender.deliver("m-a")

    assert (sent_to(email), sent_to(webhook)) == ([["c-1"]], [["c-1"]])
    assert email.sent[0].key != webhook.sent[0].key
    assert await world.outbox.due_members(NOW, 10) == []
    assert await world.outbox.sent_on("m-a", "2026-11-23") == 1


async def test_a_transient_failure_is_retried_under_the_same_idempotency_key(
    world: World,
) -> None:
    webhook = FakeChannel(Channel.WEBHOOK, fail_first=2)
    await queue(world, "m-a", by(Channel.WEBHOOK), "c-1")
    await scheduler(world, webhook, attempts=3).deliver("m-a")

    assert webhook.calls == 3
    assert sent_to(webhook) == [["c-1"]]
    assert world.publisher.records == []


async def test_a_delivery_that_keeps_failing_is_dead_lettered_with_its_items(
    world: World,
) -> None:
    webhook = FakeChannel(Channel.WEBHOOK, fail_first=99)
    email = FakeChannel(Channel.EMAIL, fail_first=99, error=PermanentFailure("550 to x@y.org"))
    await queue(world, "m-a", by(Channel.WEBHOOK, Channel.EMAIL), "c-1")
    await scheduler(world, webhook, email, attempts=2).deliver("m-a")

    letters = [r.event for r in world.publisher.records if r.topic == DELIVERIES.dlq]
    assert (webhook.calls, email.calls) == (2, 1)  # permanent failures are not retried
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    errors = sorted(letter.error for letter in letters if isinstance(letter, DeadLetter))
    assert errors == ["PermanentFailure: 550 to <address>", "TransientFailure: 503"]


async def test_each_channels_last_outcome_is_kept_with_its_cause_masked(world: World) -> None:
    states = MemoryDeliveryStates()
    webhook = FakeChannel(Channel.WEBHOOK)
    email = FakeChannel(Channel.EMAIL, fail_first=99, error=PermanentFailure("550 to x@y.org"))
    await queue(world, "m-a", by(Channel.WEBHOOK, Channel.EMAIL), "c-1")
    await scheduler(world, webhook, email, states=states).deliver("m-a")

    kept = await states.channels("m-a")
    assert kept[Channel.WEBHOOK].last_delivered_at is not None
    assert kept[Channel.WEBHOOK].last_failure is None
    assert kept[Channel.EMAIL].last_delivered_at is None
    assert kept[Channel.EMAIL].last_failed_at is not None
    assert kept[Channel.EMAIL].last_failure == "PermanentFailure: 550 to <address>"


async def test_the_daily_cap_holds_the_rest_until_the_members_midnight(world: World) -> None:
    email = FakeChannel(Channel.EMAIL)
    await queue(world, "m-a", by(Channel.EMAIL, daily_cap=1), "c-1", "c-2", "c-3")
    await scheduler(world, email).deliver("m-a")

    assert sent_to(email) == [["c-1"]]
    assert await world.outbox.due_members(NOW + timedelta(hours=10), 10) == []
    assert await world.outbox.due_members(NOW + timedelta(hours=11), 10) == ["m-a"]
    held = await world.outbox.claim("m-a")
    assert held is not None
    assert [i.suggestion.member_id for i in held.items] == ["c-2", "c-3"]


async def test_quiet_hours_set_after_queueing_hold_the_delivery_until_they_end(
    world: World,
) -> None:
    email = FakeChannel(Channel.EMAIL)
    await queue(world, "m-a", by(Channel.EMAIL), "c-1")
    quiet = QuietHours(start=time(15, 0), end=time(18, 0), tz="Africa/Nairobi")  # now: 16:00
    await world.contacts.put("m-a", by(Channel.EMAIL, quiet_hours=quiet), NOW)
    await scheduler(world, email).deliver("m-a")

    assert email.sent == []
    assert await world.outbox.due_members(NOW + timedelta(hours=2), 10) == ["m-a"]


async def test_a_member_who_opted_out_since_gets_nothing_and_nothing_stays_queued(
    world: World,
) -> None:
    email = FakeChannel(Channel.EMAIL)
    await queue(world, "m-a", by(Channel.EMAIL), "c-1")
    await world.contacts.put("m-a", by(Channel.EMAIL, opted_out=True), NOW)
    await scheduler(world, email).deliver("m-a")

    assert email.sent == []
    assert await world.outbox.due_members(NOW + timedelta(days=7), 10) == []
    assert await world.outbox.claim("m-a") is not None  # the lease was released


async def test_the_scheduler_runs_between_start_and_stop(world: World) -> None:
    email = FakeChannel(Channel.EMAIL)
    await queue(world, "m-a", by(Channel.EMAIL), "c-1")
    sender = scheduler(world, email)
    await sender.stop()  # before start: nothing to stop
    await sender.start()
    running = sender.running
    async with asyncio.timeout(5):
        await email.arrived.wait()
    await sender.stop()

    assert running
    assert not sender.running
    assert sent_to(email) == [["c-1"]]
