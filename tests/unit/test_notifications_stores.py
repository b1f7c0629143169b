"""The contracts of the notifications stores (inbox, outbox, contacts), run here on the
in-memory fakes and in tests/integration/test_store_contracts.py on Redis: the fakes the
handler tests use behave as the adapters production uses."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from nnmatch.contact import Channel, ContactDetails, DeliverySettings, Preferences
from nnmatch.events import DeliveryItem, Suggestion
from nnmatch_notifications.contacts import Contacts, MemoryContacts
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.outbox import LEASE_MS, MemoryOutbox, Outbox
from nnmatch_notifications.store import (
    APPLIED_UPDATES_KEPT,
    Inbox,
    MemoryInbox,
    MemoryKeyspace,
)

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Stores:
    """One backend's inbox, outbox and contacts over the same state; `wait` lets time pass."""

    inbox: Inbox
    outbox: Outbox
    contacts: Contacts
    wait: Callable[[float], Awaitable[None]]


class MakeStores(Protocol):
    def __call__(
        self, *, cooling_off_s: int = 0, lease_ms: int = LEASE_MS, max_items: int = 100
    ) -> Stores: ...


class FakeClock:
    """Seconds, as `time.time`; moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    async def wait(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_stores() -> MakeStores:
    clock = FakeClock()
    keyspace = MemoryKeyspace(clock)

    def make(*, cooling_off_s: int = 0, lease_ms: int = LEASE_MS, max_items: int = 100) -> Stores:
        return Stores(
            MemoryInbox(keyspace, max_items, cooling_off_s=cooling_off_s),
            MemoryOutbox(keyspace, lease_ms),
            MemoryContacts(keyspace),
            clock.wait,
        )

    return make


def item(candidate: str, score: float = 0.5, kind: ItemKind = ItemKind.SUGGESTION) -> NewItem:
    suggestion = Suggestion(
        member_id=candidate,
        display_name=candidate.upper(),
        country="KE",
        score=score,
        computed_at=NOW,
    )
    return NewItem(candidate_id=candidate, kind=kind, created_at=NOW, suggestion=suggestion)


async def shown(inbox: Inbox, member: str) -> list[str]:
    """Whom the member's inbox shows, newest first."""
    items, _ = await inbox.page(member, 100, None)
    return [i.suggestion.member_id for i in items]


async def test_a_pair_enters_the_inbox_once_and_a_repeat_adds_nothing(
    make_stores: MakeStores,
) -> None:
    inbox = make_stores().inbox
    first = await inbox.add_new("m-a", [item("m-b")], 5)
    again = await inbox.add_new("m-a", [item("m-b"), item("m-c")], 5)

    assert (first, again) == (1, 1)
    assert await shown(inbox, "m-a") == ["m-c", "m-b"]
    assert await inbox.unread("m-a") == 2


async def test_repeats_do_not_count_against_an_updates_limit(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    await inbox.add_new("m-a", [item("c-1"), item("c-2")], 5)
    added = await inbox.add_new("m-a", [item(f"c-{i}") for i in range(1, 6)], 2)

    assert added == 2
    assert await shown(inbox, "m-a") == ["c-4", "c-3", "c-2", "c-1"]


async def test_many_updates_apply_in_order_and_count_per_update(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    counts = await inbox.add_new_many(
        [("m-a", [item("c-1")]), ("m-b", [item("c-1")]), ("m-a", [item("c-1"), item("c-2")])], 5
    )

    assert counts == [1, 1, 1]
    assert await inbox.add_new_many([("m-a", [])], 5) == [0]


async def test_an_update_handed_over_again_adds_nothing_though_its_spares_are_new(
    make_stores: MakeStores,
) -> None:
    inbox = make_stores().inbox
    update = [item(f"c-{i}") for i in range(1, 7)]  # two places, four spares
    first = await inbox.add_new_many([("m-a", update)], 2, update_ids=["u-1"])
    both = [("m-a", update), ("m-b", update)]
    again = await inbox.add_new_many(both, 2, update_ids=["u-1", "u-1"])
    other = await inbox.add_new_many([("m-a", update)], 2, update_ids=["u-2"])

    assert (first, again, other) == ([2], [0, 2], [2])  # an id is per member
    assert await shown(inbox, "m-a") == ["c-4", "c-3", "c-2", "c-1"]
    without_id = await inbox.add_new_many([("m-a", update), ("m-a", update)], 1)
    assert without_id == [1, 1]  # no id: every hand-over applies (invitations, reports)


async def test_only_a_members_latest_update_ids_are_kept(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    # One batch, in one clock millisecond, ids in reverse order: kept by arrival, not by name.
    ids = [f"u-{i:03}" for i in reversed(range(APPLIED_UPDATES_KEPT + 1))]
    await inbox.add_new_many([("m-a", [item("c-0")])] * len(ids), 1, update_ids=ids)
    spare = [item("c-1")]

    assert await inbox.add_new_many([("m-a", spare)], 1, update_ids=[ids[1]]) == [0]
    assert await inbox.add_new_many([("m-a", spare)], 1, update_ids=[ids[-1]]) == [0]
    assert await inbox.add_new_many([("m-a", spare)], 1, update_ids=[ids[0]]) == [1]


async def test_update_ids_must_name_every_update(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox

    with pytest.raises(ValueError, match="1 update ids for 2 updates"):
        await inbox.add_new_many([("m-a", []), ("m-b", [])], 1, update_ids=["u-1"])


async def test_the_inbox_pages_newest_first_without_gaps_or_repeats(
    make_stores: MakeStores,
) -> None:
    inbox = make_stores().inbox
    for i in range(7):
        await inbox.add_new("m-p", [item(f"c-{i}")], 1)
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = await inbox.page("m-p", 3, cursor)
        seen += [i.suggestion.member_id for i in items]
        if cursor is None:
            break

    assert seen == [f"c-{i}" for i in reversed(range(7))]


async def test_the_inbox_keeps_at_least_the_newest_max_items(make_stores: MakeStores) -> None:
    # Redis trims a stream approximately, whole nodes at a time (100 entries by default):
    # past a node's worth of items, older ones must be gone, the newest 10 always kept.
    inbox = make_stores(max_items=10).inbox
    for i in range(250):
        await inbox.add_new("m-cap", [item(f"c-{i}")], 1)

    items, _ = await inbox.page("m-cap", 100, None)
    kept = [i.suggestion.member_id for i in items]
    assert kept[:10] == [f"c-{i}" for i in reversed(range(240, 250))]
    assert await inbox.unread("m-cap") < 250


async def test_a_read_item_is_no_longer_unread_and_says_so(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    await inbox.add_new("m-r", [item("c-1"), item("c-2")], 5)
    [newest, oldest] = (await inbox.page("m-r", 10, None))[0]
    await inbox.mark_read("m-r", oldest.item_id)

    fetched = await inbox.item("m-r", oldest.item_id)
    assert fetched is not None
    assert fetched.read
    assert fetched.suggestion == oldest.suggestion
    assert await inbox.unread("m-r") == 1
    assert not (await inbox.page("m-r", 10, None))[0][0].read
    assert await inbox.item("m-other", newest.item_id) is None
    assert await inbox.item("m-r", "1-0") is None


async def test_the_suggestion_of_a_candidate_is_found_while_it_is_in_the_inbox(
    make_stores: MakeStores,
) -> None:
    inbox = make_stores().inbox
    await inbox.add_new("m-s", [item("c-1", score=0.7)], 5)

    found = await inbox.suggestion_of("m-s", "c-1")
    assert found is not None
    assert found.suggestion.score == 0.7
    assert await inbox.suggestion_of("m-s", "c-2") is None
    assert await inbox.suggestion_of("c-1", "m-s") is None


async def test_a_pair_comes_back_only_after_the_cooling_off_and_shows_once(
    make_stores: MakeStores,
) -> None:
    stores = make_stores(cooling_off_s=1)
    inbox = stores.inbox
    first = await inbox.add_new("m-a", [item("m-x")], 5)
    again = await inbox.add_new("m-a", [item("m-x")], 5)  # a redelivered record
    await stores.wait(1.1)
    later = await inbox.add_new("m-a", [item("m-x")], 5)

    assert (first, again, later) == (1, 0, 1)
    assert await shown(inbox, "m-a") == ["m-x"]  # the newest, once


async def test_without_a_cooling_off_a_pair_never_comes_back(make_stores: MakeStores) -> None:
    stores = make_stores()
    await stores.inbox.add_new("m-a", [item("m-x")], 5)
    await stores.wait(1.1)

    assert await stores.inbox.add_new("m-a", [item("m-x")], 5) == 0


async def test_erasing_a_member_removes_every_item_about_them_and_keeps_them_out(
    make_stores: MakeStores,
) -> None:
    inbox = make_stores().inbox
    await inbox.add_new("m-a", [item("m-x"), item("m-b")], 5)
    await inbox.add_new("m-c", [item("m-x")], 5)
    await inbox.add_new("m-x", [item("m-a")], 5)

    removed = await inbox.erase("m-x")
    late = await inbox.add_new("m-b", [item("m-x")], 5)  # a matches record from before
    own_late = await inbox.add_new("m-x", [item("m-a")], 5)  # one about the erased member

    assert removed == 2
    assert (late, own_late) == (0, 0)
    assert await shown(inbox, "m-a") == ["m-b"]
    assert await shown(inbox, "m-c") == []
    assert await shown(inbox, "m-x") == []
    assert (await inbox.unread("m-a"), await inbox.unread("m-c")) == (1, 0)


async def test_a_withdrawn_item_leaves_the_inbox_and_outbox_and_may_come_again(
    make_stores: MakeStores,
) -> None:
    stores = make_stores()
    inbox = stores.inbox
    await inbox.add_new_many([("m-a", [item("inv-1"), item("m-b")])], 5, {"m-a": NOW})
    [read_id] = [
        i.item_id
        for i in (await inbox.page("m-a", 10, None))[0]
        if i.suggestion.member_id == "inv-1"
    ]
    await inbox.mark_read("m-a", read_id)

    withdrawn = await inbox.withdraw("m-a", "inv-1")
    again = await inbox.withdraw("m-a", "inv-1")

    assert (withdrawn, again) == (True, False)
    assert await shown(inbox, "m-a") == ["m-b"]
    assert await inbox.unread("m-a") == 1
    claimed = await stores.outbox.claim("m-a")
    assert claimed is not None
    assert [i.suggestion.member_id for i in claimed.items] == ["m-b"]
    assert await inbox.add_new("m-a", [item("inv-1")], 5) == 1  # the pair is free again


async def test_a_mutual_accept_introduces_both_once(make_stores: MakeStores) -> None:
    stores = make_stores()
    inbox = stores.inbox
    intro_for_a = item("m-b", kind=ItemKind.INTRODUCTION)
    intro_for_b = item("m-a", kind=ItemKind.INTRODUCTION)

    one_side = await inbox.accept("m-a", "m-b", (intro_for_a, intro_for_b), (None, None))
    mutual = await inbox.accept("m-b", "m-a", (intro_for_b, intro_for_a), (NOW, None))
    again = await inbox.accept("m-b", "m-a", (intro_for_b, intro_for_a), (NOW, None))

    assert (one_side, mutual, again) == (False, True, False)
    for member, other in (("m-a", "m-b"), ("m-b", "m-a")):
        items, _ = await inbox.page(member, 10, None)
        assert [(i.kind, i.suggestion.member_id) for i in items] == [(ItemKind.INTRODUCTION, other)]
    assert await stores.outbox.due_members(NOW, 10) == ["m-b"]  # only b wants it outside


async def test_an_erased_member_is_never_introduced(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    intros = (item("m-b", kind=ItemKind.INTRODUCTION), item("m-a", kind=ItemKind.INTRODUCTION))
    await inbox.accept("m-a", "m-b", intros, (None, None))
    await inbox.erase("m-a")

    assert await inbox.accept("m-b", "m-a", intros, (None, None)) is False
    assert await shown(inbox, "m-b") == []


async def test_items_due_outside_the_app_are_claimed_once_best_first(
    make_stores: MakeStores,
) -> None:
    stores = make_stores()
    later, sooner = NOW + timedelta(hours=1), NOW - timedelta(minutes=1)
    await stores.inbox.add_new_many(
        [("m-d", [item("c-1", 0.2), item("c-2", 0.9)]), ("m-e", [item("c-1")])],
        5,
        {"m-d": later, "m-e": later},
    )
    await stores.inbox.add_new_many([("m-d", [item("c-3", 0.5)])], 5, {"m-d": sooner})

    assert await stores.outbox.backlog() == 2
    assert await stores.outbox.due_members(NOW, 10) == ["m-d"]  # moved earlier, never later
    claimed = await stores.outbox.claim("m-d")
    assert claimed is not None
    assert [i.suggestion.member_id for i in claimed.items] == ["c-2", "c-3", "c-1"]
    assert await stores.outbox.claim("m-d") is None  # leased
    await stores.outbox.finish(claimed)
    assert await stores.outbox.due_members(NOW + timedelta(days=1), 10) == ["m-e"]
    again = await stores.outbox.claim("m-d")
    assert again is not None
    assert again.items == []


async def test_a_claim_whose_sender_died_is_sent_again_after_the_lease(
    make_stores: MakeStores,
) -> None:
    stores = make_stores(lease_ms=200)
    await stores.inbox.add_new_many([("m-l", [item("c-1")])], 5, {"m-l": NOW})
    first = await stores.outbox.claim("m-l")
    await stores.wait(0.3)
    second = await stores.outbox.claim("m-l")

    assert first is not None
    assert second is not None
    assert second.items == first.items


async def test_held_items_wait_until_the_given_time(make_stores: MakeStores) -> None:
    stores = make_stores()
    await stores.inbox.add_new_many([("m-h", [item("c-1"), item("c-2")])], 5, {"m-h": NOW})
    claimed = await stores.outbox.claim("m-h")
    assert claimed is not None
    tomorrow = NOW + timedelta(days=1)
    await stores.outbox.finish(claimed, hold=claimed.items[1:], until=tomorrow)

    assert await stores.outbox.due_members(NOW, 10) == []
    assert await stores.outbox.due_members(tomorrow, 10) == ["m-h"]
    held = await stores.outbox.claim("m-h")
    assert held is not None
    assert held.items == claimed.items[1:]


async def test_redriven_items_are_pending_again(make_stores: MakeStores) -> None:
    outbox = make_stores().outbox
    delivery = DeliveryItem(item_id="5-0", kind="suggestion", suggestion=item("c-9").suggestion)
    await outbox.requeue("m-q", [delivery], NOW)

    assert await outbox.due_members(NOW, 10) == ["m-q"]
    claimed = await outbox.claim("m-q")
    assert claimed is not None
    assert [(i.item_id, i.suggestion.member_id) for i in claimed.items] == [("5-0", "c-9")]


async def test_delivered_keys_expire_and_daily_counts_add_up(make_stores: MakeStores) -> None:
    stores = make_stores()
    outbox = stores.outbox
    await outbox.mark_delivered("key-1", ttl_s=1)
    assert await outbox.was_delivered("key-1")
    assert not await outbox.was_delivered("key-2")
    assert await outbox.count_sent("m-n", "2026-11-23", 2) == 2
    assert await outbox.count_sent("m-n", "2026-11-23", 1) == 3
    assert await outbox.sent_on("m-n", "2026-11-23") == 3
    assert await outbox.sent_on("m-n", "2026-11-24") == 0
    await stores.wait(1.1)
    assert not await outbox.was_delivered("key-1")


async def test_an_erased_member_leaves_nothing_to_send_by_or_about_them(
    make_stores: MakeStores,
) -> None:
    stores = make_stores()
    await stores.inbox.add_new_many(
        [("m-g", [item("m-y")]), ("m-y", [item("m-g"), item("c-2")])],
        5,
        {"m-g": NOW, "m-y": NOW},
    )
    await stores.inbox.erase("m-g")

    assert await stores.outbox.due_members(NOW, 10) == ["m-y"]
    claimed = await stores.outbox.claim("m-y")
    assert claimed is not None
    assert [i.suggestion.member_id for i in claimed.items] == ["c-2"]
    assert await stores.outbox.count_sent("m-g", "2026-11-23", 1) == 0


async def test_joined_times_are_taken_once(make_stores: MakeStores) -> None:
    inbox = make_stores().inbox
    await inbox.record_joined([("m-j", NOW), ("m-k", NOW)])
    await inbox.record_joined([("m-j", NOW + timedelta(days=1))])  # not their first

    assert await inbox.take_joined(["m-j", "m-z"]) == {"m-j": NOW.timestamp()}
    assert await inbox.take_joined(["m-j"]) == {}


EMAIL = DeliverySettings(
    contact=ContactDetails(email="amina@example.org"),
    preferences=Preferences(channels=[Channel.IN_APP, Channel.EMAIL]),
)


async def test_contacts_default_until_set_and_an_older_write_never_wins(
    make_stores: MakeStores,
) -> None:
    contacts = make_stores().contacts
    assert await contacts.get("m-c") == DeliverySettings()
    await contacts.put("m-c", EMAIL, NOW)
    await contacts.put("m-c", DeliverySettings(), NOW - timedelta(seconds=1))

    assert await contacts.get("m-c") == EMAIL
    assert await contacts.get_many(["m-c", "m-d"]) == {"m-c": EMAIL, "m-d": DeliverySettings()}
    assert await contacts.get_many([]) == {}
    await contacts.delete("m-c")
    assert await contacts.get("m-c") == DeliverySettings()


async def test_an_erasure_forgets_the_members_contact_details(make_stores: MakeStores) -> None:
    stores = make_stores()
    await stores.contacts.put("m-e", EMAIL, NOW)
    await stores.inbox.erase("m-e")

    assert await stores.contacts.get("m-e") == DeliverySettings()
