"""Pure ranking: score candidates so both sides want each other, filter, shape, say why.

No I/O and no clock: row-aligned candidate features and weights in; blended scores, diverse
picks and reasons out. `MatchEngine.matches_for` (engine.py) is the one caller that ranks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import AliasChoices, Field

from nnmatch.events import MemberCard, Reason, ReasonParam
from nnmatch.profile import SDG_NAMES, Kind
from nnmatch.reasons import QUOTE_CHARS, clip_words
from nnmatch_matching.embedding.texts import OFFER_PHRASES, SEEK_PHRASES
from nnmatch_matching.matcher.arrays import minus_inf_unless, zero_unless
from nnmatch_matching.matcher.lexical_fit import LexicalSides

LEXICAL_WEIGHT = 0.5
RECIPROCAL_WEIGHT = 0.0
"""The offers↔seeks text fit is off by default: on the real set's tuning part it cost 7 % recall
at a weight of 0.05 and 10 % at 0.25 (members' offers and seeks repeat what their profile
says), and the seeded community's lists kept within noise without it. Reciprocity is carried by
the kinds that fit (mentor ↔ mentee …, `kinds`) and said in the reasons; a community whose
offers and seeks say something the profile does not can turn it on."""

REASONS_KEPT = 4096
"""Distinct reasons of each kind kept built (`reasons_for`): bounded, a few MB at most."""

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "ar": "Arabic",
    "pt": "Portuguese",
    "sw": "Swahili",
    "zh": "Chinese",
    "ru": "Russian",
    "hi": "Hindi",
    "de": "German",
}


def _weight(description: str, *names: str, ge: float = 0, le: float | None = None) -> Any:
    """A weight's bounds, meaning and settings names: read from
    `NNMATCH_RANKING_<first of names>` if named, else `NNMATCH_RANKING_<field>`."""
    return Field(
        description=f"matching: {description}",
        ge=ge,
        le=le,
        validation_alias=AliasChoices(*names) if names else None,
    )


@dataclass(frozen=True)
class Calibration:
    """Where one signal's pair values sit across a community: their mean and spread.

    Signals from different sources (embedding cosines, BM25 scores, the reciprocal fit) are
    never added raw: each counts in spreads above its mean (a z-score), so one weight means the
    same for every signal. Fixed, not re-estimated from the members a matcher holds, so a score
    is the same on every replica and after every restart, and a pair's score is symmetric.
    The defaults are measured on the real evaluation set for all-MiniLM-L6-v2 (`nnmatch eval
    --set real` prints them for the configured model)."""

    mean: float
    spread: float

    def z(self, values: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (np.asarray(values, np.float64) - self.mean) / self.spread
        return out


PROFILE_CALIBRATION = Calibration(mean=0.434, spread=0.121)
"""Cosine of two members' profile vectors."""
LEXICAL_CALIBRATION = Calibration(mean=3.145, spread=0.692)
"""log(WORDS_FLOOR + the symmetric BM25 of two members' whole profiles, `LexicalIndex.dots`).
The scores are heavy-tailed and grow with how much two people wrote, so they are calibrated on
a log scale, where the best pairs sit 3–4 spreads up, like the other signals; a pair sharing
no word reads log(1) = 0, about 4.5 spreads down."""
WORDS_FLOOR = 1.0
RECIPROCAL_CALIBRATION = Calibration(mean=0.397, spread=0.118)
"""Harmonic mean of the two offers↔seeks directions (embedding plus words)."""
LOGISTIC_SCALE = 2.0
"""A pair is ranked by its odds e^(b / 2) for a blend b, and shown as odds / (1 + odds), a
logistic of the blend (0 to 1): an average pair reads 0.5, one two spreads above the mean on
both likeness signals about 0.9. The list's shaping (cross-region boost, diversity, exposure)
multiplies the odds, which is adding to the blend: ×0.8 is 0.45 spreads less."""


@dataclass(frozen=True)
class RankingWeights:
    """How much each signal counts, in spreads (see `Calibration`).

    A pair's blend adds: profile likeness (embedding cosine), word likeness (the symmetric
    BM25 of the two whole profiles, bio included), the reciprocal offers↔seeks fit, connections in
    common (log(1 + n) of members both are already connected to: an accepted introduction
    either way), shared SDGs (Jaccard, 0–1) and kinds that fit (0–1). Scores are the
    blend through a logistic (0 to 1). The weights were chosen on the real set's tuning part
    (`nnmatch eval --set real --part tune`); the README's "Match quality" has the table.

    The rest shape the list rather than the fit: pairs across regions (no shared hub, other
    country) score `1 + cross_region_boost` times more; past the first `*_allowance` picks of
    one organisation / country, each further one multiplies the next's score by `1 - *_penalty`
    (diversity); a candidate already in `exposure_cap` other lists (0: no cap) is multiplied by
    `1 - exposure_penalty`.

    The service reads them as `MatchingSettings.ranking`, each from `NNMATCH_RANKING_<NAME>`
    (the first alias where there is one, else the field name); the defaults live only here.
    """

    reciprocal: Annotated[
        float,
        _weight(
            "weight of the two-way offers↔seeks text fit (harmonic mean of both directions; "
            "0: off, reciprocity then comes from the kinds that fit).",
            "reciprocal_weight",
            "reciprocal",
        ),
    ] = RECIPROCAL_WEIGHT
    lexical: Annotated[
        float,
        _weight(
            "weight of members' own words: the likeness of their whole profiles' words (bio "
            "included), and in each direction of the offers↔seeks fit this times the cosine "
            "of the same words' BM25 vectors, where the kinds fit in that direction (0: "
            "embeddings only).",
            "lexical_weight",
            "lexical",
        ),
    ] = LEXICAL_WEIGHT
    profile: Annotated[
        float,
        _weight(
            "weight of profile likeness (the profile vectors' cosine).",
            "profile_weight",
            "profile",
        ),
    ] = 0.5
    connections: Annotated[
        float,
        _weight(
            "weight of connections in common: log(1 + n) of the members both already "
            "accepted an introduction to (or from)."
        ),
    ] = 4.0
    shared_sdgs: Annotated[
        float, _weight("weight of shared SDGs (Jaccard).", "sdgs_weight", "shared_sdgs")
    ] = 0.5
    kinds: Annotated[
        float,
        _weight(
            "weight of offered/sought kinds that fit (mentor ↔ mentee …).", "kinds_weight", "kinds"
        ),
    ] = 2.0
    cross_region_boost: Annotated[
        float,
        _weight(
            "a pair sharing no hub and no country scores this much more (0.05: ×1.05); the "
            "suggestion then says it connects across countries."
        ),
    ] = 0.05
    organisation_allowance: Annotated[
        int,
        _weight(
            "suggestions from one organisation in a list before diversity lowers the next.",
            ge=1,
        ),
    ] = 2
    organisation_penalty: Annotated[
        float,
        _weight(
            "each further suggestion from an organisation past its allowance multiplies the "
            "next one's score by 1 minus this.",
            le=1,
        ),
    ] = 0.2
    country_allowance: Annotated[
        int,
        _weight("suggestions from one country in a list before diversity lowers the next.", ge=1),
    ] = 5
    country_penalty: Annotated[
        float,
        _weight(
            "each further suggestion from a country past its allowance multiplies the next "
            "one's score by 1 minus this.",
            le=1,
        ),
    ] = 0.05
    exposure_cap: Annotated[
        int,
        _weight(
            "a member already in this many other members' lists is demoted in the next lists "
            "ranked (0: no cap)."
        ),
    ] = 100
    exposure_penalty: Annotated[
        float,
        _weight(
            "a member at the exposure cap scores this fraction less (1: to 0, after everyone "
            "else).",
            le=1,
        ),
    ] = 0.2


KIND_BITS: dict[Kind, int] = {kind: 1 << i for i, kind in enumerate(Kind)}


def kinds_mask(kinds: Sequence[Kind]) -> int:
    mask = 0
    for kind in kinds:
        mask |= KIND_BITS[kind]
    return mask


def sdgs_mask(sdgs: Sequence[int]) -> int:
    mask = 0
    for sdg in sdgs:
        mask |= 1 << sdg
    return mask


@dataclass(frozen=True)
class Features:
    """Row-aligned arrays of candidates: vectors plus card facts as bitmasks, for numpy scoring.

    `languages` and `hubs` are bitmasks of the codes `Codes` assigned, in fixed-width words:
    (rows × words) uint64, bit c of a row in word c // 64; both sides compared must have the
    same width. `countries` and `organisations` hold codes (-1: no organisation shown). The
    vectors may have no rows where the dense inner products come precomputed (`Dots`).
    """

    ids: Sequence[str]
    profile: npt.NDArray[np.float32]
    offers: npt.NDArray[np.float32]
    seeks: npt.NDArray[np.float32]
    sdgs: npt.NDArray[np.uint32]
    offers_kinds: npt.NDArray[np.uint32]
    seeks_kinds: npt.NDArray[np.uint32]
    languages: npt.NDArray[np.uint64]
    discoverable: npt.NDArray[np.bool_]
    countries: npt.NDArray[np.int64]
    organisations: npt.NDArray[np.int64]
    hubs: npt.NDArray[np.uint64]


@dataclass(frozen=True)
class Dots:
    """Per candidate, the dense inner products with me, and whether they said what they offer
    or seek (a nonzero offers or seeks vector): what `pair_signals` reads of the vectors."""

    profile: npt.NDArray[np.float32]  # their profile · my profile, as BLAS sums it
    seek_to_offer: npt.NDArray[np.float32] | None  # their offers · my seeks
    offer_to_seek: npt.NDArray[np.float32] | None  # their seeks · my offers
    intent: npt.NDArray[np.bool_]
    # The offers↔seeks products are None when nothing reads them (`scores_directions`).


def dots_of(me: int, cands: Features, me_row: Features) -> Dots:
    """`Dots` from the candidates' vectors (float32 products)."""
    return Dots(
        profile=cands.profile @ me_row.profile[me],
        seek_to_offer=cands.offers @ me_row.seeks[me],
        offer_to_seek=cands.seeks @ me_row.offers[me],
        intent=np.any(cands.offers, axis=1) | np.any(cands.seeks, axis=1),
    )


WORD_BITS = 64


class Codes:
    """Gives each distinct value a small code (or a bit), so facts compare as integers.

    E.g. 'shares a language' is one AND of language bitmasks per candidate.
    """

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def code(self, value: str) -> int:
        return self._codes.setdefault(value, len(self._codes))

    def words(self) -> int:
        """uint64 words a bitmask of every code assigned so far needs (at least 1)."""
        return max(1, -(-len(self._codes) // WORD_BITS))

    def mask(self, values: Sequence[str], out: npt.NDArray[np.uint64]) -> None:
        """Set the bits of `values` in `out` (one row of words, zeroed by the caller; wide
        enough: `words()` after coding them)."""
        for value in values:
            code = self.code(value)
            out[code // WORD_BITS] |= np.uint64(1 << (code % WORD_BITS))


def shares_any(
    masks: npt.NDArray[np.uint64], mine: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """Per row of `masks` (rows × words), True if it shares a bit with `mine` (words).

    One word column at a time, skipping the words `mine` has no bit in: a 2-D AND reduced
    with `any(axis=1)` took 0.3 ms at 20,000 rows, several times a scan."""
    out = np.zeros(len(masks), dtype=bool)
    for word in np.flatnonzero(mine).tolist():
        out |= np.bitwise_and(masks[:, word], mine[word]) != 0
    return out


def organisation_key(card: MemberCard) -> str | None:
    """The shown organisation, case and spacing folded, so 'ACME  Ltd' and 'acme ltd' group."""
    name = " ".join((card.organisation_name or "").casefold().split())
    return name or None


def reciprocal_scores(
    a_seeks_b_offers: npt.NDArray[np.floating[Any]],
    b_seeks_a_offers: npt.NDArray[np.floating[Any]],
) -> npt.NDArray[np.float64]:
    """Harmonic mean of both directions (below 0 counts as 0), per candidate: high only when
    each side offers what the other seeks; one eager side cannot carry an indifferent one."""
    x = np.maximum(np.asarray(a_seeks_b_offers, np.float64), 0.0)
    y = np.maximum(np.asarray(b_seeks_a_offers, np.float64), 0.0)
    total = x + y
    harmonic: npt.NDArray[np.float64] = np.divide(
        2 * x * y, total, out=np.zeros_like(total), where=total > 0
    )
    return harmonic


@dataclass(frozen=True)
class Pairs:
    """Me (row `me` of `me_row`) and each candidate (rows of `cands`): what the pair signals read.

    `lexical` (row-aligned with `cands`) gives the words' side: the likeness of our whole
    profiles, and each direction of the offers↔seeks fit before the harmonic mean (so words
    meeting in one direction only give no reciprocal fit). `connections`: members each
    candidate and I are both connected to. `dots`: the dense inner products, if already
    computed (else from the vectors)."""

    me: int
    me_row: Features
    cands: Features
    lexical: LexicalSides | None = None
    connections: npt.NDArray[np.int64] | None = None
    dots: Dots | None = None


def score_all(
    pairs: Pairs, weights: RankingWeights, excluded: Set[str] = frozenset()
) -> npt.NDArray[np.float64]:
    """Each candidate's odds with me (see `LOGISTIC_SCALE`; ineligible: -inf).

    Ineligible: me, hidden members, no shared language, and `excluded` (members I dismissed,
    accepted or blocked, or who blocked me), so the next best candidates take their places.
    Every signal is symmetric, so a pair scores the same from either side.
    """
    cands, me_row = pairs.cands, pairs.me_row
    scores = pair_odds(pairs, weights)
    my_id = me_row.ids[pairs.me]
    speaks = shares_any(cands.languages, me_row.languages[pairs.me])
    allowed = np.asarray([cid != my_id and cid not in excluded for cid in cands.ids], dtype=bool)
    eligible_rows = speaks & cands.discoverable & allowed
    return minus_inf_unless(scores, eligible_rows)


def pair_odds(pairs: Pairs, weights: RankingWeights) -> npt.NDArray[np.float64]:
    """Each candidate's odds with me before eligibility and the list's shaping, but with the
    cross-region boost (a pair's own): symmetric per pair."""
    blend = pair_blend(pairs, weights)
    scores: npt.NDArray[np.float64] = np.exp(blend / LOGISTIC_SCALE)
    if weights.cross_region_boost:
        across = _across(pairs.me, pairs.cands, pairs.me_row)
        scores = scores * (1 + weights.cross_region_boost * across)
    return scores


def words_signal(bm25: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
    """The word likeness signal of a whole-profile symmetric BM25: log(WORDS_FLOOR + bm25)."""
    return np.log(WORDS_FLOOR + np.asarray(bm25, dtype=np.float64))


def words_z(bm25: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
    """A whole-profile symmetric BM25 in spreads (see `LEXICAL_CALIBRATION`)."""
    return LEXICAL_CALIBRATION.z(words_signal(bm25))


def shown_score(odds: float) -> float:
    """Odds as the 0-to-1 score a member sees: odds / (1 + odds)."""
    return odds / (1.0 + odds)


def blend_of(score: float) -> float:
    """The blend behind a shown score (with no shaping factor), for reading a score back."""
    return float(LOGISTIC_SCALE * math.log(score / (1.0 - score)))


@dataclass(frozen=True)
class PairSignals:
    """Each signal's raw value per candidate, before calibration (row-aligned)."""

    profile: npt.NDArray[np.float64]  # cosine of the profile vectors
    lexical: npt.NDArray[np.float64]  # log(WORDS_FLOOR + the whole profiles' symmetric BM25)
    reciprocal: npt.NDArray[np.float64]  # harmonic mean of both offers↔seeks directions
    has_intent: npt.NDArray[np.bool_]  # both sides wrote offers or seeks
    has_words: npt.NDArray[np.bool_]  # both whole profiles hold words
    connections: npt.NDArray[np.float64]  # log(1 + connections in common)
    shared_sdgs: npt.NDArray[np.float64]  # Jaccard of the SDGs
    kinds: npt.NDArray[np.float64]  # kinds that fit, 0 to 1


def scores_directions(weights: RankingWeights) -> bool:
    """Whether the odds read the offers↔seeks fit at all: with its weight at 0 (the default)
    its inputs (two of the three dense products, the offers and seeks words' cosines) are not
    computed. The blend is the same either way: the term it drops is 0 × a finite number."""
    return weights.reciprocal != 0


def pair_signals(pairs: Pairs, weights: RankingWeights) -> PairSignals:
    """The raw signals between me and each candidate (all symmetric per pair); the reciprocal
    fit reads 0 where its inputs were not computed (`scores_directions`)."""
    me, cands, me_row, lexical = pairs.me, pairs.cands, pairs.me_row, pairs.lexical
    connections, dots = pairs.connections, pairs.dots
    if dots is None:
        dots = dots_of(me, cands, me_row)
    wanted = (cands.offers_kinds & me_row.seeks_kinds[me]) != 0
    wanting = (cands.seeks_kinds & me_row.offers_kinds[me]) != 0
    my_sdgs = me_row.sdgs[me]
    union = np.bitwise_count(cands.sdgs | my_sdgs).astype(np.float64)
    shared = np.bitwise_count(cands.sdgs & my_sdgs).astype(np.float64)
    none = np.zeros(len(cands.ids))
    reciprocal = none
    if dots.seek_to_offer is not None and dots.offer_to_seek is not None:
        fit = directions(dots.seek_to_offer, dots.offer_to_seek, weights, lexical, wanted, wanting)
        reciprocal = reciprocal_scores(*fit)
    return PairSignals(
        profile=np.asarray(dots.profile, np.float64),
        lexical=words_signal(lexical.likeness if lexical is not None else none),
        reciprocal=reciprocal,
        has_intent=dots.intent & _has_intent(me, me_row),
        has_words=lexical.has_words if lexical is not None else none.astype(bool),
        connections=np.log1p(connections) if connections is not None else none,
        shared_sdgs=np.divide(shared, union, out=np.zeros_like(union), where=union > 0),
        kinds=(wanted.view(np.uint8) + wanting.view(np.uint8)) * 0.5,
    )


def pair_blend(pairs: Pairs, weights: RankingWeights) -> npt.NDArray[np.float64]:
    """The weighted sum of calibrated signals, per candidate (see `RankingWeights`)."""
    signals = pair_signals(pairs, weights)
    profile = weights.profile * PROFILE_CALIBRATION.z(signals.profile)
    if scores_directions(weights):
        # A member who wrote no offers or seeks has no reciprocal fit to speak of: the signal
        # then counts as average (0 spreads), and their bio and tags match them.
        recip = zero_unless(RECIPROCAL_CALIBRATION.z(signals.reciprocal), signals.has_intent)
        profile = weights.reciprocal * recip + profile
    blend: npt.NDArray[np.float64] = (
        profile
        + weights.connections * signals.connections
        + weights.shared_sdgs * signals.shared_sdgs
        + weights.kinds * signals.kinds
    )
    if pairs.lexical is not None and weights.lexical:
        # A profile without a word (nothing but kinds and SDGs) shares none: it reads as any
        # pair sharing no word does. Not as average: the symmetric BM25 grows with how much
        # both wrote, so in a community of short profiles every pair sits below the real set's
        # mean, and a blank profile counted as average would outrank everyone who wrote.
        words = LEXICAL_CALIBRATION.z(signals.lexical)
        blend = blend + weights.lexical * words
    return blend


def _has_intent(me: int, me_row: Features) -> bool:
    """True if I said what I offer or seek (a nonzero offers or seeks vector); a candidate
    counts as intent only where `Dots.intent` says they did too."""
    return bool(np.any(me_row.offers[me]) or np.any(me_row.seeks[me]))


def directions(
    seek_to_offer: npt.NDArray[np.floating[Any]],
    offer_to_seek: npt.NDArray[np.floating[Any]],
    weights: RankingWeights,
    lexical: LexicalSides | None,
    kind_wanted: npt.NDArray[np.bool_],
    kind_wanting: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Both directions of the fit: dense cosine (clipped at 0) plus `weights.lexical` × lexical.

    Words count in a direction only where its kinds fit too (they offer a kind I seek; I offer
    a kind they seek): shared words alone mean the same topic, not that either wants the
    other ("mentees in computer vision" and "jobs in computer vision" share their words)."""
    forward = np.maximum(np.asarray(seek_to_offer, np.float64), 0.0)
    backward = np.maximum(np.asarray(offer_to_seek, np.float64), 0.0)
    if lexical is not None and weights.lexical:
        if lexical.wanted is not None:
            forward = forward + weights.lexical * zero_unless(lexical.wanted, kind_wanted)
        if lexical.wanting is not None:
            backward = backward + weights.lexical * zero_unless(lexical.wanting, kind_wanting)
    return forward, backward


def _across(me: int, cands: Features, me_row: Features) -> npt.NDArray[np.float64]:
    """1.0 where the candidate shares no hub and no country with me, else 0.0."""
    other_country = cands.countries != me_row.countries[me]
    no_shared_hub = ~shares_any(cands.hubs, me_row.hubs[me])
    across: npt.NDArray[np.float64] = (other_country & no_shared_hub).astype(np.float64)
    return across


def exposure_factors(
    exposure: npt.NDArray[np.int64], weights: RankingWeights
) -> npt.NDArray[np.float64]:
    """Per candidate, 1 - exposure_penalty if already in `exposure_cap` other lists, else 1."""
    factors = np.ones(len(exposure), dtype=np.float64)
    if weights.exposure_cap > 0 and weights.exposure_penalty:
        factors[exposure >= weights.exposure_cap] = max(0.0, 1.0 - weights.exposure_penalty)
    return factors


def diverse_rows(
    scores: npt.NDArray[np.float64],
    cands: Features,
    top_n: int,
    weights: RankingWeights,
) -> list[tuple[int, float]]:
    """Greedy re-ranking: (row, score) of `top_n` picks, each the best score after multiplying
    by `1 - penalty` per pick of the same organisation / country past its allowance.

    Scores are never negative, so the factors only lower them and the picked scores come out
    best first. Without penalties this is `top_rows`.
    """
    groups = _groups(cands.organisations, cands.countries, weights)
    if not groups:
        return [(r, float(scores[r])) for r in top_rows(scores, cands.ids, top_n)]
    depth = 2 * top_n
    while True:
        order = np.asarray(top_rows(scores, cands.ids, depth), dtype=np.int64)
        floor = -np.inf if len(order) < depth else float(scores[order[-1]])
        shortlist = [replace(g, codes=g.codes[order]) for g in groups]
        picked = _greedy(scores[order], shortlist, top_n, floor)
        if picked is not None:
            return [(int(order[i]), value) for i, value in picked]
        depth *= 4


def diverse_within(
    scores: npt.NDArray[np.float64],
    cands: Features,
    top_n: int,
    weights: RankingWeights,
    outside: float,
) -> list[tuple[int, float]] | None:
    """`diverse_rows` over a member's cached candidates (`candidate_cache.py`), every other
    candidate scoring at most `outside` before shaping (-inf: there is none). The same picks
    as `diverse_rows` over everyone, since shaping only lowers a score; None if that is not
    certain (a pick would score below `outside`, or too few are cached): the cache ran dry.
    """
    order = np.asarray(top_rows(scores, cands.ids, len(scores)), dtype=np.int64)
    if len(order) < top_n and outside > -np.inf:
        return None
    groups = [
        replace(g, codes=g.codes[order])
        for g in _groups(cands.organisations, cands.countries, weights)
    ]
    picked = _greedy(scores[order], groups, top_n, outside)
    if picked is None:
        return None
    return [(int(order[i]), value) for i, value in picked]


def _groups(
    organisations: npt.NDArray[np.int64], countries: npt.NDArray[np.int64], weights: RankingWeights
) -> list[Group]:
    """The diversity rules in force (a penalty of 0 is none)."""
    return [
        Group(codes, max(1, allowance), 1.0 - penalty)
        for codes, allowance, penalty in (
            (organisations, weights.organisation_allowance, weights.organisation_penalty),
            (countries, weights.country_allowance, weights.country_penalty),
        )
        if penalty > 0
    ]


@dataclass(frozen=True)
class Group:
    """One diversity rule: rows' codes (-1: in no group), picks allowed free, factor after."""

    codes: npt.NDArray[np.int64]
    allowance: int
    factor: float


def _greedy(
    base: npt.NDArray[np.float64],
    groups: list[Group],
    top_n: int,
    floor: float,
) -> list[tuple[int, float]] | None:
    """Picks over a best-first shortlist; None if a row past it (scoring at most `floor`
    before shaping; -inf: there is none) might win."""
    adjusted = base.copy()
    picked: list[tuple[int, float]] = []
    counts: list[dict[int, int]] = [{} for _ in groups]
    for _ in range(min(top_n, len(base))):
        i = int(np.argmax(adjusted))  # the first of equals: the raw order breaks ties
        if adjusted[i] < floor:
            return None
        picked.append((i, float(adjusted[i])))
        adjusted[i] = -np.inf
        for group, count in zip(groups, counts, strict=True):
            code = int(group.codes[i])
            if code >= 0:
                count[code] = count.get(code, 0) + 1
                if count[code] >= group.allowance:
                    adjusted[group.codes == code] *= group.factor
    return picked


def top_rows(scores: npt.NDArray[np.float64], ids: Sequence[str], top_n: int) -> list[int]:
    """Rows of the best `top_n` eligible scores, best first, ties broken by member id.

    A scan asks for the best hundred of 55,000: the rows at or above a threshold read from a
    strided sample (`_threshold`) hold them all whenever there are at least `top_n` of them,
    so only those few are partitioned and sorted."""
    if top_n <= 0:
        return []
    threshold = _threshold(scores, top_n)
    finite = None
    if threshold is not None:
        above = np.flatnonzero(scores >= threshold)
        finite = above[np.isfinite(scores[above])]
    if finite is None or len(finite) < top_n:
        finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > top_n:
        # Keep everything tied with the cut-off so the id tie-break stays deterministic.
        cutoff = np.partition(scores[finite], len(finite) - top_n)[len(finite) - top_n]
        finite = finite[scores[finite] >= cutoff]
    order = finite[np.argsort(-scores[finite], kind="stable")]
    if len(order) > 1 and np.any(np.diff(scores[order]) == 0):  # ties: by member id
        ordered = sorted(order.tolist(), key=lambda r: (-scores[r], ids[r]))
        return ordered[:top_n]
    best: list[int] = order[:top_n].tolist()
    return best


SAMPLE_STRIDE = 16
"""`top_rows` reads every 16th score for its threshold."""


def _threshold(scores: npt.NDArray[np.float64], top_n: int) -> float | None:
    """A finite score at most the `top_n`-th best, likely with not many more above it: the
    sample's 2 × (`top_n` / stride) + 8-th best (None: too few rows to sample)."""
    sample = scores[::SAMPLE_STRIDE]
    rank = 2 * (top_n // SAMPLE_STRIDE) + 8
    if len(scores) < 4 * SAMPLE_STRIDE * rank or len(sample) <= rank:
        return None
    value = float(np.partition(sample, len(sample) - rank)[len(sample) - rank])
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class ReasonsFrom:
    """What every reason of one member's list reads of their own card, taken once per list
    (a list's 20 reasons used to build the same sets 20 times)."""

    offers_kinds: frozenset[Kind]
    seeks_kinds: frozenset[Kind]
    topics: frozenset[str]  # expertise and interests, casefolded
    sdgs: frozenset[int]
    hubs: frozenset[str]
    country: str
    languages: frozenset[str]

    @classmethod
    def of(cls, card: MemberCard) -> ReasonsFrom:
        return cls(
            offers_kinds=frozenset(card.offers_kinds),
            seeks_kinds=frozenset(card.seeks_kinds),
            topics=frozenset(t.casefold() for t in [*card.expertise, *card.interests]),
            sdgs=frozenset(card.sdgs),
            hubs=frozenset(card.hubs),
            country=card.country,
            languages=frozenset(card.languages),
        )


def reasons_for(me: ReasonsFrom, other: MemberCard, weights: RankingWeights) -> list[Reason]:
    """Short reasons computed from both cards (mine taken once per list), most specific first.

    A pair across regions says so when the weights give it a cross-region boost. Each reason
    is built once per distinct fact and shared (`Reason` is frozen): a list's reasons repeat
    the same countries, SDGs, kinds and quotes across many pairs, and building and validating
    them was most of the cost of re-ranking a list from its cache.
    """
    out: list[Reason] = []
    offered = tuple(k for k in other.offers_kinds if k in me.seeks_kinds)
    if offered:
        out.append(offer_meets_seek(offered, other.offers_text))
    sought = tuple(k for k in other.seeks_kinds if k in me.offers_kinds)
    if sought:
        out.append(seek_meets_offer(sought))
    shared_topics = [t for t in [*other.expertise, *other.interests] if t.casefold() in me.topics]
    if shared_topics:
        out.append(shared_topic(tuple(dict.fromkeys(shared_topics[:3]))))
    shared_sdgs = sorted(me.sdgs.intersection(other.sdgs))
    if shared_sdgs:
        out.append(shared_sdg(tuple(shared_sdgs[:2])))
    shared_hubs = sorted(me.hubs.intersection(other.hubs))
    if shared_hubs:
        out.append(shared_hub(shared_hubs[0]))
    elif other.country == me.country:
        out.append(same_country(other.country))
    elif weights.cross_region_boost > 0:
        out.append(cross_region(other.country, bool(me.hubs and other.hubs)))
    shared_langs = [lang for lang in other.languages if lang in me.languages and lang != "en"]
    if shared_langs:
        out.append(shared_language(shared_langs[0]))
    return out


@lru_cache(maxsize=REASONS_KEPT)
def offer_meets_seek(kinds: tuple[Kind, ...], offers_text: str) -> Reason:
    what = ", ".join(OFFER_PHRASES[k] for k in kinds)
    params: dict[str, ReasonParam] = {"kinds": [str(k) for k in kinds]}
    detail = ""
    if offers_text.strip():
        quote = clip_words(offers_text, QUOTE_CHARS)
        params |= {"quote": quote, "quote_of": "them"}
        detail = f": {quote}"
    return Reason(
        kind="offer_meets_seek", text=f"offers {what}, which you seek{detail}", params=params
    )


@lru_cache(maxsize=REASONS_KEPT)
def seek_meets_offer(kinds: tuple[Kind, ...]) -> Reason:
    what = ", ".join(SEEK_PHRASES[k] for k in kinds)
    return Reason(
        kind="seek_meets_offer",
        text=f"seeks {what}, which you offer",
        params={"kinds": [str(k) for k in kinds]},
    )


@lru_cache(maxsize=REASONS_KEPT)
def shared_topic(topics: tuple[str, ...]) -> Reason:
    return Reason(
        kind="shared_topic",
        text=f"both work on {', '.join(topics)}",
        params={"topics": list(topics)},
    )


@lru_cache(maxsize=REASONS_KEPT)
def shared_sdg(sdgs: tuple[int, ...]) -> Reason:
    names = ", ".join(f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs)
    return Reason(kind="shared_sdg", text=f"both work on {names}", params={"sdgs": list(sdgs)})


@lru_cache(maxsize=REASONS_KEPT)
def shared_hub(hub: str) -> Reason:
    return Reason(kind="shared_hub", text=f"both in the {hub} hub", params={"hub": hub})


@lru_cache(maxsize=REASONS_KEPT)
def same_country(country: str) -> Reason:
    return Reason(kind="same_country", text=f"also based in {country}", params={"country": country})


@lru_cache(maxsize=REASONS_KEPT)
def cross_region(country: str, both_in_hubs: bool) -> Reason:
    hubs = " and hubs" if both_in_hubs else ""
    text = f"connects across countries{hubs}: based in {country}"
    return Reason(kind="cross_region", text=text, params={"country": country})


@lru_cache(maxsize=REASONS_KEPT)
def shared_language(language: str) -> Reason:
    name = LANGUAGE_NAMES.get(language, language)
    return Reason(kind="shared_language", text=f"both speak {name}", params={"language": language})
