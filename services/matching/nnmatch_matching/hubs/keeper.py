"""The hubs role's state and its one job: keep every hub's partner list current.

`HubKeeper` applies hubs.v1 (embedding each hub's own texts with the service's embedder) and
profile-vectors.v1 (folding members into their hubs' sums, book.py), marks what changed, and
recomputes at most once per interval (schedule.py): all pairs ranked (scoring.py), the lists
that changed published on hub-partners.v1 and then stored for `GET /v1/hubs/{id}/partners`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from nnmatch.events import (
    HubPartner,
    HubPartnersComputed,
    HubUpserted,
    ProfileVectorsComputed,
    VectorKind,
)
from nnmatch.hub import HubProfile, LeaderRole
from nnmatch.publishing import EventPublisher
from nnmatch.topics import HUB_PARTNERS
from nnmatch_matching.hubs.book import HubBook, OwnHub, Vector, contribution
from nnmatch_matching.hubs.schedule import RecomputeSchedule
from nnmatch_matching.hubs.scoring import HubScoring, HubSide, partners, side
from nnmatch_matching.hubs.store import HubStore
from nnmatch_matching.hubs.texts import hub_texts

log = logging.getLogger(__name__)

EmbedTexts = Callable[[list[str]], Awaitable[np.ndarray]]
"""Unit vectors of texts (zero for an empty one), off the event loop."""


def leader_ids(hub: HubProfile) -> list[str]:
    """Its members with the `leader` role first, then the other roles, each once."""
    ordered = sorted(hub.leaders, key=lambda leader: leader.role is not LeaderRole.LEADER)
    return list(dict.fromkeys(leader.member_id for leader in ordered))


class HubKeeper:
    def __init__(
        self,
        *,
        book: HubBook,
        embed: EmbedTexts,
        model_id: Callable[[], str],
        publisher: EventPublisher,
        store: HubStore,
        weights: HubScoring,
        top_n: int,
        schedule: RecomputeSchedule,
        clock: Callable[[], float],
    ) -> None:
        self.book = book
        self._embed = embed
        self._model_id = model_id
        self._publisher = publisher
        self._store = store
        self._weights = weights
        self._top_n = top_n
        self.schedule = schedule
        self._clock = clock
        self._lock = asyncio.Lock()
        self._published: dict[str, list[tuple[str, float]]] = {}

    async def put_hubs(self, hubs: Sequence[HubUpserted]) -> None:
        """Embed the hubs' own texts and keep them; their leaders go to the store."""
        texts = [hub_texts(e.hub) for e in hubs]
        flat = [t[kind] for t in texts for kind in VectorKind]
        vectors = await self._embed(flat) if flat else np.zeros((0, self.book.dimensions))
        width = len(VectorKind)
        async with self._lock:
            for i, event in enumerate(hubs):
                own: dict[VectorKind, Vector] = {
                    kind: np.asarray(vectors[i * width + j], dtype=np.float32)
                    for j, kind in enumerate(VectorKind)
                }
                self.book.put_hub(event.hub_id, OwnHub(event.version, event.hub, own))
            self.schedule.mark({e.hub_id for e in hubs})
        for event in hubs:
            await self._store.put_leaders(event.hub_id, leader_ids(event.hub))

    async def drop_hubs(self, hub_ids: Sequence[str]) -> None:
        async with self._lock:
            for hub_id in hub_ids:
                self.book.drop_hub(hub_id)
                self._published.pop(hub_id, None)
            self.schedule.mark(set(hub_ids))
        for hub_id in hub_ids:
            await self._store.put_leaders(hub_id, None)

    async def put_members(
        self, changes: Sequence[tuple[str, ProfileVectorsComputed | None]]
    ) -> None:
        """Fold members in (None: erased); vectors of another model than ours are left out."""
        model = self._model_id()
        async with self._lock:
            for member_id, event in changes:
                same_model = (
                    event is not None and f"{event.model.id}@{event.model.version}" == model
                )
                part = contribution(event) if event is not None and same_model else None
                self.schedule.mark(self.book.put_member(member_id, part))

    def sides(self, own_text_weight: float | None = None) -> dict[str, HubSide]:
        weight = self._weights.own_text_weight if own_text_weight is None else own_text_weight
        return {
            hub_id: side(hub_id, own, self.book.aggregate(hub_id), weight)
            for hub_id, own in sorted(self.book.hubs.items())
        }

    async def recompute(self, force: bool = False) -> list[HubPartnersComputed]:
        """If due (or forced): rank all pairs, publish and store the lists that changed."""
        now = self._clock()
        if not force and not self.schedule.due(now):
            return []
        async with self._lock:
            marked = self.schedule.take(now)
            sides = self.sides()
            hidden = {
                h for h, own in self.book.hubs.items() if not own.profile.visibility.discoverable
            }
            versions = {h: own.version for h, own in self.book.hubs.items()}
        excluded = {hub_id: await self._store.dismissed(hub_id) | hidden for hub_id in sides}
        lists = partners(sides, self._weights, self._top_n, excluded)
        out = [
            self._event(hub_id, versions[hub_id], sides[hub_id].region, found)
            for hub_id, found in lists.items()
            if hub_id in marked or self._published.get(hub_id) != _ranking(found)
        ]
        if out:
            try:
                await self._publisher.publish_many(HUB_PARTNERS, [(e.hub_id, e) for e in out])
                await self._store.put_partners(out)
            except Exception:
                self.schedule.mark(marked | {e.hub_id for e in out})  # the next tick retries
                raise
            for event in out:
                self._published[event.hub_id] = _ranking(event.partners)
            log.info("hub partners published", extra={"hubs": len(out)})
        return out

    def _event(
        self, hub_id: str, version: int, region: str | None, found: list[HubPartner]
    ) -> HubPartnersComputed:
        return HubPartnersComputed(
            producer=self._publisher.service,
            hub_id=hub_id,
            hub_version=version,
            region=region,
            model_id=self._model_id(),
            partners=found,
        )

    async def keep_running(self, tick_s: float = 1.0) -> None:
        """Recompute whenever due; a failure is logged and tried again on the next tick."""
        while True:
            try:
                await self.recompute()
            except Exception:
                log.exception("hub partners recompute failed; retrying")
            await asyncio.sleep(min(tick_s, max(self.schedule.interval_s, 0.05)))


def _ranking(found: list[HubPartner]) -> list[tuple[str, float]]:
    return [(p.hub_id, p.score) for p in found]
