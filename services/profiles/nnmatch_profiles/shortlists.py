"""What the shortlist routes do, apart from HTTP: a hub shortlists only members it may see
(discoverable, not suspended), at most `MAX_SHORTLIST` of them, shared by all its leaders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from nnmatch.profile import StoredProfile
from nnmatch_profiles.shortlist_store import MAX_SHORTLIST, Shortlisted, ShortlistStore


class UnknownMember(LookupError):
    """No member a hub may see by that id (absent, hidden or suspended: the same answer)."""


class Members(Protocol):
    """The profiles read model, as far as a shortlist needs it (nnmatch_profiles.service)."""

    async def get(self, member_id: str) -> StoredProfile | None: ...
    async def is_suspended(self, member_id: str) -> bool: ...


class ShortlistService:
    """The list itself lives in the store; this decides who may go on it."""

    def __init__(
        self,
        store: ShortlistStore,
        members: Members,
        clock: Callable[[], datetime],
        limit: int = MAX_SHORTLIST,
    ) -> None:
        self._store = store
        self._members = members
        self._clock = clock
        self.limit = limit

    async def members(self, hub_id: str) -> list[Shortlisted]:
        """Oldest first. A member hidden or suspended since stays listed (their leaders see
        them again when they are back); readers of their profile get 404 meanwhile."""
        return await self._store.members(hub_id)

    async def add(self, hub_id: str, member_id: str) -> list[Shortlisted]:
        stored = await self._members.get(member_id)
        if (
            stored is None
            or stored.profile.as_seen_by_others() is None
            or await self._members.is_suspended(member_id)
        ):
            raise UnknownMember(member_id)
        await self._store.add(hub_id, member_id, self._clock(), self.limit)
        return await self._store.members(hub_id)

    async def remove(self, hub_id: str, member_id: str) -> list[Shortlisted]:
        """Idempotent: removing a member who is not listed leaves the list as it is."""
        await self._store.remove(hub_id, member_id)
        return await self._store.members(hub_id)
