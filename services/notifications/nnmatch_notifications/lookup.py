"""What an operator's member lookup shows of notifications, from what the stores hold (pure).

No contact details: only whether an address or URL is on file. Reading them is a separate,
audited route."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from nnmatch.contact import Channel, DeliverySettings, Preferences
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.schedule import external_channels


class ChannelState(BaseModel):
    """One channel's last outcomes for a member (None: never); kept by delivery_state.py."""

    last_delivered_at: datetime | None = None
    last_failed_at: datetime | None = None
    last_failure: str | None = None


class DeliveryQueue(BaseModel):
    pending_items: int
    next_due_at: datetime | None


class InboxCounts(BaseModel):
    total: int
    unread: int
    suggestions: int
    introductions: int
    newest_at: datetime | None


class ChannelView(BaseModel):
    """A channel as the member set it up, and how its deliveries went."""

    chosen: bool
    """In the member's preferences and not opted out."""
    on_file: bool
    """An address (e-mail) or URL (webhook) is on file; in-app needs none."""
    state: ChannelState


class NotificationsLookup(BaseModel):
    member_id: str
    inbox: InboxCounts
    preferences: Preferences
    channels: dict[Channel, ChannelView]
    queue: DeliveryQueue


def count_inbox(items: Sequence[InboxItem]) -> InboxCounts:
    return InboxCounts(
        total=len(items),
        unread=sum(not i.read for i in items),
        suggestions=sum(i.kind is ItemKind.SUGGESTION for i in items),
        introductions=sum(i.kind is ItemKind.INTRODUCTION for i in items),
        newest_at=max((i.created_at for i in items), default=None),
    )


def lookup_view(
    member_id: str,
    items: Sequence[InboxItem],
    settings: DeliverySettings,
    states: dict[Channel, ChannelState],
    queue: DeliveryQueue,
) -> NotificationsLookup:
    preferences = settings.preferences
    chosen = set(external_channels(preferences))
    if not preferences.opted_out and Channel.IN_APP in preferences.channels:
        chosen.add(Channel.IN_APP)
    on_file = {
        Channel.IN_APP: True,
        Channel.EMAIL: settings.contact.email is not None,
        Channel.WEBHOOK: settings.contact.webhook_url is not None,
    }
    return NotificationsLookup(
        member_id=member_id,
        inbox=count_inbox(items),
        preferences=preferences,
        channels={
            channel: ChannelView(
                chosen=channel in chosen,
                on_file=on_file[channel],
                state=states.get(channel, ChannelState()),
            )
            for channel in Channel
        },
        queue=queue,
    )
