"""The matcher's state: every member's vectors in three indexes, their cards, and who lists whom.

Applies vector events in log order (a record older than what is applied for that member is
stale and skipped), finds the members whose lists a change affects, and ranks them in batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from itertools import repeat

import numpy as np
import numpy.typing as npt

from nnmatch.events import (
    FeedbackAction,
    MemberCard,
    ProfileVectorsComputed,
    Reason,
    Suggestion,
    VectorKind,
)
from nnmatch_matching.matcher.exclusions import Exclusions, PairFeedback
from nnmatch_matching.matcher.index import Matrix, VectorIndex
from nnmatch_matching.matcher.lexical_fit import LEXICAL_CANDIDATE_K, LexicalFit, MemberFit
from nnmatch_matching.matcher.ranking import (
    Codes,
    Features,
    PairSignals,
    RankingWeights,
    diverse_rows,
    exposure_factors,
    kinds_mask,
    organisation_key,
    pair_signals,
    reasons_for,
    score_all,
    sdgs_mask,
    shown_score,
)

# Who seeks what I offer, and who offers what I seek: both sides of the reciprocal score.
RECIPROCAL_SEARCHES = (
    (VectorKind.SEEKS, VectorKind.OFFERS),
    (VectorKind.OFFERS, VectorKind.SEEKS),
)
# Candidates for a member's own list: the reciprocal searches plus profile likeness.
CANDIDATE_SEARCHES = (*RECIPROCAL_SEARCHES, (VectorKind.PROFILE, VectorKind.PROFILE))


INTENT_REASONS = frozenset({"offer_meets_seek", "seek_meets_offer"})
"""Reasons a suggestion opens with: what they offer that you seek, and the reverse."""


class ModelMismatch(ValueError):
    """Vectors from another model than the matcher compares: they must not be mixed."""


@dataclass(frozen=True)
class LogPosition:
    partition: int
    offset: int


@dataclass(frozen=True)
class EngineState:
    """What the engine needs to answer again after a restart (see snapshot.py)."""

    model_id: str | None
    member_ids: list[str]
    vectors: dict[VectorKind, Matrix]
    cards: list[MemberCard]
    profile_versions: list[int]
    positions: list[LogPosition]
    removed: dict[str, LogPosition]
    terms: list[dict[str, int]] = field(default_factory=list)
    """Each member's whole-profile terms (the vectors event's); empty: read from the cards."""


@dataclass
class MemberState:
    card: MemberCard
    profile_version: int
    position: LogPosition
    sdgs: int = 0
    offers_kinds: int = 0
    seeks_kinds: int = 0
    languages: int = 0
    country: int = -1
    organisation: int = -1  # -1: none shown
    hubs: int = 0


class MatchEngine:
    """Members' vectors, cards and feedback in memory; ranks their lists in batches."""

    def __init__(
        self,
        dimensions: int,
        top_n: int = 20,
        candidate_k: int = 100,
        reverse_k: int = 20,
        weights: RankingWeights | None = None,
        model_id: str | None = None,
        make_index: Callable[[int], VectorIndex] = VectorIndex,
        lexical_k: int = LEXICAL_CANDIDATE_K,
    ) -> None:
        """`candidate_k`: dense candidates per search (0: none, lexical only); `lexical_k`:
        lexical candidates per direction. With neither lexical candidates nor a lexical weight
        no words are indexed at all: ranking is dense only and costs no BM25 work."""
        self.dimensions = dimensions
        self.top_n = top_n
        self.candidate_k = candidate_k
        self.reverse_k = reverse_k
        self.weights = weights or RankingWeights()
        self.lexical_k = lexical_k
        self.lexical = LexicalFit() if lexical_k > 0 or self.weights.lexical > 0 else None
        self.model_id = model_id
        self.indexes = {kind: make_index(dimensions) for kind in VectorKind}
        self.members: dict[str, MemberState] = {}
        self.listed_in: dict[str, set[str]] = {}
        self._lists: dict[str, list[str]] = {}
        self._languages = Codes()
        self._countries = Codes()
        self._organisations = Codes()
        self._hubs = Codes()
        self._floor: dict[str, float] = {}
        self._removed_at: dict[str, LogPosition] = {}
        self._ties_of_removed: dict[str, set[str]] = {}
        self.exclusions = Exclusions()

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
        self.members[event.member_id] = self._member_state(
            event.card, event.profile_version, position
        )
        if self.lexical is not None:
            self.lexical.upsert(event.member_id, event.card, event.terms)
        self._removed_at.pop(event.member_id, None)

    def _member_state(self, card: MemberCard, version: int, position: LogPosition) -> MemberState:
        organisation = organisation_key(card)
        return MemberState(
            card,
            version,
            position,
            sdgs=sdgs_mask(card.sdgs),
            offers_kinds=kinds_mask(card.offers_kinds),
            seeks_kinds=kinds_mask(card.seeks_kinds),
            languages=self._languages.mask(card.languages),
            country=self._countries.code(card.country),
            organisation=-1 if organisation is None else self._organisations.code(organisation),
            hubs=self._hubs.mask(card.hubs),
        )

    def remove(self, member_id: str, position: LogPosition) -> None:
        for index in self.indexes.values():
            index.remove(member_id)
        if self.lexical is not None:
            self.lexical.remove(member_id)
        self.members.pop(member_id, None)
        self._lists.pop(member_id, None)
        self._floor.pop(member_id, None)
        self._removed_at[member_id] = position
        # Their connections lose a connection in common with others: their lists may change.
        self._ties_of_removed.setdefault(member_id, set()).update(
            self.exclusions.connections(member_id)
        )
        self.exclusions.forget(member_id)

    def record_feedback(
        self, member_id: str, candidate_id: str, action: FeedbackAction
    ) -> PairFeedback:
        """Apply one piece of feedback; returns the action now in force for the pair.

        The caller re-ranks `members_to_rerank(...)` so the lists are refilled at once.
        """
        return self.exclusions.record(member_id, candidate_id, action)

    def members_to_rerank(self, pair: PairFeedback) -> set[str]:
        """Whose list a piece of feedback changes: the giver's; for a block both sides'; for an
        accept both sides' and their connections' (their connections in common changed)."""
        if pair.action is FeedbackAction.BLOCK:
            return {pair.member_id, pair.candidate_id}
        if pair.action is FeedbackAction.ACCEPT:
            members = {pair.member_id, pair.candidate_id}
            for member in (pair.member_id, pair.candidate_id):
                members |= self.exclusions.connections(member)
            return members
        return {pair.member_id}

    def excludes(self, member_id: str, candidate_id: str) -> bool:
        return self.exclusions.excludes(member_id, candidate_id)

    def _vectors(self, kind: VectorKind, member_ids: list[str]) -> Matrix:
        return self.indexes[kind].vectors(member_ids)

    def affected_by(self, changed: Iterable[str], removed: Iterable[str]) -> set[str]:
        """Changed members, plus the members whose list a change or removal alters (no scan).

        The blended score is symmetric, so who would now rank X in their top-N is found from
        X's side: candidates near X's vectors (who seeks what X offers, who offers what X
        seeks, whose profile is like X's), whose words meet X's, and who share connections with
        X, whose score with X beats the N-th score of their current list. Diversity and
        the exposure cap only lower a score below this pair score, so beating the N-th is still
        needed to enter; a candidate's exposure changing re-ranks no one (it counts next time).
        Members who already list X (or listed a removed member) are re-ranked as well.
        The lexical side is symmetric too (`lexical_fit.py`): X's words find the members whose
        seeks words X's offers words meet and whose offers words meet X's seeks words, and the
        pair score with them includes it.
        """
        changed_ids = sorted({m for m in changed if m in self.members})
        affected = set(changed_ids)
        for member in changed_ids:
            affected.update(self.listed_in.get(member, ()))
        if changed_ids and self.reverse_k:
            reverse = (
                self._pools(changed_ids, CANDIDATE_SEARCHES, self.reverse_k)
                if self.candidate_k
                else [set[str]() for _ in changed_ids]
            )
            fits = self._fits(changed_ids)
            for member, hits, fit in zip(changed_ids, reverse, fits, strict=False):
                if fit is not None and self.lexical is not None:
                    hits |= self.lexical.candidates(fit, min(self.reverse_k, self.lexical_k))
                hits |= self._friends_of_friends(member)
                affected.update(self._would_now_list(member, sorted(hits - {member}), fit))
        for member in removed:
            affected.update(self.listed_in.pop(member, set()))
            affected.update(self._ties_of_removed.pop(member, set()))
        return {m for m in affected if m in self.members}

    def _fits(self, member_ids: list[str]) -> Iterator[MemberFit | None]:
        """Lexical fits of `member_ids` (all indexed) in that order; endless None without words."""
        if self.lexical is None:
            return repeat(None)
        return self.lexical.fits(member_ids)

    def _would_now_list(
        self, member_id: str, others: list[str], fit: MemberFit | None = None
    ) -> list[str]:
        """Those of `others` for whom `member_id` now scores above their list's cut-off."""
        if not others or not self.members[member_id].card.discoverable:
            return []
        everyone = [member_id, *others]
        features = self._features(everyone)
        # From the other side the member is the candidate: their own visibility is not in play.
        features = replace(features, discoverable=np.ones(len(everyone), dtype=bool))
        sides = self.lexical.sides(fit, everyone) if fit is not None and self.lexical else None
        shared = self._connections_in_common(member_id, everyone)
        scores = score_all(0, features, self.weights, features, lexical=sides, connections=shared)
        return [
            other
            for row, other in enumerate(everyone)
            if row > 0
            and np.isfinite(scores[row])
            and scores[row] > self._floor.get(other, -1.0)
            and not self.exclusions.excludes(other, member_id)
        ]

    def _connections_in_common(
        self, member_id: str, others: Sequence[str]
    ) -> npt.NDArray[np.int64] | None:
        """Per one of `others`, how many connections they share with `member_id` (None: none)."""
        if not self.weights.connections:
            return None
        counts = self.exclusions.common_connections(member_id)
        if not counts:
            return None
        return np.fromiter((counts.get(m, 0) for m in others), np.int64, len(others))

    def _friends_of_friends(self, member_id: str) -> set[str]:
        """Candidates through connections: those sharing the most with the member (as many as
        a dense or lexical search brings)."""
        if not self.weights.connections:
            return set()
        counts = self.exclusions.common_connections(member_id)
        k = max(self.lexical_k, self.candidate_k, self.top_n)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]
        return {m for m, _ in ranked if m in self.members}

    def _reasons(
        self,
        member_id: str,
        other_id: str,
        mine: MemberCard,
        theirs: MemberCard,
        shared: npt.NDArray[np.int64] | None,
        row: int,
    ) -> list[Reason]:
        """What they offer that I seek (and the reverse), then the words and connections we
        share, then the rest of the card reasons."""
        reasons = reasons_for(mine, theirs, self.weights)
        extra: list[Reason] = []
        if self.lexical is not None and self.weights.lexical:
            words = self.lexical.shared_words(member_id, other_id)
            if words:
                listed = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
                extra.append(Reason(kind="shared_words", text=f"you both write about {listed}"))
        in_common = int(shared[row]) if shared is not None else 0
        if in_common:
            people = "person" if in_common == 1 else "people"
            text = f"you are both connected to {in_common} {people}"
            extra.append(Reason(kind="shared_connections", text=text))
        intent = [r for r in reasons if r.kind in INTENT_REASONS]
        return [*intent, *extra, *(r for r in reasons if r.kind not in INTENT_REASONS)]

    def signals(self, member_id: str, others: Sequence[str]) -> PairSignals:
        """The raw pair signals between a member and each of `others` (all held), before
        calibration: what `nnmatch eval --set real` measures the calibration from."""
        everyone = [member_id, *others]
        features = self._features(everyone)
        fit = next(iter(self._fits([member_id])))
        sides = self.lexical.sides(fit, everyone) if fit is not None and self.lexical else None
        shared = self._connections_in_common(member_id, everyone)
        signals = pair_signals(0, features, self.weights, features, sides, shared)
        return PairSignals(**{f.name: getattr(signals, f.name)[1:] for f in fields(signals)})

    def _features(self, member_ids: list[str]) -> Features:
        states = [self.members[m] for m in member_ids]
        return Features(
            ids=member_ids,
            profile=self._vectors(VectorKind.PROFILE, member_ids),
            offers=self._vectors(VectorKind.OFFERS, member_ids),
            seeks=self._vectors(VectorKind.SEEKS, member_ids),
            sdgs=np.fromiter((s.sdgs for s in states), np.uint32, len(states)),
            offers_kinds=np.fromiter((s.offers_kinds for s in states), np.uint32, len(states)),
            seeks_kinds=np.fromiter((s.seeks_kinds for s in states), np.uint32, len(states)),
            languages=np.array([s.languages for s in states], dtype=object),
            discoverable=np.fromiter((s.card.discoverable for s in states), bool, len(states)),
            countries=np.fromiter((s.country for s in states), np.int64, len(states)),
            organisations=np.fromiter((s.organisation for s in states), np.int64, len(states)),
            hubs=np.array([s.hubs for s in states], dtype=object),
        )

    def _pools(
        self, member_ids: list[str], searches: Sequence[tuple[VectorKind, VectorKind]], k: int
    ) -> list[set[str]]:
        """Per member, the union of top-k hits of each (query vector → index) search."""
        pools: list[set[str]] = [set() for _ in member_ids]
        for query_kind, index_kind in searches:
            queries = self._vectors(query_kind, member_ids)
            for pool, hits in zip(pools, self.indexes[index_kind].search(queries, k), strict=True):
                pool.update(member for member, _ in hits)
        return pools

    def matches_for(self, member_ids: Iterable[str], now: datetime) -> dict[str, list[Suggestion]]:
        """Ranked suggestions for each member, computed as one batch of searches.

        Members are ranked in id order, each seeing the exposure left by those before it, so
        a batch gives the same lists whatever order its ids came in. Candidates are ranked by
        their odds (`ranking.LOGISTIC_SCALE`) after the list's shaping; a suggestion shows
        odds / (1 + odds), 0 to 1.
        """
        ids = sorted({m for m in member_ids if m in self.members})
        if not ids:
            return {}
        excluded = {m: self.exclusions.excluded_for(m) for m in ids}
        # Search past the excluded, so their places go to the next best, not to nobody.
        widest = max(len(e) for e in excluded.values())
        pools = (
            self._pools(ids, CANDIDATE_SEARCHES, self.candidate_k + widest)
            if self.candidate_k
            else [set[str]() for _ in ids]
        )
        fits = self._fits(ids)
        results: dict[str, list[Suggestion]] = {}
        for member_id, pool, fit in zip(ids, pools, fits, strict=False):
            if fit is not None and self.lexical is not None:
                pool |= self.lexical.candidates(fit, self.lexical_k, excluded[member_id])
            pool |= self._friends_of_friends(member_id)
            everyone = [member_id, *sorted(pool - {member_id} - excluded[member_id])]
            features = self._features(everyone)
            sides = self.lexical.sides(fit, everyone) if fit is not None and self.lexical else None
            shared = self._connections_in_common(member_id, everyone)
            scores = score_all(
                0,
                features,
                self.weights,
                features,
                excluded[member_id],
                lexical=sides,
                connections=shared,
            )
            if self.weights.exposure_cap > 0:
                scores = scores * exposure_factors(self.exposure(member_id, everyone), self.weights)
            my_card = self.members[member_id].card
            suggestions = []
            last_blend = -1.0
            for row, score in diverse_rows(scores, features, self.top_n, self.weights):
                other = self.members[everyone[row]].card
                last_blend = score
                suggestions.append(
                    Suggestion(
                        member_id=everyone[row],
                        display_name=other.display_name,
                        headline=other.headline,
                        country=other.country,
                        score=round(shown_score(score), 4),
                        reasons=self._reasons(
                            member_id, everyone[row], my_card, other, shared, row
                        ),
                        computed_at=now,
                    )
                )
            results[member_id] = suggestions
            self._record_listing(member_id, [s.member_id for s in suggestions])
            full = len(suggestions) >= self.top_n
            # Shaped odds: `_would_now_list` compares a pair's odds (shaping only lowers them)
            # against it.
            self._floor[member_id] = last_blend if full else -1.0
        return results

    def exposure(self, member_id: str, candidates: Sequence[str]) -> npt.NDArray[np.int64]:
        """In how many lists each candidate is now, not counting `member_id`'s own list."""
        shown = np.zeros(len(candidates), dtype=np.int64)
        for row, candidate in enumerate(candidates):
            listers = self.listed_in.get(candidate)
            if listers:
                shown[row] = len(listers) - (member_id in listers)
        return shown

    def _record_listing(self, member_id: str, listed: list[str]) -> None:
        for other in self._lists.get(member_id, ()):
            self.listed_in.get(other, set()).discard(member_id)
        self._lists[member_id] = listed
        for other in listed:
            self.listed_in.setdefault(other, set()).add(member_id)

    def profile_version(self, member_id: str) -> int:
        return self.members[member_id].profile_version

    def export_state(self, with_vectors: bool = True) -> EngineState:
        """A copy of the vectors, cards and log positions (not the lists: those are re-ranked).

        Without vectors (empty matrices) it is cheap: enough to see which offsets are covered.
        """
        ids = list(self.members)
        states = [self.members[m] for m in ids]
        return EngineState(
            model_id=self.model_id,
            member_ids=ids,
            vectors={
                kind: index.vectors(ids if with_vectors else [])  # a copy (fancy indexing)
                for kind, index in self.indexes.items()
            },
            cards=[s.card for s in states],
            profile_versions=[s.profile_version for s in states],
            positions=[s.position for s in states],
            removed=dict(self._removed_at),
            terms=[self.lexical.profile_words(m) for m in ids] if self.lexical else [],
        )

    def import_state(self, state: EngineState) -> None:
        """Load an exported state into this (empty) engine, as if its records were applied."""
        if self.members:
            raise ValueError("import_state needs an empty engine")
        self.model_id = state.model_id
        for kind, index in self.indexes.items():
            index.upsert_many(state.member_ids, state.vectors[kind])
        terms = state.terms or [{} for _ in state.member_ids]
        for member_id, card, version, position, words in zip(
            state.member_ids,
            state.cards,
            state.profile_versions,
            state.positions,
            terms,
            strict=True,
        ):
            self.members[member_id] = self._member_state(card, version, position)
            if self.lexical is not None:
                self.lexical.upsert(member_id, card, words)
        self._removed_at.update(state.removed)
