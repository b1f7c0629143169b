"""The quiet-import rule (pure): which matches updates wait for the member's list to settle.

A bulk import changes many lists many times in a few minutes: every intermediate list would
become inbox items and use up pairs ("each pair at most once") on suggestions the member's
final list no longer holds. So an update caused by an imported profile (its
`source_occurred_at` is the time of a profile event the bulk import wrote), any update of an
imported member still waiting for their first list of the imported profile, and any later
update of a member whose list is already held, is held: only the member's latest list is kept.
It is released once it has not changed for the window, every imported member has had a list
of their imported profile's version or later (however it was ranked: most of a large import's
lists come from the matcher's background queue, with no profile event's time on them), and no
import-caused update has arrived for the window either (the import has settled); then only
its top few new pairs are delivered. Everything else (a member's own edit, feedback) is
delivered at once, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from nnmatch.events import MatchesComputed


@dataclass(frozen=True)
class SettleRule:
    """`window` zero turns holding off (every update delivered at once)."""

    window: timedelta
    max_hold: timedelta = timedelta(hours=2)

    @property
    def active(self) -> bool:
        return self.window > timedelta(0)

    def split(
        self,
        updates: Sequence[MatchesComputed],
        imported_sources: set[datetime],
        holding: set[str],
    ) -> tuple[list[MatchesComputed], list[MatchesComputed], bool]:
        """(updates to hold, updates to deliver now, whether an import caused any of them).

        A member held once in the batch stays held for the rest of it: a later update must not
        overtake the list that waits."""
        if not self.active:
            return [], list(updates), False
        caused = [
            u.member_id
            for u in updates
            if u.source_occurred_at is not None and u.source_occurred_at in imported_sources
        ]
        held_members = holding | set(caused)
        held = [u for u in updates if u.member_id in held_members]
        live = [u for u in updates if u.member_id not in held_members]
        return held, live, bool(caused)

    def due(self, now: datetime) -> datetime:
        return now + self.window

    def import_settled(
        self, now: datetime, last_activity: datetime | None, pending_members: int
    ) -> bool:
        """Every imported member has a list (the import went through the embedder and the
        matcher), and no import-caused update came for the window: the lists have stopped
        moving. `pending_members` counts only imports younger than `max_hold`, so a member the
        pipeline never matched (dead-lettered) holds nobody for longer than that."""
        quiet = last_activity is None or now - last_activity >= self.window
        return pending_members == 0 and quiet

    def pending_since(self, now: datetime) -> datetime:
        return now - self.max_hold
