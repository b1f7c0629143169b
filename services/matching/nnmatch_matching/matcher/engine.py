"""The matcher's state: every member's vectors in three indexes, their cards, and who lists whom.

Applies vector events in log order (a record older than what is applied for that member is
stale and skipped), finds the members whose lists a change affects, and ranks them in batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import repeat
from typing import Any, cast

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
from nnmatch_matching.matcher.lexical_fit import (
    LEXICAL_CANDIDATE_K,
    LexicalFit,
    LexicalSides,
    MemberFit,
)
from nnmatch_matching.matcher.ranking import (
    LOGISTIC_SCALE,
    Codes,
    Dots,
    Features,
    Pairs,
    PairSignals,
    RankingWeights,
    diverse_rows,
    exposure_factors,
    kinds_mask,
    organisation_key,
    pair_odds,
    pair_signals,
    reasons_for,
    score_all,
    sdgs_mask,
    shares_any,
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

WORDS_DRIFT = 0.05
"""Spreads of blend by which a changed member may fall short of a list's cut-off and still
count as entering it, where words are weighed. The BM25 IDF is the community's: a change of
anyone's words (or a member added or removed) moves every pair's word likeness by a hair, and
the cut-offs were ranked before it (up to 0.004 spreads seen at 300 members; less the larger
the community). The margin re-ranks a few more members, never fewer."""

DENSE_KINDS = (VectorKind.PROFILE, VectorKind.OFFERS, VectorKind.SEEKS)
"""The order of the vector kinds in the engine's columns of index rows."""
FIRST_ROWS = 1024


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
    """A member's card and where its record was read; a new object for every change (search
    finds changed members by identity). Card facts for scoring live in `Columns`."""

    card: MemberCard
    profile_version: int
    position: LogPosition
    row: int  # the member's row in the engine's `Columns`


def _index_store(index: VectorIndex) -> tuple[Matrix, dict[str, int]]:
    """The index's own vector matrix (row r: the vector FAISS holds under id r) and its member
    → row map, read without copying (as search does). Re-read after every upsert: the matrix
    is replaced when it grows, and an hnsw index moves a replaced member to a new row."""
    matrix: Matrix = index._matrix
    rows: dict[str, int] = index._rows
    return matrix, rows


class Columns:
    """Every member's card facts as numpy columns, one row per member (row-aligned across
    columns; a removed member's row is masked out of `live` and reused by the next new one),
    so scoring one member against everyone, or gathering any members' features, is array
    operations. Grows by doubling; language and hub bitmasks widen by a uint64 word whenever
    `Codes` hands out a code past the width."""

    def __init__(self, rows: int = FIRST_ROWS) -> None:
        self.ids = np.full(rows, None, dtype=object)
        self.live = np.zeros(rows, dtype=bool)
        self.sdgs = np.zeros(rows, dtype=np.uint32)
        self.offers_kinds = np.zeros(rows, dtype=np.uint32)
        self.seeks_kinds = np.zeros(rows, dtype=np.uint32)
        self.languages = np.zeros((rows, 1), dtype=np.uint64)
        self.hubs = np.zeros((rows, 1), dtype=np.uint64)
        self.countries = np.zeros(rows, dtype=np.int64)
        self.organisations = np.full(rows, -1, dtype=np.int64)  # -1: none shown
        self.discoverable = np.zeros(rows, dtype=bool)
        self.intent = np.zeros(rows, dtype=bool)  # a nonzero offers or seeks vector
        self.vector_rows = np.full((rows, len(DENSE_KINDS)), -1, dtype=np.int64)  # DENSE_KINDS
        self.lexical_rows = np.full((rows, 3), -1, dtype=np.int64)  # offers, seeks, profile
        self.has_words = np.zeros(rows, dtype=bool)  # the whole-profile document holds words
        self.floor = np.full(rows, -1.0, dtype=np.float64)  # the list's cut-off; -1: not full
        self.used = 0  # rows handed out so far (live or free): the columns' live extent
        self._free: list[int] = []

    def new_row(self, member_id: str) -> int:
        row = self._free.pop() if self._free else self.used
        if row >= len(self.ids):
            self._grow(2 * len(self.ids))
        self.used = max(self.used, row + 1)
        self.ids[row] = member_id
        self.live[row] = True
        self.floor[row] = -1.0
        return row

    def free(self, row: int) -> None:
        """Mask a removed member's row out; it is reused by the next new member."""
        self.ids[row] = None
        self.live[row] = False
        self.discoverable[row] = False
        self.languages[row] = 0
        self.hubs[row] = 0
        self.vector_rows[row] = -1
        self.lexical_rows[row] = -1
        self.has_words[row] = False
        self.floor[row] = -1.0
        self._free.append(row)

    def widen(self, languages: int, hubs: int) -> None:
        """Make the bitmask columns at least this many words wide."""
        if languages > self.languages.shape[1]:
            self.languages = _pad_words(self.languages, languages)
        if hubs > self.hubs.shape[1]:
            self.hubs = _pad_words(self.hubs, hubs)

    def _grow(self, rows: int) -> None:
        for name, column in vars(self).items():
            if isinstance(column, np.ndarray):
                setattr(self, name, _grown(column, rows, name))


def _pad_words(column: npt.NDArray[np.uint64], words: int) -> npt.NDArray[np.uint64]:
    return np.pad(column, ((0, 0), (0, words - column.shape[1])))


_FILL: dict[str, Any] = {
    "ids": None,
    "organisations": -1,
    "vector_rows": -1,
    "lexical_rows": -1,
    "floor": -1.0,
}


def _grown(column: npt.NDArray[Any], rows: int, name: str) -> npt.NDArray[Any]:
    grown = np.full((rows, *column.shape[1:]), _FILL.get(name, 0), dtype=column.dtype)
    grown[: len(column)] = column
    return grown


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
        no words are indexed at all: ranking is dense only and costs no BM25 work.
        `reverse_k`: how far around a changed member (per dense search, and in words) the
        members whose lists it may enter are looked for (0: none; the community's size or
        more: everyone); the pair score then decides exactly (`affected_by`)."""
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
        self.columns = Columns()
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
        if self.lexical is not None:
            self.lexical.upsert(event.member_id, event.card, event.terms)
        self._place(event.member_id, event.card, event.profile_version, position)
        self._removed_at.pop(event.member_id, None)

    def _place(self, member_id: str, card: MemberCard, version: int, position: LogPosition) -> None:
        """A new state for an indexed member (its vectors and words already in), and its row
        of the columns filled (a new member takes a new or freed row; a changed one keeps
        its row, and its list's cut-off until it is ranked again)."""
        known = self.members.get(member_id)
        row = known.row if known is not None else self.columns.new_row(member_id)
        self.members[member_id] = MemberState(card, version, position, row)
        columns = self.columns
        for i, kind in enumerate(DENSE_KINDS):
            _, rows = _index_store(self.indexes[kind])
            columns.vector_rows[row, i] = rows[member_id]
        columns.intent[row] = self._intent_of(row)
        if self.lexical is not None:
            columns.lexical_rows[row] = self.lexical.rows(member_id)
            columns.has_words[row] = self.lexical.has_words(member_id)
        organisation = organisation_key(card)
        columns.sdgs[row] = sdgs_mask(card.sdgs)
        columns.offers_kinds[row] = kinds_mask(card.offers_kinds)
        columns.seeks_kinds[row] = kinds_mask(card.seeks_kinds)
        columns.countries[row] = self._countries.code(card.country)
        columns.organisations[row] = (
            -1 if organisation is None else self._organisations.code(organisation)
        )
        columns.discoverable[row] = card.discoverable
        for language in card.languages:  # coded first: the columns may need a wider word
            self._languages.code(language)
        for hub in card.hubs:
            self._hubs.code(hub)
        columns.widen(self._languages.words(), self._hubs.words())
        columns.languages[row] = 0
        columns.hubs[row] = 0
        self._languages.mask(card.languages, columns.languages[row])
        self._hubs.mask(card.hubs, columns.hubs[row])

    def _intent_of(self, row: int) -> bool:
        """True if the member at `row` has a nonzero offers or seeks vector."""
        said = False
        for i, kind in enumerate(DENSE_KINDS):
            if kind is not VectorKind.PROFILE:
                matrix, _ = _index_store(self.indexes[kind])
                said = said or bool(np.any(matrix[self.columns.vector_rows[row, i]]))
        return said

    def remove(self, member_id: str, position: LogPosition) -> None:
        for index in self.indexes.values():
            index.remove(member_id)
        if self.lexical is not None:
            self.lexical.remove(member_id)
        state = self.members.pop(member_id, None)
        if state is not None:
            self.columns.free(state.row)
        self._lists.pop(member_id, None)
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
        """Changed members, plus the members whose list a change or removal alters.

        The blended score is symmetric, so who would now rank X in their top-N is decided
        from X's side, exactly: X is scored against every member at once (`_would_now_list`)
        and each member whose list's cut-off (the shaped odds of its N-th suggestion; -1 for a
        list not full) X's score beats is affected (within `WORDS_DRIFT` where words are
        weighed). Diversity and the exposure cap only lower a score below this pair score, so
        beating the N-th is still needed to enter. Like a candidate's exposure, the nudge a
        change of words gives the IDF (so every pair's word likeness) re-ranks no one: it
        counts at the next ranking. Members who already list X (or listed a removed member, or
        lose a connection in common with it) are re-ranked as well.
        """
        changed_ids = sorted({m for m in changed if m in self.members})
        affected = set(changed_ids)
        for member in changed_ids:
            affected.update(self.listed_in.get(member, ()))
        shown = [m for m in changed_ids if self.members[m].card.discoverable]
        for member, fit in zip(shown, self._fits(shown), strict=False):
            affected.update(self._would_now_list(member, fit))
        for member in removed:
            affected.update(self.listed_in.pop(member, set()))
            affected.update(self._ties_of_removed.pop(member, set()))
        return {m for m in affected if m in self.members}

    def _fits(self, member_ids: list[str]) -> Iterator[MemberFit | None]:
        """Lexical fits of `member_ids` (all indexed) in that order; endless None without words."""
        if self.lexical is None:
            return repeat(None)
        return self.lexical.fits(member_ids)

    def _would_now_list(self, member_id: str, fit: MemberFit | None = None) -> list[str]:
        """Every member for whom `member_id` now scores above their list's cut-off and who
        does not exclude it (`fit`: its lexical fit)."""
        if not self.members[member_id].card.discoverable:
            return []
        if self.reverse_k <= 0:
            return []
        columns = self.columns
        odds = self._odds_with_everyone(member_id, fit)
        if self.lexical is not None and self.weights.lexical:
            odds = odds * math.exp(WORDS_DRIFT / LOGISTIC_SCALE)
        beaten = np.flatnonzero(np.isfinite(odds) & (odds > columns.floor[: len(odds)]))
        reach = self._reach(member_id, fit)
        return [
            other
            for other in columns.ids[beaten].tolist()
            if (reach is None or other in reach) and not self.exclusions.excludes(other, member_id)
        ]

    def _reach(self, member_id: str, fit: MemberFit | None) -> set[str] | None:
        """Whose candidate pools the member can be in: its `reverse_k` nearest by each dense
        search, its word neighbours and its friends of friends (None: everyone, when
        `reverse_k` covers the community).

        A list is ranked from its own pools, so its cut-off sits below its top-N over
        everyone: beating it enters the list only for a member whose pools can hold the
        changed one. Without this bound a change re-ranks about N/50 members, most of them to
        no effect (measured: ~1,000 per change at 55,000 members, against ~10 with it)."""
        if self.reverse_k >= len(self.members):
            return None
        reach = self._pools([member_id], CANDIDATE_SEARCHES, self.reverse_k)[0]
        if fit is not None and self.lexical is not None:
            reach |= self.lexical.candidates(fit, min(self.reverse_k, self.lexical_k))
        return reach | self._friends_of_friends(member_id)

    def _odds_with_everyone(
        self, member_id: str, fit: MemberFit | None = None
    ) -> npt.NDArray[np.float64]:
        """Per row of the columns (up to `Columns.used`), the odds the member has as a candidate
        in that row's member's list before the list's shaping (-inf: no member there, the
        member itself, or no shared language): scored against all rows at once, symmetric,
        so the same odds the other member's own ranking gives the pair. The member's own
        visibility is the caller's to check; the other's is not in play (`fit`: its
        lexical fit)."""
        columns = self.columns
        n = columns.used
        me = self.members[member_id].row
        mine = self._features_at(np.asarray([me], dtype=np.int64), [member_id])
        none = np.zeros((0, self.dimensions), dtype=np.float32)  # read through `Dots` instead
        everyone = Features(
            ids=cast(Sequence[str], columns.ids[:n]),  # None on free rows: masked below
            profile=none,
            offers=none,
            seeks=none,
            sdgs=columns.sdgs[:n],
            offers_kinds=columns.offers_kinds[:n],
            seeks_kinds=columns.seeks_kinds[:n],
            languages=columns.languages[:n],
            discoverable=columns.discoverable[:n],
            countries=columns.countries[:n],
            organisations=columns.organisations[:n],
            hubs=columns.hubs[:n],
        )
        sides = None
        if fit is not None and self.lexical is not None:
            sides = LexicalFit.sides_at(fit, columns.lexical_rows[:n], columns.has_words[:n])
        odds = pair_odds(
            Pairs(
                0,
                mine,
                everyone,
                lexical=sides,
                connections=self._connections_with_everyone(member_id, n),
                dots=self._dots_with_everyone(me, n),
            ),
            self.weights,
        )
        eligible = columns.live[:n] & shares_any(columns.languages[:n], mine.languages[0])
        eligible[me] = False
        return np.where(eligible, odds, -np.inf)

    def _dots_with_everyone(self, row: int, n: int) -> Dots:
        """The member at `row`'s dense inner products with the first `n` rows of the columns
        (a matrix–vector product over each index's own matrix, then gathered; rows of no
        member read index row 0 and are masked out by the caller)."""
        at = self.columns.vector_rows[:n]
        products: dict[tuple[VectorKind, VectorKind], npt.NDArray[np.float32]] = {}
        for mine, theirs in (
            (VectorKind.PROFILE, VectorKind.PROFILE),
            (VectorKind.SEEKS, VectorKind.OFFERS),
            (VectorKind.OFFERS, VectorKind.SEEKS),
        ):
            my_matrix, _ = _index_store(self.indexes[mine])
            vector = my_matrix[self.columns.vector_rows[row, DENSE_KINDS.index(mine)]]
            matrix, _ = _index_store(self.indexes[theirs])
            rows = at[:, DENSE_KINDS.index(theirs)]
            extent = int(rows.max()) + 1 if n else 0
            products[mine, theirs] = (matrix[:extent] @ vector)[np.maximum(rows, 0)]
        return Dots(
            profile=products[VectorKind.PROFILE, VectorKind.PROFILE],
            seek_to_offer=products[VectorKind.SEEKS, VectorKind.OFFERS],
            offer_to_seek=products[VectorKind.OFFERS, VectorKind.SEEKS],
            intent=self.columns.intent[:n],
        )

    def _connections_with_everyone(self, member_id: str, n: int) -> npt.NDArray[np.int64] | None:
        """Per row of the columns (the first `n`), how many connections its member shares with
        `member_id` (None: none at all)."""
        if not self.weights.connections:
            return None
        counts = self.exclusions.common_connections(member_id)
        if not counts:
            return None
        shared = np.zeros(n, dtype=np.int64)
        for other, count in counts.items():
            state = self.members.get(other)
            if state is not None:
                shared[state.row] = count
        return shared

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
        rows = self._rows_of(everyone)
        features = self._features_at(rows, everyone)
        fit = next(iter(self._fits([member_id])))
        sides = self._sides(fit, rows)
        shared = self._connections_in_common(member_id, everyone)
        signals = pair_signals(Pairs(0, features, features, sides, shared), self.weights)
        return PairSignals(**{f.name: getattr(signals, f.name)[1:] for f in fields(signals)})

    def _rows_of(self, member_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """The members' rows of the columns (all held)."""
        members = self.members
        return np.fromiter((members[m].row for m in member_ids), np.int64, len(member_ids))

    def _features(self, member_ids: list[str]) -> Features:
        return self._features_at(self._rows_of(member_ids), member_ids)

    def _features_at(self, rows: npt.NDArray[np.int64], member_ids: Sequence[str]) -> Features:
        """The features of the members at `rows` of the columns (`member_ids`, in that order),
        gathered from the columns and the indexes' own matrices."""
        columns = self.columns
        vectors = {}
        for i, kind in enumerate(DENSE_KINDS):
            matrix, _ = _index_store(self.indexes[kind])
            vectors[kind] = matrix[columns.vector_rows[rows, i]]
        return Features(
            ids=member_ids,
            profile=vectors[VectorKind.PROFILE],
            offers=vectors[VectorKind.OFFERS],
            seeks=vectors[VectorKind.SEEKS],
            sdgs=columns.sdgs[rows],
            offers_kinds=columns.offers_kinds[rows],
            seeks_kinds=columns.seeks_kinds[rows],
            languages=columns.languages[rows],
            discoverable=columns.discoverable[rows],
            countries=columns.countries[rows],
            organisations=columns.organisations[rows],
            hubs=columns.hubs[rows],
        )

    def _sides(self, fit: MemberFit | None, rows: npt.NDArray[np.int64]) -> LexicalSides | None:
        """`fit` read for the members at `rows` of the columns (None without words)."""
        if fit is None or self.lexical is None:
            return None
        columns = self.columns
        return LexicalFit.sides_at(fit, columns.lexical_rows[rows], columns.has_words[rows])

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
            rows = self._rows_of(everyone)
            features = self._features_at(rows, everyone)
            sides = self._sides(fit, rows)
            shared = self._connections_in_common(member_id, everyone)
            scores = score_all(
                Pairs(0, features, features, lexical=sides, connections=shared),
                self.weights,
                excluded[member_id],
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
            self.columns.floor[rows[0]] = last_blend if full else -1.0
        return results

    def exposure(self, member_id: str, candidates: Sequence[str]) -> npt.NDArray[np.int64]:
        """In how many lists each candidate is now, not counting `member_id`'s own list."""
        shown = np.zeros(len(candidates), dtype=np.int64)
        for row, candidate in enumerate(candidates):
            listers = self.listed_in.get(candidate)
            if listers:
                shown[row] = len(listers) - (member_id in listers)
        return shown

    def adopt_list(self, member_id: str, listed: Sequence[str], last_score: float | None) -> None:
        """Take a list ranked elsewhere (another replica, or before a restart: the stored
        lists), so who lists whom, the exposure counts and the list's cut-off agree with it.
        `last_score`: the shown score of its last suggestion. The cut-off is read back half a
        rounding step below that (scores are shown to 4 places): never above the ranked one,
        so a change that beats the real cut-off is never missed. A list equal to the one
        this engine ranked keeps its exact cut-off."""
        state = self.members.get(member_id)
        if state is None:
            return
        held = [m for m in listed if m in self.members]
        if held == self._lists.get(member_id):
            return
        self._record_listing(member_id, held)
        floor = -1.0
        if last_score is not None and len(listed) >= self.top_n:
            shown = min(max(last_score - 0.5e-4, 0.0), 1.0 - 1e-9)
            floor = shown / (1.0 - shown)
        self.columns.floor[state.row] = floor

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
            if self.lexical is not None:
                self.lexical.upsert(member_id, card, words)
            self._place(member_id, card, version, position)
        self._removed_at.update(state.removed)
