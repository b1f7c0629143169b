"""The lexical side of member-to-member matching: whose words meet whose.

Pure: no I/O and no clock. Every member has up to three documents in two BM25 indexes
(`lexical.py`): their whole profile (every word they wrote, bio included, as the embedder
counted it: `embedding/words.py`) in one, with its own IDF and average length; what they offer
(offers text and expertise) and what they seek (seeks text and interests) in the other, which
share a vocabulary and IDF, held only when the offers↔seeks fit is weighed (`directions`).
Whole profiles are compared by symmetric BM25 (`LexicalIndex.dots`:
`likeness`, the same work in the same words); a member's seeks with everyone's offers and their
offers with everyone's seeks (the two directions of the reciprocal fit) by the cosine of their
BM25 vectors. Being symmetric, the pair (A, B) gets the same numbers from A's side as from
B's, so the blended score stays symmetric and reverse updates can still be decided from the
changed member's side (see `MatchEngine.affected_by`).

Members are compared in chunks (the work walks the postings of a member's words), so a batch
of any size needs memory for `chunk` rows of scores only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard
from nnmatch_matching.embedding.words import own_forms, stem, terms, tokens
from nnmatch_matching.matcher.lexical import FrozenStats, LexicalIndex, Mask, Scores
from nnmatch_matching.matcher.written_forms import WrittenForms

LEXICAL_CANDIDATE_K = 50
"""Lexical candidates per direction by default (`NNMATCH_LEXICAL_CANDIDATE_K`)."""
OFFERS, SEEKS = "o:", "s:"  # document name prefixes; member ids never contain ':'


def offers_words(card: MemberCard) -> str:
    """What the member offers in their own words: offers text and expertise.

    The kinds are left out: they are matched exactly by the kinds signal, and their stock
    phrases meet only by chance ("mentoring" / "a mentor" do, "talks" / "speakers" do not)."""
    return " ".join(p for p in (card.offers_text, ", ".join(card.expertise)) if p)


def seeks_words(card: MemberCard) -> str:
    """What the member seeks in their own words: seeks text and interests."""
    return " ".join(p for p in (card.seeks_text, ", ".join(card.interests)) if p)


def card_words(card: MemberCard) -> str:
    """The card's own words (no bio): the profile document of a member whose vectors came
    without the whole profile's terms (from an embedder older than them)."""
    return " ".join(p for p in (card.headline, offers_words(card), seeks_words(card)) if p)


@dataclass(frozen=True)
class LexicalSides:
    """Per candidate (row-aligned): how well their offers words meet my seeks words (`wanted`),
    my offers words meet their seeks words (`wanting`), and their whole profile's words mine
    (`likeness`): the two are cosines in [0, 1], the likeness a symmetric BM25 score (≥ 0)."""

    wanted: npt.NDArray[np.float64] | None  # None: the directions were not computed
    wanting: npt.NDArray[np.float64] | None
    likeness: npt.NDArray[np.float64]
    has_words: npt.NDArray[np.bool_]  # both profiles hold words (else likeness says nothing)


@dataclass(frozen=True)
class MemberFit:
    """One member's cosines with every document of the index (rows as the index's)."""

    member_id: str
    wanted: Scores | None  # my seeks document against every document (read on offers rows)
    wanting: Scores | None  # my offers document against every document (read on seeks rows)
    likeness: Scores  # my profile document's symmetric BM25 with every profile document
    has_words: bool = True  # my profile document holds a word
    # wanted and wanting are None when the fit was taken without its directions (`fits`).


class LexicalFit:
    def __init__(self, index: LexicalIndex | None = None, directions: bool = True) -> None:
        """Without `directions` only whole profiles are indexed: the offers and seeks
        documents are neither analysed nor held (the matcher's default, whose odds never read
        the offers↔seeks fit), and `fits` can only be taken without its directions."""
        self.directions = directions
        self.index = index or LexicalIndex()  # offers and seeks documents
        self.profiles = LexicalIndex()  # whole-profile documents
        self._rows: dict[str, tuple[int, int, int]] = {}  # offers, seeks, profile rows
        self._offers_rows: Mask = np.zeros(0, dtype=bool)  # offers documents of the shown
        self._seeks_rows: Mask = np.zeros(0, dtype=bool)  # seeks documents of the shown
        self._profile_rows: Mask = np.zeros(0, dtype=bool)  # profile documents of the shown
        self._forms = WrittenForms()  # the word each stemmed term is shown as

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    def upsert(
        self, member_id: str, card: MemberCard, profile: Mapping[str, int] | None = None
    ) -> None:
        """Index a member: `profile` is their whole profile's counted words (the vectors
        event's); without them the card's own words stand in."""
        words = profile or Counter(tokens(card_words(card)))
        stemmed = [(stem(word), word, count) for word, count in sorted(words.items())]
        whole = [term for term, _, count in stemmed for _ in range(count)]
        if self.directions:
            offers, seeks = terms(offers_words(card)), terms(seeks_words(card))
        else:
            offers = seeks = []
        self.upsert_terms(member_id, offers, seeks, whole, card)
        self._forms.hold(member_id, own_forms((term, word) for term, word, _ in stemmed))

    def upsert_terms(
        self,
        member_id: str,
        offers: Sequence[str],
        seeks: Sequence[str],
        profile: Sequence[str],
        card: MemberCard,
    ) -> None:
        """Index a member from already analysed words (analysis is the slow part); without
        `directions` the offers and seeks words are ignored (their rows read -1)."""
        self._clear_masks(member_id)
        if self.directions:
            offers_row = self.index.upsert_terms(OFFERS + member_id, offers)
            seeks_row = self.index.upsert_terms(SEEKS + member_id, seeks)
        else:
            offers_row = seeks_row = -1
        rows = (offers_row, seeks_row, self.profiles.upsert_terms(member_id, profile))
        self._rows[member_id] = rows
        self._grow(max(rows) + 1)  # one size for all three masks: the larger index's
        if self.directions:
            self._offers_rows[offers_row] = card.discoverable
            self._seeks_rows[seeks_row] = card.discoverable
        self._profile_rows[rows[2]] = card.discoverable

    def freeze(self) -> None:
        """Hold both indexes' statistics as they are now (`LexicalIndex.freeze`): pair scores
        stay put until the next freeze."""
        self.index.freeze()
        self.profiles.freeze()

    @property
    def frozen(self) -> bool:
        return self.profiles.frozen

    def frozen_stats(self) -> tuple[FrozenStats, FrozenStats] | None:
        """Both indexes' held statistics (offers/seeks, profiles); None: not frozen."""
        words, profiles = self.index.frozen_stats(), self.profiles.frozen_stats()
        return None if words is None or profiles is None else (words, profiles)

    def restore_frozen(self, stats: tuple[FrozenStats, FrozenStats]) -> None:
        """Hold statistics from `frozen_stats` (a snapshot's), as `freeze` would (the offers
        and seeks ones only if those documents are held)."""
        if self.directions:
            self.index.restore_frozen(stats[0])
        else:
            self.index.freeze()  # empty, as `freeze` leaves it: held statistics of nothing
        self.profiles.restore_frozen(stats[1])

    def profile_words(self, member_id: str) -> dict[str, int]:
        """The member's whole-profile document as counted words, each term in the member's own
        (shortest) form of it: what a snapshot keeps, so a restore shows the same words."""
        counts = self.profiles.term_counts(member_id)
        own = self._forms.member_forms(member_id)
        return {own.get(term, term): count for term, count in counts.items()}

    def shared_words(self, member_id: str, others: Sequence[str], k: int = 3) -> list[list[str]]:
        """Per one of `others`, the `k` rarest words both members' profiles use, each as
        `WrittenForms` shows it (the shortest form a current member wrote it in)."""
        shared = self.profiles.shared_terms_many(member_id, others, k)
        return [[self._forms.shown(t) for t in terms] for terms in shared]

    def remove(self, member_id: str) -> None:
        self._clear_masks(member_id)
        self._forms.release(member_id)
        if self._rows.pop(member_id, None) is not None:
            if self.directions:
                self.index.remove(OFFERS + member_id)
                self.index.remove(SEEKS + member_id)
            self.profiles.remove(member_id)

    def _clear_masks(self, member_id: str) -> None:
        rows = self._rows.get(member_id)
        if rows is not None:
            if self.directions:
                self._offers_rows[rows[0]] = self._seeks_rows[rows[1]] = False
            self._profile_rows[rows[2]] = False

    def _grow(self, size: int) -> None:
        if size > len(self._offers_rows):
            extra = np.zeros(max(size, 2 * len(self._offers_rows)) - len(self._offers_rows), bool)
            self._offers_rows = np.concatenate([self._offers_rows, extra])
            self._seeks_rows = np.concatenate([self._seeks_rows, extra])
            self._profile_rows = np.concatenate([self._profile_rows, extra])

    def fits(
        self, member_ids: Iterable[str], chunk: int = 16, directions: bool = True
    ) -> Iterator[MemberFit]:
        """Each member's fit with everyone, in the order given, `chunk` at a time (all of them
        must be indexed: the caller pairs the fits with its own list). Without `directions`
        only the whole profiles' likeness is computed (the offers↔seeks cosines are None)."""
        if directions and not self.directions:
            raise ValueError("the offers↔seeks directions of a fit that holds no offers or seeks")
        ids = list(member_ids)
        # Compacting here, not per upsert, folds a whole batch of changes (or a replay of
        # every member) into one compile.
        if directions:
            self.index.maybe_compact()
        self.profiles.maybe_compact()
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            n = len(part)
            cosines: list[Scores | None] = [None] * (2 * n)
            if directions:
                cosines = list(self.index.cosines([self._rows[m][s] for s in (1, 0) for m in part]))
            likeness = self.profiles.dots([self._rows[m][2] for m in part])
            for i, member_id in enumerate(part):
                words = self.profiles.length(member_id) > 0
                yield MemberFit(member_id, cosines[i], cosines[n + i], likeness[i], words)

    def candidates(self, fit: MemberFit, k: int, excluded: Iterable[str] = ()) -> set[str]:
        """The `k` shown members whose offers best meet my seeks, the `k` whose seeks my offers
        best meet, and the `k` whose whole profile's words best meet mine (positive cosines
        only; never me or `excluded`; ties at the cut in)."""
        if k <= 0:
            return set()
        dropped = [self._rows[m] for m in {fit.member_id, *excluded} if m in self._rows]
        out: set[str] = set()
        for scores, mask, side, names, prefix in (
            (fit.wanted, self._offers_rows, 0, self.index.names, len(OFFERS)),
            (fit.wanting, self._seeks_rows, 1, self.index.names, len(SEEKS)),
            (fit.likeness, self._profile_rows, 2, self.profiles.names, 0),
        ):
            if scores is None:
                continue  # a fit without its directions
            allowed = mask[: len(scores)] & (scores > 0)
            allowed[[rows[side] for rows in dropped if rows[side] < len(allowed)]] = False
            rows = np.flatnonzero(allowed)
            if len(rows) > k:
                values = scores[rows]
                cutoff = np.partition(values, len(values) - k)[len(values) - k]
                rows = rows[values >= cutoff]
            out.update(name[prefix:] for name in (names[r] for r in rows.tolist()) if name)
        return out

    def rows(self, member_id: str) -> tuple[int, int, int]:
        """The member's (offers, seeks, profile) document rows; -1s if not indexed. Stable
        while the member stays indexed (a caller may keep them, e.g. as a column)."""
        return self._rows.get(member_id, _NONE)

    def has_words(self, member_id: str) -> bool:
        """True if the member's whole-profile document holds a word."""
        return self.profiles.length(member_id) > 0

    def sides(self, fit: MemberFit, member_ids: Sequence[str]) -> LexicalSides:
        """`fit` read for each of `member_ids` (0 for one not indexed)."""
        rows = np.array([self.rows(m) for m in member_ids], np.int64).reshape(-1, 3)
        has_words = np.fromiter((self.has_words(m) for m in member_ids), bool, len(member_ids))
        return self.sides_at(fit, rows, has_words)

    @staticmethod
    def sides_at(fit: MemberFit, rows: npt.NDArray[np.int64], has_words: Mask) -> LexicalSides:
        """`fit` read at document rows (n × 3: offers, seeks, profile, as `rows`; -1: not
        indexed, read as 0) of members whose profiles hold words where `has_words`: array
        operations only, for any number of members."""
        return LexicalSides(
            None if fit.wanted is None else DocumentRows.of(rows[:, 0]).read(fit.wanted),
            None if fit.wanting is None else DocumentRows.of(rows[:, 1]).read(fit.wanting),
            DocumentRows.of(rows[:, 2]).read(fit.likeness),
            has_words & fit.has_words,
        )


@dataclass(frozen=True)
class DocumentRows:
    """Where each row's document is, prepared once for many reads (a scan block reads one
    member's whole-profile likeness with everyone per member): one gather a read, and a
    fix-up only where a row has no document."""

    at: npt.NDArray[np.int64]  # the document row, 0 where there is none
    missing: npt.NDArray[np.int64]  # the rows with no document (read as 0)

    @classmethod
    def of(cls, rows: npt.NDArray[np.int64]) -> DocumentRows:
        """From document rows (-1: none)."""
        return cls(np.maximum(rows, 0), np.flatnonzero(rows < 0))

    def read(self, scores: Scores) -> Scores:
        """`scores` (one per document) read at each row, 0 where a row has none."""
        out = scores.take(self.at)
        out[self.missing] = 0.0
        return out


_NONE = (-1, -1, -1)  # the rows of a member not indexed
