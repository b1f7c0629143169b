"""The hubs role's consumers: hubs.v1 and profile-vectors.v1 into the keeper (thin)."""

from __future__ import annotations

from collections.abc import Sequence

from nnmatch.events import HubDeleted, HubUpserted, ProfileVectorsComputed
from nnmatch.messaging import Inbound, Rejection, latest_per_key
from nnmatch_matching.hubs.keeper import HubKeeper

HubEvent = HubUpserted | HubDeleted


def wrong_key(key: str | None, event: HubEvent | None) -> str | None:
    """Why a hubs.v1 record is refused, or None: a hub's events sit under its hub id (else
    it would outlive the hub's tombstone), as members' under their member id."""
    if event is not None and key != event.hub_id:
        return (
            f"key {key!r} is not the event's hub_id {event.hub_id!r} (hubs.v1 is keyed by hub id)"
        )
    return None


class ApplyHubs:
    """hubs.v1 → each hub's own texts embedded, its leaders stored; a deletion drops it.
    A record under another key than its hub id is refused (dead-lettered)."""

    def __init__(self, keeper: HubKeeper) -> None:
        self._keeper = keeper

    async def __call__(self, batch: list[Inbound[HubEvent]]) -> Sequence[Rejection]:
        refused: list[Rejection] = []
        good: list[Inbound[HubEvent]] = []
        for record in batch:
            cause = wrong_key(record.key, record.event)
            if cause is None:
                good.append(record)
            else:
                refused.append(Rejection(record, cause))
        latest = {r.key: r.event for r in latest_per_key(good) if r.key is not None}
        upserts = [e for e in latest.values() if isinstance(e, HubUpserted)]
        gone = [key for key, e in latest.items() if not isinstance(e, HubUpserted)]
        if upserts:
            await self._keeper.put_hubs(upserts)
        if gone:
            await self._keeper.drop_hubs(gone)
        return refused


class ApplyMemberVectors:
    """profile-vectors.v1 → each member's share of their hubs' sums (a tombstone removes it)."""

    def __init__(self, keeper: HubKeeper) -> None:
        self._keeper = keeper

    async def __call__(self, batch: list[Inbound[ProfileVectorsComputed]]) -> Sequence[Rejection]:
        changes = [(r.key, r.event) for r in batch if r.key is not None]
        await self._keeper.put_members(changes)
        return []
