"""Introductions by double opt-in: A's acceptance of B is recorded, and once both have
accepted each other, both get an introduction (in the inbox, and by e-mail/webhook as they
chose) with the contact details the other chose to share; once per pair.

One rule for every way an acceptance arrives: a member's feedback on `feedback.v1`, and an
accepted project invitation (each side of the member ↔ hub leader pair is accepted there).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter

from nnmatch.contact import DeliverySettings
from nnmatch.events import Suggestion
from nnmatch_notifications.contacts import Contacts
from nnmatch_notifications.health import SegmentedCounts
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.schedule import end_of_quiet_hours, external_channels
from nnmatch_notifications.store import Inbox


class Introducer:
    """Records acceptances and introduces mutual ones (the inbox makes it atomic and once)."""

    def __init__(
        self,
        inbox: Inbox,
        contacts: Contacts,
        clock: Callable[[], datetime],
        introductions: Counter,
        health: SegmentedCounts | None = None,
    ) -> None:
        self._inbox = inbox
        self._contacts = contacts
        self._clock = clock
        self._introductions = introductions
        self._health = health

    async def accept(self, a: str, b: str, cards: dict[str, Suggestion] | None = None) -> bool:
        """A accepts B; True when that completed a mutual accept and introduced them now.

        `cards`: how to show a member in the other's introduction when no suggestion of them
        is in that inbox (by default their id alone)."""
        if a == b:
            return False
        settings = await self._contacts.get_many([a, b])
        now = self._clock()
        items = (
            await self._introduction(a, b, settings[b], now, cards),
            await self._introduction(b, a, settings[a], now, cards),
        )
        due = (self._due(settings[a], now), self._due(settings[b], now))
        if not await self._inbox.accept(a, b, items, due):
            return False
        self._introductions.inc()
        if self._health is not None:
            await self._health.introduced(a, b)
        return True

    async def _introduction(
        self,
        member_id: str,
        other_id: str,
        other: DeliverySettings,
        now: datetime,
        cards: dict[str, Suggestion] | None,
    ) -> NewItem:
        shown = await self._inbox.suggestion_of(member_id, other_id)
        if shown is not None:
            suggestion = shown.suggestion
        elif cards and other_id in cards:
            suggestion = cards[other_id]
        else:
            suggestion = Suggestion(
                member_id=other_id, display_name=other_id, country="", score=0.0, computed_at=now
            )
        shares_email = "email" in other.contact.share_in_introductions
        return NewItem(
            candidate_id=other_id,
            kind=ItemKind.INTRODUCTION,
            created_at=now,
            suggestion=suggestion,
            shared_email=other.contact.email if shares_email else None,
        )

    @staticmethod
    def _due(settings: DeliverySettings, now: datetime) -> datetime | None:
        """Introductions go out at once (after quiet hours), whatever the digest frequency."""
        preferences = settings.preferences
        if not external_channels(preferences):
            return None
        if preferences.quiet_hours is not None:
            return end_of_quiet_hours(preferences.quiet_hours, now)
        return now
