"""One member's odds with everyone in a few passes over the columns: the scans' hot path.

`ranking.pair_odds` is the reference: it spells each signal out per candidate, about fifty
numpy passes over 55,000 rows, each a fresh array out of cache (3 ms a member on 2 cores,
three minutes for every member). Most of those passes read card facts that take few distinct
values: the kinds a member offers and seeks, their SDGs, and where they are (country, hubs,
languages). So each distinct value gets a code (`FactCodes`), the member's terms are computed
once per distinct value (a table of hundreds or thousands, not 55,000), and each row reads its
terms by one gather of its code. The constants of the calibrations and the logistic scale are
folded into the coefficients and tables.

The odds equal the reference's to rounding (tests compare them), and are as symmetric per
pair as their inputs: every term is the same function of the pair's facts from either side,
added in the same order (the words' BM25 itself may differ in the last bit from either side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nnmatch_matching.matcher import ranking
from nnmatch_matching.matcher.ranking import RankingWeights, shares_any

NO_PLACE = 0
"""The place code of a row with no member: its odds are -inf."""
ODDS_FORMULA = "tables-2+exact-dots"
"""Names how the scans compute odds (this module, over vectors held on `exact_dots`' grid):
cached odds saved under another formula differ from a new scan's in the last bits, so a
snapshot's caches are kept only if it matches."""


def _grown(values: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    if size <= len(values):
        return values
    grown = np.zeros((max(size, 2 * len(values)), *values.shape[1:]), dtype=values.dtype)
    grown[: len(values)] = values
    return grown


def _words_key(words: npt.NDArray[np.uint64]) -> tuple[int, ...]:
    """A bitmask row as a key that does not change when the masks widen by a word."""
    values = [int(w) for w in words.tolist()]
    while values and values[-1] == 0:
        values.pop()
    return tuple(values)


class FactCodes:
    """The distinct card facts seen so far, each with a code (codes are never reused).

    Kinds: (offers, seeks) kind bitmasks. SDGs: the SDG bitmask. Places: (country code,
    language bitmask, hub bitmask), code 0 kept for "no member"."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[int, int], int] = {}
        self._sdgs: dict[int, int] = {}
        self._places: dict[tuple[int, tuple[int, ...], tuple[int, ...]], int] = {}
        self.kind_offers = np.zeros(16, dtype=np.uint32)
        self.kind_seeks = np.zeros(16, dtype=np.uint32)
        self.sdg_masks = np.zeros(16, dtype=np.uint32)
        self.place_countries = np.full(16, -1, dtype=np.int64)
        self.place_languages = np.zeros((16, 1), dtype=np.uint64)
        self.place_hubs = np.zeros((16, 1), dtype=np.uint64)
        self.places = 1  # code 0: no member (no language, so nobody's candidate)

    @property
    def kinds(self) -> int:
        return len(self._kinds)

    @property
    def sdgs(self) -> int:
        return len(self._sdgs)

    def kind_code(self, offers: int, seeks: int) -> int:
        code = self._kinds.get((offers, seeks))
        if code is None:
            code = self._kinds[offers, seeks] = len(self._kinds)
            self.kind_offers = _grown(self.kind_offers, code + 1)
            self.kind_seeks = _grown(self.kind_seeks, code + 1)
            self.kind_offers[code], self.kind_seeks[code] = offers, seeks
        return code

    def sdg_code(self, mask: int) -> int:
        code = self._sdgs.get(mask)
        if code is None:
            code = self._sdgs[mask] = len(self._sdgs)
            self.sdg_masks = _grown(self.sdg_masks, code + 1)
            self.sdg_masks[code] = mask
        return code

    def place_code(
        self, country: int, languages: npt.NDArray[np.uint64], hubs: npt.NDArray[np.uint64]
    ) -> int:
        """The code of a place; `languages` and `hubs` are the row's bitmask words (as wide
        as the columns': `widen` first)."""
        key = (country, _words_key(languages), _words_key(hubs))
        code = self._places.get(key)
        if code is None:
            code = self._places[key] = self.places
            self.places += 1
            self.place_countries = _grown(self.place_countries, code + 1)
            self.place_languages = _grown(self.place_languages, code + 1)
            self.place_hubs = _grown(self.place_hubs, code + 1)
            self.widen(len(languages), len(hubs))
            self.place_countries[code] = country
            self.place_languages[code] = languages
            self.place_hubs[code] = hubs
        return code

    def widen(self, languages: int, hubs: int) -> None:
        """Bitmask tables at least this many words wide (as the columns')."""
        if languages > self.place_languages.shape[1]:
            extra = languages - self.place_languages.shape[1]
            self.place_languages = np.pad(self.place_languages, ((0, 0), (0, extra)))
        if hubs > self.place_hubs.shape[1]:
            extra = hubs - self.place_hubs.shape[1]
            self.place_hubs = np.pad(self.place_hubs, ((0, 0), (0, extra)))


@dataclass(frozen=True)
class MyFacts:
    """The scanned member's own card facts, as the columns hold them."""

    offers_kinds: int
    seeks_kinds: int
    sdgs: int
    country: int
    languages: npt.NDArray[np.uint64]  # bitmask words
    hubs: npt.NDArray[np.uint64]


@dataclass(frozen=True)
class RowCodes:
    """Per row of the columns (up to the scanned extent): its codes in `FactCodes`."""

    kinds: npt.NDArray[np.int32]
    sdgs: npt.NDArray[np.int32]
    places: npt.NDArray[np.int32]


LOWEST_EXPONENT = -700.0
"""e^t for t below about -745 is 0, and 0 × -inf (a row with no shared language) is NaN."""


def fast_path(weights: RankingWeights) -> bool:
    """Whether `odds_with_everyone` scores these weights: all but the offers↔seeks fit, whose
    per-pair harmonic mean the reference computes (`ranking.scores_directions`), and weights
    so large that a pair's exponent could fall below `LOWEST_EXPONENT` (the other terms are
    never negative: their weights are not, and the words' log(WORDS_FLOOR + BM25) is not
    while the floor is at least 1)."""
    if weights.lexical and ranking.WORDS_FLOOR < 1:
        return False
    profile, lexical = ranking.PROFILE_CALIBRATION, ranking.LEXICAL_CALIBRATION
    lowest = -weights.profile * (1.0 + profile.mean) / profile.spread
    lowest -= weights.lexical * lexical.mean / lexical.spread
    return weights.reciprocal == 0 and lowest / ranking.LOGISTIC_SCALE > LOWEST_EXPONENT


def odds_with_everyone(
    me: MyFacts,
    codes: RowCodes,
    facts: FactCodes,
    profile_dots: npt.NDArray[np.floating[Any]],
    likeness: npt.NDArray[np.float64] | None,
    connections: npt.NDArray[np.int64] | None,
    weights: RankingWeights,
) -> npt.NDArray[np.float64]:
    """Per row, the pair odds of `ranking.pair_odds` (before the list's shaping), -inf where
    the row has no member or shares no language with me; the caller masks its own row.

    `profile_dots`: the profile vectors' inner products per row; `likeness`: the whole
    profiles' symmetric BM25 per row (None: no words are scored); `connections`: members in
    common per row (None: none)."""
    # Read at call time, as the reference reads them.
    scale, profile_calibration = ranking.LOGISTIC_SCALE, ranking.PROFILE_CALIBRATION
    lexical_calibration = ranking.LEXICAL_CALIBRATION
    words = likeness is not None and weights.lexical != 0
    constant = -weights.profile * profile_calibration.mean / profile_calibration.spread
    if words:
        constant -= weights.lexical * lexical_calibration.mean / lexical_calibration.spread
    k = facts.kinds
    wanted = (facts.kind_offers[:k] & np.uint32(me.seeks_kinds)) != 0
    wanting = (facts.kind_seeks[:k] & np.uint32(me.offers_kinds)) != 0
    kinds = (wanted.view(np.uint8) + wanting.view(np.uint8)) * 0.5
    kinds_terms = (weights.kinds * kinds + constant) / scale
    s = facts.sdgs
    masks = facts.sdg_masks[:s]
    union = np.bitwise_count(masks | np.uint32(me.sdgs)).astype(np.float64)
    shared = np.bitwise_count(masks & np.uint32(me.sdgs)).astype(np.float64)
    jaccard = np.divide(shared, union, out=np.zeros_like(union), where=union > 0)
    sdg_terms = weights.shared_sdgs * jaccard / scale
    p = facts.places
    speaks = shares_any(facts.place_languages[:p], me.languages)
    across = (facts.place_countries[:p] != me.country) & ~shares_any(facts.place_hubs[:p], me.hubs)
    factors = 1.0 + weights.cross_region_boost * across
    factors[~speaks] = -np.inf  # exp(t) > 0, so the odds read -inf
    factors[NO_PLACE] = -np.inf

    profile = weights.profile / profile_calibration.spread / scale
    t: npt.NDArray[np.float64] = np.multiply(profile_dots, profile, dtype=np.float64)
    t += kinds_terms.take(codes.kinds)
    t += sdg_terms.take(codes.sdgs)
    if words:
        assert likeness is not None
        # log(WORDS_FLOOR + BM25) as the reference spells it: numpy's log runs in AVX2
        # lanes, its log1p (without AVX-512) one element at a time (0.24 against 0.69 ms at
        # 55,000 rows).
        lexical = np.add(likeness, ranking.WORDS_FLOOR, dtype=np.float64)
        np.log(lexical, out=lexical)
        lexical *= weights.lexical / lexical_calibration.spread / scale
        t += lexical
    if connections is not None and weights.connections:
        shared_rows = np.flatnonzero(connections)
        t[shared_rows] += weights.connections * np.log1p(connections[shared_rows]) / scale
    np.exp(t, out=t)
    t *= factors.take(codes.places)
    return t
