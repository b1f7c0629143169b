"""What the member lookup shows of notifications: counts by kind and read state, each channel
as chosen and on file with its last outcomes, and never the contact details themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nnmatch.contact import Channel, ContactDetails, DeliverySettings, Preferences
from nnmatch.events import Suggestion
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.lookup import ChannelState, DeliveryQueue, lookup_view

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
EMAIL = "amina@example.org"


def item(n: int, kind: ItemKind, read: bool) -> InboxItem:
    return InboxItem(
        item_id=f"{n}-0",
        kind=kind,
        created_at=NOW - timedelta(hours=n),
        read=read,
        suggestion=Suggestion(
            member_id=f"c-{n}", display_name="C", country="KE", score=0.5, computed_at=NOW
        ),
    )


def test_the_lookup_counts_the_inbox_and_shows_channels_without_contact_details() -> None:
    items = [
        item(1, ItemKind.INTRODUCTION, read=False),
        item(2, ItemKind.SUGGESTION, read=True),
        item(3, ItemKind.SUGGESTION, read=False),
    ]
    settings = DeliverySettings(
        contact=ContactDetails(email=EMAIL),
        preferences=Preferences(channels=[Channel.IN_APP, Channel.EMAIL, Channel.WEBHOOK]),
    )
    failed = ChannelState(last_failed_at=NOW, last_failure="PermanentFailure: 550")
    queue = DeliveryQueue(pending_items=2, next_due_at=NOW)

    view = lookup_view("m-a", items, settings, {Channel.EMAIL: failed}, queue)

    assert (view.inbox.total, view.inbox.unread) == (3, 2)
    assert (view.inbox.suggestions, view.inbox.introductions) == (2, 1)
    assert view.inbox.newest_at == NOW - timedelta(hours=1)
    assert {c: (v.chosen, v.on_file) for c, v in view.channels.items()} == {
        Channel.IN_APP: (True, True),
        Channel.EMAIL: (True, True),
        Channel.WEBHOOK: (True, False),
    }
    assert view.channels[Channel.EMAIL].state.last_failure == "PermanentFailure: 550"
    assert view.channels[Channel.WEBHOOK].state == ChannelState()
    assert view.queue.pending_items == 2
    assert EMAIL not in view.model_dump_json()


def test_an_opted_out_member_has_no_chosen_channel() -> None:
    settings = DeliverySettings(
        preferences=Preferences(channels=[Channel.IN_APP, Channel.EMAIL], opted_out=True)
    )

    view = lookup_view("m-a", [], settings, {}, DeliveryQueue(pending_items=0, next_due_at=None))

    assert not any(v.chosen for v in view.channels.values())
    assert view.inbox.newest_at is None
