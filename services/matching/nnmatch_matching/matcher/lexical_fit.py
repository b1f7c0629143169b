"""The lexical side of member-to-member matching: whose offers words meet whose seeks words.

Pure: no I/O and no clock. Every member has two documents in one BM25 index (`lexical.py`,
shared vocabulary and IDF): what they offer (their offers text and expertise) and what they
seek (their seeks text and interests) — their own words among those the offers and seeks
vectors are embedded from (`texts.py`). A member's seeks document is
compared with everyone's offers documents, and their offers document with everyone's seeks
documents, by the cosine of BM25 vectors. Being symmetric, the pair (A, B) gets the same two
numbers from A's side as from B's, so the reciprocal score stays symmetric and reverse updates
can still be decided from the changed member's side (see `MatchEngine.affected_by`).

Members are compared in chunks (the work walks the postings of a member's words), so a batch
of any size needs memory for `chunk` rows of scores only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard
from nnmatch_matching.matcher.lexical import LexicalIndex, Mask, Scores, terms

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


@dataclass(frozen=True)
class LexicalSides:
    """Per candidate (row-aligned): how well their offers words meet my seeks words (`wanted`)
    and my offers words meet their seeks words (`wanting`); cosines in [0, 1]."""

    wanted: npt.NDArray[np.float64]
    wanting: npt.NDArray[np.float64]


@dataclass(frozen=True)
class MemberFit:
    """One member's cosines with every document of the index (rows as the index's)."""

    member_id: str
    wanted: Scores  # my seeks document against every document (read on offers rows)
    wanting: Scores  # my offers document against every document (read on seeks rows)


class LexicalFit:
    def __init__(self, index: LexicalIndex | None = None) -> None:
        self.index = index or LexicalIndex()
        self._rows: dict[str, tuple[int, int]] = {}
        self._offers_rows: Mask = np.zeros(0, dtype=bool)  # offers documents of the shown
        self._seeks_rows: Mask = np.zeros(0, dtype=bool)  # seeks documents of the shown

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    def upsert(self, member_id: str, card: MemberCard) -> None:
        self.upsert_terms(member_id, terms(offers_words(card)), terms(seeks_words(card)), card)

    def upsert_terms(
        self, member_id: str, offers: Sequence[str], seeks: Sequence[str], card: MemberCard
    ) -> None:
        """Index a member from already analysed words (analysis is the slow part)."""
        self._clear_masks(member_id)
        rows = (
            self.index.upsert_terms(OFFERS + member_id, offers),
            self.index.upsert_terms(SEEKS + member_id, seeks),
        )
        self._rows[member_id] = rows
        self._grow(max(rows) + 1)
        self._offers_rows[rows[0]] = card.discoverable
        self._seeks_rows[rows[1]] = card.discoverable

    def remove(self, member_id: str) -> None:
        self._clear_masks(member_id)
        if self._rows.pop(member_id, None) is not None:
            self.index.remove(OFFERS + member_id)
            self.index.remove(SEEKS + member_id)

    def _clear_masks(self, member_id: str) -> None:
        rows = self._rows.get(member_id)
        if rows is not None:
            self._offers_rows[rows[0]] = self._seeks_rows[rows[1]] = False

    def _grow(self, size: int) -> None:
        if size > len(self._offers_rows):
            extra = np.zeros(max(size, 2 * len(self._offers_rows)) - len(self._offers_rows), bool)
            self._offers_rows = np.concatenate([self._offers_rows, extra])
            self._seeks_rows = np.concatenate([self._seeks_rows, extra])

    def fits(self, member_ids: Iterable[str], chunk: int = 16) -> Iterator[MemberFit]:
        """Each member's fit with everyone, in the order given, `chunk` at a time (all of them
        must be indexed: the caller pairs the fits with its own list)."""
        ids = list(member_ids)
        # Compacting here, not per upsert, folds a whole batch of changes (or a replay of
        # every member) into one compile.
        self.index.maybe_compact()
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            rows = [self._rows[m][1] for m in part] + [self._rows[m][0] for m in part]
            cosines = self.index.cosines(rows)
            for i, member_id in enumerate(part):
                yield MemberFit(member_id, cosines[i], cosines[len(part) + i])

    def candidates(self, fit: MemberFit, k: int, excluded: Iterable[str] = ()) -> set[str]:
        """The `k` shown members whose offers best meet my seeks, and the `k` whose seeks my
        offers best meet (positive cosines only; never me or `excluded`; ties at the cut in)."""
        if k <= 0:
            return set()
        drop = [r for m in {fit.member_id, *excluded} for r in self._rows.get(m, ())]
        names = self.index.names
        out: set[str] = set()
        for scores, mask in ((fit.wanted, self._offers_rows), (fit.wanting, self._seeks_rows)):
            allowed = mask[: len(scores)] & (scores > 0)
            allowed[[r for r in drop if r < len(allowed)]] = False
            rows = np.flatnonzero(allowed)
            if len(rows) > k:
                values = scores[rows]
                cutoff = np.partition(values, len(values) - k)[len(values) - k]
                rows = rows[values >= cutoff]
            out.update(name[2:] for name in (names[r] for r in rows.tolist()) if name)
        return out

    def sides(self, fit: MemberFit, member_ids: Sequence[str]) -> LexicalSides:
        """`fit` read for each of `member_ids` (0 for one not indexed)."""
        offers = np.fromiter((self._rows.get(m, (-1, -1))[0] for m in member_ids), np.int64)
        seeks = np.fromiter((self._rows.get(m, (-1, -1))[1] for m in member_ids), np.int64)
        wanted = np.where(offers >= 0, fit.wanted[np.maximum(offers, 0)], 0.0)
        wanting = np.where(seeks >= 0, fit.wanting[np.maximum(seeks, 0)], 0.0)
        return LexicalSides(wanted, wanting)
