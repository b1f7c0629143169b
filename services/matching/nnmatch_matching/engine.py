"""The matcher's state: every member's vectors in three indexes, their cards, and who lists whom.

Applies vector events in log order (a record older than what is applied for that member is
stale and skipped), finds the members whose lists a change affects, and ranks them in batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from nnmatch.events import MemberCard, ProfileVectorsComputed, Suggestion, VectorKind
from nnmatch_matching.index import Matrix, VectorIndex
from nnmatch_matching.ranking import MemberView, RankingWeights, rank


class ModelMismatch(ValueError):
    """Vectors from another model than the matcher compares: they must not be mixed."""


@dataclass(frozen=True)
class LogPosition:
    partition: int
    offset: int


@dataclass
class MemberState:
    card: MemberCard
    profile_version: int
    position: LogPosition


class MatchEngine:
    def __init__(
        self,
        dimensions: int,
        top_n: int = 20,
        candidate_k: int = 100,
        reverse_k: int = 20,
        weights: RankingWeights | None = None,
        model_id: str | None = None,
    ) -> None:
        self.dimensions = dimensions
        self.top_n = top_n
        self.candidate_k = candidate_k
        self.reverse_k = reverse_k
        self.weights = weights or RankingWeights()
        self.model_id = model_id
        self.indexes = {kind: VectorIndex(dimensions) for kind in VectorKind}
        self.members: dict[str, MemberState] = {}
        self.listed_in: dict[str, set[str]] = {}
        self._lists: dict[str, list[str]] = {}
        self._removed_at: dict[str, LogPosition] = {}

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self.members

    def _applied_position(self, member_id: str) -> LogPosition | None:
        state = self.members.get(member_id)
        return state.position if state else self._removed_at.get(member_id)

    def is_stale(self, member_id: str, position: LogPosition) -> bool:
        """True if a later record of this member was already applied (same key, same partition)."""
        applied = self._applied_position(member_id)
        return (
            applied is not None
            and applied.partition == position.partition
            and (position.offset < applied.offset)
        )

    def apply(self, event: ProfileVectorsComputed, position: LogPosition) -> None:
        if self.model_id is None:
            self.model_id = event.model.id + "@" + event.model.version
        elif event.model.id + "@" + event.model.version != self.model_id:
            raise ModelMismatch(
                f"vectors of {event.model.id}@{event.model.version}; this matcher compares "
                f"{self.model_id}"
            )
        for kind, index in self.indexes.items():
            index.upsert_many([event.member_id], event.vector(kind)[None, :])
        self.members[event.member_id] = MemberState(event.card, event.profile_version, position)
        self._removed_at.pop(event.member_id, None)

    def remove(self, member_id: str, position: LogPosition) -> None:
        for index in self.indexes.values():
            index.remove(member_id)
        self.members.pop(member_id, None)
        self._lists.pop(member_id, None)
        self._removed_at[member_id] = position

    def _vectors(self, kind: VectorKind, member_ids: list[str]) -> Matrix:
        return self.indexes[kind].vectors(member_ids)

    def affected_by(self, changed: Iterable[str], removed: Iterable[str]) -> set[str]:
        """Changed members plus those whose list a change or removal may alter (no full scan).

        The reciprocal score is symmetric, so the members who would now rank X highly are
        found by searching with X's own vectors: who seeks what X offers, and who offers what
        X seeks. Members who listed a removed member get a fresh list too.
        """
        changed_ids = [m for m in changed if m in self.members]
        affected = set(changed_ids)
        if changed_ids:
            offers = self._vectors(VectorKind.OFFERS, changed_ids)
            seeks = self._vectors(VectorKind.SEEKS, changed_ids)
            for hits in self.indexes[VectorKind.SEEKS].search(offers, self.reverse_k):
                affected.update(member for member, _ in hits)
            for hits in self.indexes[VectorKind.OFFERS].search(seeks, self.reverse_k):
                affected.update(member for member, _ in hits)
        for member in removed:
            affected.update(self.listed_in.pop(member, set()))
        return {m for m in affected if m in self.members}

    def _view(self, member_id: str, vectors: dict[VectorKind, Matrix], row: int) -> MemberView:
        return MemberView(
            member_id=member_id,
            card=self.members[member_id].card,
            profile=vectors[VectorKind.PROFILE][row],
            offers=vectors[VectorKind.OFFERS][row],
            seeks=vectors[VectorKind.SEEKS][row],
        )

    def _candidates(self, member_ids: list[str]) -> list[set[str]]:
        """Dense candidates per member: seeks→offers, offers→seeks and profile→profile top-K."""
        pools: list[set[str]] = [set() for _ in member_ids]
        searches = (
            (VectorKind.SEEKS, VectorKind.OFFERS),
            (VectorKind.OFFERS, VectorKind.SEEKS),
            (VectorKind.PROFILE, VectorKind.PROFILE),
        )
        for query_kind, index_kind in searches:
            queries = self._vectors(query_kind, member_ids)
            for pool, hits in zip(
                pools, self.indexes[index_kind].search(queries, self.candidate_k), strict=True
            ):
                pool.update(member for member, _ in hits)
        return pools

    def matches_for(self, member_ids: Iterable[str], now: datetime) -> dict[str, list[Suggestion]]:
        """Ranked suggestions for each member, computed as one batch of searches."""
        ids = [m for m in member_ids if m in self.members]
        if not ids:
            return {}
        pools = self._candidates(ids)
        results: dict[str, list[Suggestion]] = {}
        for member_id, pool in zip(ids, pools, strict=True):
            cand_ids = sorted(pool - {member_id})
            everyone = [member_id, *cand_ids]
            vectors = {kind: self._vectors(kind, everyone) for kind in VectorKind}
            me = self._view(member_id, vectors, 0)
            cands = [self._view(c, vectors, i) for i, c in enumerate(cand_ids, start=1)]
            ranked = rank(me, cands, self.top_n, self.weights)
            results[member_id] = [
                Suggestion(
                    member_id=r.member_id,
                    display_name=self.members[r.member_id].card.display_name,
                    headline=self.members[r.member_id].card.headline,
                    country=self.members[r.member_id].card.country,
                    score=r.score,
                    reasons=r.reasons,
                    computed_at=now,
                )
                for r in ranked
            ]
            self._record_listing(member_id, [r.member_id for r in ranked])
        return results

    def _record_listing(self, member_id: str, listed: list[str]) -> None:
        for other in self._lists.get(member_id, ()):
            self.listed_in.get(other, set()).discard(member_id)
        self._lists[member_id] = listed
        for other in listed:
            self.listed_in.setdefault(other, set()).add(member_id)

    def profile_version(self, member_id: str) -> int:
        return self.members[member_id].profile_version
