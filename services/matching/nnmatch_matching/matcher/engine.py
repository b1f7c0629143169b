"""The matcher's state: every member's vectors in three indexes, their cards, and who lists whom.

Applies vector events in log order (a record older than what is applied for that member is
stale and skipped), finds the members whose lists a change affects, and ranks them in batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
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
from nnmatch.reasons import listed
from nnmatch_matching.matcher.arrays import minus_inf_unless
from nnmatch_matching.matcher.candidate_cache import CACHE_K, CandidateCache
from nnmatch_matching.matcher.exclusions import Exclusions, PairFeedback
from nnmatch_matching.matcher.fact_codes import (
    NO_PLACE,
    FactCodes,
    MyFacts,
    RowCodes,
    fast_path,
    odds_with_everyone,
)
from nnmatch_matching.matcher.lexical import FrozenStats
from nnmatch_matching.matcher.lexical_fit import (
    LEXICAL_CANDIDATE_K,
    DocumentRows,
    LexicalFit,
    LexicalSides,
    MemberFit,
)
from nnmatch_matching.matcher.member_matrix import Matrix, MemberMatrix
from nnmatch_matching.matcher.ranking import (
    Codes,
    Dots,
    Features,
    Pairs,
    PairSignals,
    RankingWeights,
    ReasonsFrom,
    diverse_rows,
    diverse_within,
    exposure_factors,
    kinds_mask,
    organisation_key,
    pair_odds,
    pair_signals,
    reasons_for,
    scores_directions,
    sdgs_mask,
    shares_any,
    shown_score,
    top_rows,
)

INTENT_REASONS = frozenset({"offer_meets_seek", "seek_meets_offer"})
"""Reasons a suggestion opens with: what they offer that you seek, and the reverse."""

DENSE_KINDS = (VectorKind.PROFILE, VectorKind.OFFERS, VectorKind.SEEKS)
"""The order of the vector kinds in the engine's columns of index rows."""
FIRST_ROWS = 1024
SCAN_BLOCK = 64
"""Members scanned against everyone together (`MatchEngine.scans`): 3 × 64 × 55,000 float32
products is 42 MB."""
MATRIX_VECTOR_ROWS = 3
"""Blocks up to this many rows are scored by one matrix–vector product per row (`_dots_block`):
at 55,000 members on one BLAS thread, 1, 2 and 3 rows took 6.4, 12.8 and 19.4 ms that way
against 17.4, 17.5 and 20.4 ms as one matrix–matrix product, four 24.6 against 17.1 ms
(`bench/bench_lone_scan.py`)."""
DOT_PAIRS = (
    (VectorKind.PROFILE, VectorKind.PROFILE),
    (VectorKind.SEEKS, VectorKind.OFFERS),
    (VectorKind.OFFERS, VectorKind.SEEKS),
)
"""(mine, theirs): the dense inner products a pair's odds read (`Dots`); only the first when
the offers↔seeks fit is not scored (`ranking.scores_directions`)."""


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
    caches: CacheState | None = None
    """Each member's candidate cache (None: rebuilt by scans after the restart)."""
    words_frozen: tuple[FrozenStats, FrozenStats] | None = None
    """The words' statistics the caches were scored under (`LexicalFit.frozen_stats`)."""
    intent_texts: bool = True
    """Whether it holds the seeks vectors and the offers and seeks words
    (`MatchEngine.intent_texts`); without them `vectors` has no seeks."""


@dataclass(frozen=True)
class CacheState:
    """The candidate caches of `EngineState.member_ids`, in that order (see candidate_cache.py)."""

    candidates: npt.NDArray[np.int32]
    """(members × cache size) indexes into `member_ids`, best first; -1: none."""
    odds: npt.NDArray[np.float64]
    bound: npt.NDArray[np.float64]
    """Per member: no candidate outside its cache scores above it (+inf: not built)."""
    unpatched: list[str] = field(default_factory=list)
    """Members applied since the caches were last patched (`MatchEngine.affected_by`)."""


@dataclass
class MemberState:
    """A member's card and where its record was read; a new object for every change (search
    finds changed members by identity). Card facts for scoring live in `Columns`."""

    card: MemberCard
    profile_version: int
    position: LogPosition
    row: int  # the member's row in the engine's `Columns`


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
        # Codes of the card facts the scans read by table (`fact_codes.FactCodes`).
        self.kind_codes = np.zeros(rows, dtype=np.int32)
        self.sdg_codes = np.zeros(rows, dtype=np.int32)
        self.place_codes = np.full(rows, NO_PLACE, dtype=np.int32)
        # The list's cut-off: -1: not full; +inf: no list yet (nothing to update).
        self.floor = np.full(rows, np.inf, dtype=np.float64)
        self.used = 0  # rows handed out so far (live or free): the columns' live extent
        self._free: list[int] = []

    def new_row(self, member_id: str) -> int:
        row = self._free.pop() if self._free else self.used
        if row >= len(self.ids):
            self._grow(2 * len(self.ids))
        self.used = max(self.used, row + 1)
        self.ids[row] = member_id
        self.live[row] = True
        self.floor[row] = np.inf
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
        self.place_codes[row] = NO_PLACE
        self.floor[row] = np.inf
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
    "floor": np.inf,
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
        weights: RankingWeights | None = None,
        model_id: str | None = None,
        lexical_k: int = LEXICAL_CANDIDATE_K,
        cache_k: int = CACHE_K,
        intent_texts: bool | None = None,
    ) -> None:
        """Lists are ranked over everyone (`matches_for`) from each member's cache of its
        `cache_k` best candidates (at least `top_n`). `candidate_k`: kept for the callers that
        compare with a raw FAISS top-k; lists no longer search candidates. `lexical_k` (0)
        with no lexical weight indexes no words at all: ranking is then dense only and costs
        no BM25 work. `intent_texts`: hold the seeks vectors and the offers and seeks words
        even if the weights never read them (None: only if they do), e.g. to measure every
        signal (`signals`)."""
        self.dimensions = dimensions
        self.top_n = top_n
        self.candidate_k = candidate_k
        self.cache = CandidateCache(max(cache_k, top_n))
        self._unpatched: set[str] = set()
        self.replayed_to: dict[int, int] = {}
        """Per partition, the offset the replay at start read up to (replay.py): the group
        consumer skips the records below it that are already applied (handlers.py)."""
        self.weights = weights or RankingWeights()
        self.lexical_k = lexical_k
        self.intent_texts = (
            scores_directions(self.weights) if intent_texts is None else intent_texts
        )
        if scores_directions(self.weights) and not self.intent_texts:
            raise ValueError("weights that read the offers↔seeks fit need intent_texts")
        """Whether the seeks vectors and the offers and seeks words are held: only the
        offers↔seeks fit reads them, and with its weight at 0 (the default) they are not kept
        (96 MiB of seeks vectors and a second word index at 55,000 members)."""
        self.lexical = (
            LexicalFit(directions=self.intent_texts)
            if lexical_k > 0 or self.weights.lexical > 0
            else None
        )
        self.model_id = model_id
        self.indexes = {
            kind: MemberMatrix(dimensions)
            for kind in VectorKind
            if kind is not VectorKind.SEEKS or self.intent_texts
        }
        """The vectors held, by kind (hub search and projects read the offers vectors)."""
        self.members: dict[str, MemberState] = {}
        self.listed_in: dict[str, set[str]] = {}
        self._lists: dict[str, list[str]] = {}
        self._languages = Codes()
        self._countries = Codes()
        self._organisations = Codes()
        self._hubs = Codes()
        self.columns = Columns()
        self.facts = FactCodes()
        self._removed_at: dict[str, LogPosition] = {}
        self._ties_of_removed: dict[str, set[str]] = {}
        self.exclusions = Exclusions()
        self.caches_current = False
        """True once caches were restored with the words' statistics they were scored under
        (`import_state`): a restart then needs no refresh of every cache at once."""

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

    def applied_at(self, member_id: str, position: LogPosition) -> bool:
        """True if this very record is the one applied for the member (the replay at start
        applied it before the group consumer reached it)."""
        return self._applied_position(member_id) == position

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
        self.cache.ensure(self.columns.used)
        if self.cache.built_rows(self.columns.used).size:
            self._unpatched.add(member_id)  # others' caches learn of it in `affected_by`
        self.members[member_id] = MemberState(card, version, position, row)
        columns = self.columns
        for i, kind in enumerate(DENSE_KINDS):
            index = self.indexes.get(kind)
            columns.vector_rows[row, i] = -1 if index is None else index.rows[member_id]
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
        self.facts.widen(self._languages.words(), self._hubs.words())
        columns.languages[row] = 0
        columns.hubs[row] = 0
        self._languages.mask(card.languages, columns.languages[row])
        self._hubs.mask(card.hubs, columns.hubs[row])
        facts = self.facts
        columns.kind_codes[row] = facts.kind_code(
            int(columns.offers_kinds[row]), int(columns.seeks_kinds[row])
        )
        columns.sdg_codes[row] = facts.sdg_code(int(columns.sdgs[row]))
        columns.place_codes[row] = facts.place_code(
            int(columns.countries[row]), columns.languages[row], columns.hubs[row]
        )

    def _intent_of(self, row: int) -> bool:
        """True if the member at `row` has a nonzero offers or seeks vector (of those held:
        only the offers↔seeks fit reads it, and it holds both)."""
        said = False
        for i, kind in enumerate(DENSE_KINDS):
            if kind is not VectorKind.PROFILE and kind in self.indexes:
                matrix = self.indexes[kind].matrix
                said = said or bool(np.any(matrix[self.columns.vector_rows[row, i]]))
        return said

    def remove(self, member_id: str, position: LogPosition) -> None:
        for index in self.indexes.values():
            index.remove(member_id)
        if self.lexical is not None:
            self.lexical.remove(member_id)
        state = self.members.pop(member_id, None)
        if state is not None:
            # Out of every cache before its row is reused; lists that held it are re-ranked.
            self.cache.purge(state.row, self.columns.used)
            self.cache.clear(state.row)
            self.columns.free(state.row)
        self._unpatched.discard(member_id)
        self._record_listing(member_id, [])
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

        The caller re-ranks `members_to_rerank(...)` so the lists are refilled at once. The
        caches whose pairs changed (exclusions, connections in common) are cleared, not scanned
        here: `matches_for` scans a cleared cache before ranking from it (and the background
        scans the rest), so a burst of feedback (a replay, a community's connections loaded at
        once) scans each member once, not once per piece of feedback.
        """
        ties = self.exclusions.connections(member_id) | self.exclusions.connections(candidate_id)
        pair = self.exclusions.record(member_id, candidate_id, action)
        # A connection made or broken changes the connections in common of each side with
        # the other's connections, before and after.
        ties |= self.exclusions.connections(member_id) | self.exclusions.connections(candidate_id)
        self.invalidate(self.members_to_rerank(pair) | ties | {member_id, candidate_id})
        return pair

    def invalidate(self, member_ids: Iterable[str]) -> None:
        """Clear these members' caches: their next ranking scans everyone first."""
        for member in member_ids:
            held = self.members.get(member)
            if held is not None:
                self.cache.clear(held.row)

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

    def affected_by(
        self, changed: Iterable[str], removed: Iterable[str], pending: bool = True
    ) -> set[str]:
        """Changed members, plus the members whose list a change or removal alters; every
        candidate cache patched to match.

        The blended score is symmetric, so a change of X is decided from X's side, exactly:
        X is scored against every member at once (`_odds_with_everyone`), which fills X's own
        cache, and patches each cache that holds X or whose bound X's odds reach
        (`CandidateCache.patch`). A list changes only if it held X or X's odds reach its
        cut-off (the shaped odds of its N-th suggestion; -1 for a list not full): shaping only
        lowers a score, so beating the N-th is needed to enter. Those members are returned.
        A member whose cache is not built (another replica ranks its list, or a restart
        without cached candidates) is decided by its list's cut-off alone. Members whose
        scan is owed (`defer`, or a snapshot's) count as changed too, unless `pending` is
        False (a model change or a bulk import under way: everyone is scanned once it ends,
        `forget_pending`). Who listed a removed member, and who lost a connection in common
        with it (their caches are scanned again), are returned as well.
        """
        waiting = self._unpatched if pending else set()
        changed_ids = sorted({m for m in (*changed, *waiting) if m in self.members})
        self._unpatched -= {*changed_ids, *waiting}
        affected = set(changed_ids)
        for member in changed_ids:
            affected.update(self.listed_in.get(member, ()))
        for member, odds in self.scans(changed_ids):
            affected.update(self._patch_for(member, odds))
        ties: set[str] = set()
        for member in removed:
            affected.update(self.listed_in.pop(member, set()))
            ties.update(self._ties_of_removed.pop(member, set()))
        self.rescan(ties)
        affected |= ties
        return {m for m in affected if m in self.members}

    def defer(self, member_ids: Iterable[str]) -> None:
        """Applied members whose scan is owed (a bulk import's): no cache learns of them until
        `affected_by` takes them as pending, or a scan of every cache makes that moot
        (`forget_pending`). A snapshot keeps them, so a restart still owes them."""
        self._unpatched.update(m for m in member_ids if m in self.members)

    @property
    def owed_scans(self) -> int:
        """Members applied whose scan is owed (`defer`, or a snapshot taken meanwhile)."""
        return len(self._unpatched)

    def forget_pending(self) -> None:
        """Every cache is about to be scanned again (a refresh: after a model change, a bulk
        import, or periodically): the members applied meanwhile need no patching."""
        self._unpatched.clear()

    def rescan(self, member_ids: Iterable[str]) -> None:
        """Fill these members' caches again from a scan of everyone (their own pairs changed:
        exclusions, connections in common)."""
        ids = sorted({m for m in member_ids if m in self.members})
        for member, odds in self.scans(ids):
            self._fill(member, odds)

    def unbuilt(self, limit: int) -> list[str]:
        """Up to `limit` members whose cache is not built (for the background to scan)."""
        n = self.columns.used
        rows = np.flatnonzero(self.columns.live[:n] & ~(self.cache.bound[:n] < np.inf))
        return [str(m) for m in self.columns.ids[rows[:limit]].tolist()]

    def unbuilt_of(self, member_ids: Iterable[str]) -> list[str]:
        """Those of `member_ids` (held) whose cache is not built."""
        members, cache = self.members, self.cache
        return sorted(m for m in member_ids if m in members and not cache.built(members[m].row))

    def _fill(self, member_id: str, odds: npt.NDArray[np.float64]) -> None:
        """The member's cache from its odds with everyone (`_odds_with_everyone`): the best
        `cache.size` of those eligible for its list (shown, not excluded), ties by id."""
        eligible = self._eligible(member_id, odds)
        order = top_rows(eligible, cast(Sequence[str], self.columns.ids), self.cache.size + 1)
        self.cache.fill(self.members[member_id].row, eligible, np.asarray(order, np.int64))

    def _eligible(self, member_id: str, odds: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """`odds` with -inf for candidates the member may not be shown: hidden or excluded."""
        eligible = minus_inf_unless(odds, self.columns.discoverable[: len(odds)])
        for other in self.exclusions.excluded_for(member_id):
            state = self.members.get(other)
            if state is not None and state.row < len(eligible):
                eligible[state.row] = -np.inf
        return eligible

    def _patch_for(self, member_id: str, odds: npt.NDArray[np.float64]) -> list[str]:
        """Fill the changed member's own cache from its scan (`scans`) and patch everyone
        else's; returns the members whose list it may change (see `affected_by`)."""
        columns, cache = self.columns, self.cache
        self._fill(member_id, odds)
        me = self.members[member_id].row
        n = len(odds)
        theirs = odds if self.members[member_id].card.discoverable else np.full(n, -np.inf)
        bound, floor = cache.bound[:n], columns.floor[:n]
        finite = np.isfinite(theirs)
        built = bound < np.inf
        # A cache that ran dry had its list shaped from a full scan, so its cut-off may sit
        # below its bound: a change between the two enters the list without reaching the
        # cache. An unbuilt cache (another replica's member, or one not yet scanned) is
        # decided by the cut-off alone (adopted from its owner's list).
        reached = np.flatnonzero(finite & built & (theirs >= np.minimum(bound, floor)))
        entering = np.flatnonzero(finite & ~built & (theirs >= floor))
        rows = np.union1d(np.union1d(cache.holders(me, n), reached), entering)
        listers = self.listed_in.get(member_id, set())
        out: list[str] = []
        for row in rows.tolist():
            other = columns.ids[row]
            if row == me or other is None:
                continue
            value = float(theirs[row])
            if value > -np.inf and self.exclusions.excludes(other, member_id):
                value = -np.inf
            if built[row]:
                cache.patch(row, me, value)
            if other in listers or (value > -np.inf and value >= floor[row]):
                out.append(other)
        return out

    def _fits(
        self, member_ids: list[str], directions: bool | None = None
    ) -> Iterator[MemberFit | None]:
        """Lexical fits of `member_ids` (all indexed) in that order; endless None without words.
        With the offers↔seeks cosines only if the odds read them (`directions` None) or if
        asked for.

        The words' statistics are frozen at the first fit (`LexicalIndex.freeze`): cached
        pair odds stay exact until `refreeze`."""
        if self.lexical is None:
            return repeat(None)
        if not self.lexical.frozen:
            self.lexical.freeze()
        if directions is None:
            directions = scores_directions(self.weights)
        return self.lexical.fits(member_ids, directions=directions)

    def refreeze(self) -> None:
        """Take the words' statistics (IDF, average length) as they are now: the caches scored
        under the old ones are then off by that drift until each is scanned again (the
        periodic refresh scans everyone after this)."""
        if self.lexical is not None:
            self.lexical.freeze()

    def scans(self, member_ids: Sequence[str]) -> Iterator[tuple[str, npt.NDArray[np.float64]]]:
        """Each member's odds with everyone (`_odds_with_everyone`), in the order given (all
        held), scanned `SCAN_BLOCK` at a time: the dense products of a block are one product
        per kind pair (`_dots_block`: matrix–matrix, or matrix–vector for a block of a few
        rows), so a block of 64 reads everyone once per kind pair, not 64 times."""
        ids = list(member_ids)
        fits = self._fits(ids)
        n = self.columns.used
        documents = DocumentRows.of(self.columns.lexical_rows[:n, 2])
        for start in range(0, len(ids), SCAN_BLOCK):
            block = ids[start : start + SCAN_BLOCK]
            dots = self._dots_block(self._rows_of(block), n)
            for member, fit, member_dots in zip(block, fits, dots, strict=False):
                yield member, self._odds_with_everyone(member, fit, member_dots, documents)

    def _odds_with_everyone(
        self,
        member_id: str,
        fit: MemberFit | None = None,
        dots: Dots | None = None,
        documents: DocumentRows | None = None,
    ) -> npt.NDArray[np.float64]:
        """Per row of the columns (up to `Columns.used`), the odds the member has as a candidate
        in that row's member's list before the list's shaping (-inf: no member there, the
        member itself, or no shared language): scored against all rows at once, symmetric,
        so the same odds the other member's own ranking gives the pair. The member's own
        visibility is the caller's to check; the other's is not in play (`fit`: its
        lexical fit; `dots`: its row of a `_dots_block` over the same `Columns.used`;
        `documents`: the columns' profile documents, `DocumentRows.of` them)."""
        columns = self.columns
        n = columns.used
        me = self.members[member_id].row
        if dots is None:
            dots = self._dots_block(np.asarray([me], dtype=np.int64), n)[0]
        if fast_path(self.weights):
            likeness = None
            if fit is not None and self.lexical is not None:
                if documents is None or len(documents.at) != n:
                    documents = DocumentRows.of(columns.lexical_rows[:n, 2])
                likeness = documents.read(fit.likeness)
            odds = odds_with_everyone(
                MyFacts(
                    offers_kinds=int(columns.offers_kinds[me]),
                    seeks_kinds=int(columns.seeks_kinds[me]),
                    sdgs=int(columns.sdgs[me]),
                    country=int(columns.countries[me]),
                    languages=columns.languages[me],
                    hubs=columns.hubs[me],
                ),
                RowCodes(columns.kind_codes[:n], columns.sdg_codes[:n], columns.place_codes[:n]),
                self.facts,
                dots.profile,
                likeness,
                self._connections_with_everyone(member_id, n),
                self.weights,
            )
            odds[me] = -np.inf
            return odds
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
                dots=dots,
            ),
            self.weights,
        )
        eligible = columns.live[:n] & shares_any(columns.languages[:n], mine.languages[0])
        eligible[me] = False
        return minus_inf_unless(odds, eligible)

    def _dots_block(self, rows: npt.NDArray[np.int64], n: int) -> list[Dots]:
        """The dense inner products of the members at `rows` with the first `n` rows of the
        columns, one `Dots` per member (rows of no member read index row 0 and are masked out
        by the caller).

        The vectors are held on an exact grid (`exact_dots`), so a pair's dot is the same to
        the bit from either side, in any block and by either kernel: the caches compare odds
        that a scan and a patch computed from the two sides. So a block of a few rows takes a
        matrix–vector product per row, which reads everyone once, where a matrix–matrix
        product packs all of them first (at 55,000 members on one thread, 6.4 against 17.4 ms
        for a lone member, `MATRIX_VECTOR_ROWS`); larger blocks take one matrix–matrix
        product."""
        if len(rows) == 0:
            return []
        columns = self.columns
        at = columns.vector_rows[:n]
        products: dict[tuple[VectorKind, VectorKind], npt.NDArray[np.float32]] = {}
        directions = scores_directions(self.weights)
        for mine, theirs in DOT_PAIRS if directions else DOT_PAIRS[:1]:
            my_matrix = self.indexes[mine].matrix
            vectors = my_matrix[columns.vector_rows[rows, DENSE_KINDS.index(mine)]]
            matrix = self.indexes[theirs].matrix
            their_rows = at[:, DENSE_KINDS.index(theirs)]
            extent = int(their_rows.max()) + 1 if n else 0
            held = matrix[:extent]
            if len(rows) <= MATRIX_VECTOR_ROWS:
                block_products = np.stack([held @ vector for vector in vectors])
            else:
                block_products = vectors @ held.T
            if extent >= n and bool(np.all((their_rows == np.arange(n)) | (their_rows < 0))):
                # The index's rows are the columns' (both hand out and reuse rows alike): no
                # gather; a free row reads its own stale row, masked out as row 0 would be.
                products[mine, theirs] = block_products[:, :n]
            else:
                products[mine, theirs] = block_products[:, np.maximum(their_rows, 0)]
        intent = columns.intent[:n]
        seek_to_offer = products.get((VectorKind.SEEKS, VectorKind.OFFERS))
        offer_to_seek = products.get((VectorKind.OFFERS, VectorKind.SEEKS))
        return [
            Dots(
                profile=products[VectorKind.PROFILE, VectorKind.PROFILE][i],
                seek_to_offer=None if seek_to_offer is None else seek_to_offer[i],
                offer_to_seek=None if offer_to_seek is None else offer_to_seek[i],
                intent=intent,
            )
            for i in range(len(rows))
        ]

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

    def _reasons(
        self,
        mine: ReasonsFrom,
        theirs: MemberCard,
        words: list[str],
        shared: npt.NDArray[np.int64] | None,
        row: int,
    ) -> list[Reason]:
        """What they offer that I seek (and the reverse), then the words (`words`: the rarest
        both profiles use) and connections we share, then the rest of the card reasons."""
        reasons = reasons_for(mine, theirs, self.weights)
        extra: list[Reason] = []
        if words:
            extra.append(
                Reason(
                    kind="shared_words",
                    text=f"you both write about {listed(words)}",
                    params={"words": list(words)},
                )
            )
        in_common = int(shared[row]) if shared is not None else 0
        if in_common:
            people = "person" if in_common == 1 else "people"
            text = f"you are both connected to {in_common} {people}"
            extra.append(Reason(kind="shared_connections", text=text, params={"count": in_common}))
        intent = [r for r in reasons if r.kind in INTENT_REASONS]
        return [*intent, *extra, *(r for r in reasons if r.kind not in INTENT_REASONS)]

    def signals(self, member_id: str, others: Sequence[str]) -> PairSignals:
        """The raw pair signals between a member and each of `others` (all held), before
        calibration: what `nnmatch eval --set real` measures the calibration from."""
        if not self.intent_texts:
            raise ValueError("signals need the offers and seeks texts: build with intent_texts")
        everyone = [member_id, *others]
        rows = self._rows_of(everyone)
        features = self._features_at(rows, everyone)
        fit = next(iter(self._fits([member_id], directions=True)))
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

    def _features_at(
        self, rows: npt.NDArray[np.int64], member_ids: Sequence[str], vectors: bool = True
    ) -> Features:
        """The features of the members at `rows` of the columns (`member_ids`, in that order),
        gathered from the columns and the indexes' own matrices; without `vectors` (the list's
        shaping reads only ids, organisations and countries) the vectors are empty."""
        columns = self.columns
        none = np.zeros((0, self.dimensions), dtype=np.float32)
        held = {kind: none for kind in DENSE_KINDS}
        for i, kind in enumerate(DENSE_KINDS if vectors else ()):
            index = self.indexes.get(kind)
            held[kind] = (
                np.zeros((len(rows), self.dimensions), dtype=np.float32)  # not held: unread
                if index is None
                else index.matrix[columns.vector_rows[rows, i]]
            )
        return Features(
            ids=member_ids,
            profile=held[VectorKind.PROFILE],
            offers=held[VectorKind.OFFERS],
            seeks=held[VectorKind.SEEKS],
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

    def matches_for(self, member_ids: Iterable[str], now: datetime) -> dict[str, list[Suggestion]]:
        """Ranked suggestions for each member: its best candidates over everyone, shaped.

        Each list is shaped (exposure, diversity) from the member's candidate cache, scanned
        first if not built; equal to shaping every member's odds (`exact_picks`) whenever
        the cache is sure of it, else (the cache ran dry) the member is scanned again.
        Members are ranked in id order, each seeing the exposure left by those before it, so
        a batch gives the same lists whatever order its ids came in. Candidates are ranked by
        their odds (`ranking.LOGISTIC_SCALE`) after the list's shaping; a suggestion shows
        odds / (1 + odds), 0 to 1.
        """
        ids = sorted({m for m in member_ids if m in self.members})
        results: dict[str, list[Suggestion]] = {}
        for start in range(0, len(ids), SCAN_BLOCK):
            chunk = ids[start : start + SCAN_BLOCK]
            # Scanned together, in one block, before the chunk is ranked: caches not built,
            # and those that cannot be sure of their list at the exposure as it stands (a
            # scan does not depend on exposure, so it is the one ranking would make alone).
            known = {m: self.cached_picks(m) for m in chunk}
            scanned = dict(self.scans([m for m, picks in known.items() if picks is None]))
            for member_id, scan in scanned.items():
                self._fill(member_id, scan)
            # Rows whose exposure the chunk's lists so far changed.
            moved = np.zeros(self.columns.used, dtype=bool)
            for member_id in chunk:
                picks = known[member_id]
                if picks is None or self._holds_any(member_id, moved):
                    picks = self.picks(member_id, scanned.get(member_id))
                results[member_id] = self._suggestions(member_id, picks, now)
                changed = self._record_listing(member_id, [m for m, _ in picks])
                moved[list(changed)] = True
                full = len(picks) >= self.top_n
                # Shaped odds: `_patch_for` compares a pair's odds (shaping only lowers them)
                # against it.
                self.columns.floor[self.members[member_id].row] = picks[-1][1] if full else -1.0
        return results

    def picks(
        self, member_id: str, scan: npt.NDArray[np.float64] | None = None
    ) -> list[tuple[str, float]]:
        """The member's list (candidate, shaped odds) as `matches_for` ranks it: from its
        cache, scanned again first if it ran dry (`scan`: its odds with everyone, already
        scanned and its cache filled from them)."""
        picks = self.cached_picks(member_id)
        if picks is not None:
            return picks
        if scan is None:
            _, scan = next(self.scans([member_id]))
            self._fill(member_id, scan)
            picks = self.cached_picks(member_id)
        # None: diversity reaches past the whole cache, so shape everyone.
        return picks if picks is not None else self._shaped(member_id, scan)

    def cached_picks(self, member_id: str) -> list[tuple[str, float]] | None:
        """The member's list (candidate, shaped odds) from its cache; None if the cache
        cannot be sure of it (ran dry) or is not built."""
        row = self.members[member_id].row
        if not self.cache.built(row):
            return None
        rows, odds = self.cache.held(row)
        ids = [str(m) for m in self.columns.ids[rows].tolist()]
        scores = odds * self._exposure_factors(member_id, ids)
        features = self._features_at(rows, ids, vectors=False)
        picks = diverse_within(
            scores, features, self.top_n, self.weights, float(self.cache.bound[row])
        )
        return None if picks is None else [(ids[i], value) for i, value in picks]

    def exact_picks(self, member_id: str) -> list[tuple[str, float]]:
        """The member's list shaped from its odds with every member, no cache: what a patched
        list must equal (tests and the bench check it), and the fallback when diversity
        reaches past the cache."""
        _, scan = next(self.scans([member_id]))
        return self._shaped(member_id, scan)

    def _shaped(self, member_id: str, scan: npt.NDArray[np.float64]) -> list[tuple[str, float]]:
        """The member's list shaped from its odds with everyone (`scans`)."""
        odds = self._eligible(member_id, scan)
        n = len(odds)
        ids = cast(Sequence[str], self.columns.ids[:n])
        rows = np.flatnonzero(np.isfinite(odds))
        live = [str(m) for m in self.columns.ids[rows].tolist()]
        scores = np.full(n, -np.inf)
        scores[rows] = odds[rows] * self._exposure_factors(member_id, live)
        features = self._features_at(np.arange(n), ids, vectors=False)
        picks = diverse_rows(scores, features, self.top_n, self.weights)
        return [(str(ids[i]), value) for i, value in picks]

    def _exposure_factors(
        self, member_id: str, candidates: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        if self.weights.exposure_cap <= 0:
            return np.ones(len(candidates))
        return exposure_factors(self.exposure(member_id, candidates), self.weights)

    def _suggestions(
        self, member_id: str, picks: list[tuple[str, float]], now: datetime
    ) -> list[Suggestion]:
        my_card = ReasonsFrom.of(self.members[member_id].card)
        picked = [m for m, _ in picks]
        shared = self._connections_in_common(member_id, picked)
        words = (
            self.lexical.shared_words(member_id, picked)
            if self.lexical is not None and self.weights.lexical
            else [[] for _ in picked]
        )
        suggestions = []
        for i, (other_id, score) in enumerate(picks):
            other = self.members[other_id].card
            # Not validated again: every field comes from a validated card (the same limits),
            # a score in [0, 1] and reasons already built as models; validating 20 of them
            # was 7% of ranking a list (a unit test validates what this builds).
            suggestions.append(
                Suggestion.model_construct(
                    member_id=other_id,
                    display_name=other.display_name,
                    headline=other.headline,
                    country=other.country,
                    score=round(shown_score(score), 4),
                    reasons=self._reasons(my_card, other, words[i], shared, i),
                    computed_at=now,
                )
            )
        return suggestions

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

    def _record_listing(self, member_id: str, listed: list[str]) -> set[int]:
        """Take `listed` as the member's list; returns the rows of the candidates whose
        exposure it changed (those that entered or left it)."""
        before = self._lists.get(member_id, ())
        for other in before:
            self.listed_in.get(other, set()).discard(member_id)
        self._lists[member_id] = listed
        for other in listed:
            self.listed_in.setdefault(other, set()).add(member_id)
        members = self.members
        return {members[m].row for m in set(before).symmetric_difference(listed) if m in members}

    def _holds_any(self, member_id: str, rows: npt.NDArray[np.bool_]) -> bool:
        """True if the member's cache holds a candidate at a row marked in `rows` (a mask
        over the columns' rows)."""
        held, _ = self.cache.held(self.members[member_id].row)
        return bool(rows[held].any())

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
            caches=self._export_caches([s.row for s in states]) if with_vectors else None,
            words_frozen=self.lexical.frozen_stats() if self.lexical is not None else None,
            intent_texts=self.intent_texts,
        )

    def _export_caches(self, rows: list[int]) -> CacheState:
        """The caches of the members at `rows`, candidates as indexes into that order."""
        cache = self.cache
        index = np.full(max(self.columns.used, 1), -1, dtype=np.int32)
        at = np.asarray(rows, dtype=np.int64)
        index[at] = np.arange(len(rows), dtype=np.int32)
        held = cache.rows[at]
        return CacheState(
            candidates=np.where(held >= 0, index[np.maximum(held, 0)], -1).astype(np.int32),
            odds=cache.odds[at].copy(),
            bound=cache.bound[at].copy(),
            unpatched=sorted(self._unpatched),
        )

    def _import_caches(self, member_ids: list[str], caches: CacheState) -> None:
        """Caches exported by `_export_caches` (same cache size; else left to be scanned)."""
        if caches.candidates.shape != (len(member_ids), self.cache.size):
            return
        rows = self._rows_of(member_ids)
        self.cache.ensure(self.columns.used)
        held = caches.candidates
        self.cache.rows[rows] = np.where(held >= 0, rows[np.maximum(held, 0)], -1)
        self.cache.odds[rows] = caches.odds
        self.cache.length[rows] = (held >= 0).sum(axis=1)
        self.cache.bound[rows] = caches.bound
        self._unpatched.update(m for m in caches.unpatched if m in self.members)

    def import_state(self, state: EngineState) -> None:
        """Load an exported state into this (empty) engine, as if its records were applied."""
        if self.members:
            raise ValueError("import_state needs an empty engine")
        if self.intent_texts and not state.intent_texts:
            raise ValueError("the state holds no offers and seeks texts; this engine scores them")
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
        self._unpatched.clear()  # the caches come with the state, or are scanned
        if state.words_frozen is not None and self.lexical is not None:
            self.lexical.restore_frozen(state.words_frozen)
        if state.caches is not None:
            self._import_caches(state.member_ids, state.caches)
        self.caches_current = self.cache.built_rows(self.columns.used).size > 0 and (
            self.lexical is None or state.words_frozen is not None
        )
