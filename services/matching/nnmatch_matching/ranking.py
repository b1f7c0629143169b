"""Pure ranking: score candidates so both sides want each other, filter, and say why.

No I/O and no clock: vectors, cards and weights in, ranked (id, score, reasons) out.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, Reason
from nnmatch.profile import Kind
from nnmatch_matching.texts import OFFER_PHRASES, SDG_NAMES, SEEK_PHRASES

Vector = npt.NDArray[np.float32]

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


@dataclass(frozen=True)
class RankingWeights:
    """How much each signal counts; defaults favour the reciprocal offers↔seeks fit."""

    reciprocal: float = 0.6
    profile: float = 0.25
    shared_sdgs: float = 0.1
    kinds: float = 0.05


@dataclass(frozen=True)
class MemberView:
    """What ranking reads of a member: the card and the three unit vectors."""

    member_id: str
    card: MemberCard
    profile: Vector
    offers: Vector
    seeks: Vector


@dataclass(frozen=True)
class Ranked:
    member_id: str
    score: float
    reasons: list[Reason]


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

    `languages` holds arbitrary-size bitmasks (Python ints) assigned by a `LanguageBits`.
    """

    ids: Sequence[str]
    profile: npt.NDArray[np.float32]
    offers: npt.NDArray[np.float32]
    seeks: npt.NDArray[np.float32]
    sdgs: npt.NDArray[np.uint32]
    offers_kinds: npt.NDArray[np.uint32]
    seeks_kinds: npt.NDArray[np.uint32]
    languages: npt.NDArray[np.object_]
    discoverable: npt.NDArray[np.bool_]


class LanguageBits:
    """Gives each language code a bit, so 'shares a language' is one AND per candidate."""

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}

    def mask(self, languages: Sequence[str]) -> int:
        mask = 0
        for code in languages:
            bit = self._bits.setdefault(code, len(self._bits))
            mask |= 1 << bit
        return mask


def reciprocal_score(a_seeks_b_offers: float, b_seeks_a_offers: float) -> float:
    """Harmonic mean of both directions: high only when each side offers what the other seeks."""
    pair = reciprocal_scores(
        np.asarray([a_seeks_b_offers], dtype=np.float32),
        np.asarray([b_seeks_a_offers], dtype=np.float32),
    )
    return float(pair[0])


def reciprocal_scores(
    a_seeks_b_offers: npt.NDArray[np.float32], b_seeks_a_offers: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Vectorised `reciprocal_score`."""
    x = np.maximum(a_seeks_b_offers, 0.0).astype(np.float64)
    y = np.maximum(b_seeks_a_offers, 0.0).astype(np.float64)
    total = x + y
    return np.divide(2 * x * y, total, out=np.zeros_like(total), where=total > 0)


def score_all(
    me: int,
    cands: Features,
    weights: RankingWeights,
    me_row: Features,
    excluded: Set[str] = frozenset(),
) -> npt.NDArray[np.float64]:
    """Blend of reciprocal fit, profile likeness, shared SDGs and kind fit; ineligible = -inf.

    `me_row` holds the member being ranked for at row `me`. Ineligible: me, hidden members,
    no shared language, and `excluded` (members I dismissed, accepted or blocked, or who
    blocked me), so the next best candidates take their places.
    """
    seeks, offers, profile = me_row.seeks[me], me_row.offers[me], me_row.profile[me]
    recip = reciprocal_scores(cands.offers @ seeks, cands.seeks @ offers)
    likeness = np.clip(cands.profile @ profile, 0.0, 1.0)
    my_sdgs = me_row.sdgs[me]
    union = np.bitwise_count(cands.sdgs | my_sdgs).astype(np.float64)
    shared = np.bitwise_count(cands.sdgs & my_sdgs).astype(np.float64)
    jaccard = np.divide(shared, union, out=np.zeros_like(union), where=union > 0)
    wanted = (cands.offers_kinds & me_row.seeks_kinds[me]) != 0
    wanting = (cands.seeks_kinds & me_row.offers_kinds[me]) != 0
    kind_fit = (wanted.astype(np.float64) + wanting.astype(np.float64)) / 2
    scores = (
        weights.reciprocal * recip
        + weights.profile * likeness
        + weights.shared_sdgs * jaccard
        + weights.kinds * kind_fit
    )
    my_id = me_row.ids[me]
    speaks = (cands.languages & me_row.languages[me]) != 0
    allowed = np.asarray([cid != my_id and cid not in excluded for cid in cands.ids], dtype=bool)
    eligible_rows = speaks.astype(bool) & cands.discoverable & allowed
    return np.where(eligible_rows, scores, -np.inf)


def top_rows(scores: npt.NDArray[np.float64], ids: Sequence[str], top_n: int) -> list[int]:
    """Rows of the best `top_n` eligible scores, best first, ties broken by member id."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > top_n:
        # Keep everything tied with the cut-off so the id tie-break stays deterministic.
        cutoff = np.partition(scores[finite], len(finite) - top_n)[len(finite) - top_n]
        finite = finite[scores[finite] >= cutoff]
    ordered = sorted(finite.tolist(), key=lambda r: (-scores[r], ids[r]))
    return ordered[:top_n]


def features_of(views: Sequence[MemberView], languages: LanguageBits) -> Features:
    cards = [v.card for v in views]
    return Features(
        ids=[v.member_id for v in views],
        profile=np.stack([v.profile for v in views]).astype(np.float32),
        offers=np.stack([v.offers for v in views]).astype(np.float32),
        seeks=np.stack([v.seeks for v in views]).astype(np.float32),
        sdgs=np.asarray([sdgs_mask(c.sdgs) for c in cards], dtype=np.uint32),
        offers_kinds=np.asarray([kinds_mask(c.offers_kinds) for c in cards], dtype=np.uint32),
        seeks_kinds=np.asarray([kinds_mask(c.seeks_kinds) for c in cards], dtype=np.uint32),
        languages=np.array([languages.mask(c.languages) for c in cards], dtype=object),
        discoverable=np.asarray([c.discoverable for c in cards], dtype=bool),
    )


def reasons_for(me: MemberCard, other: MemberCard) -> list[Reason]:
    """Short reasons computed from both cards, most specific first."""
    out: list[Reason] = []
    offered = [k for k in other.offers_kinds if k in me.seeks_kinds]
    if offered:
        what = ", ".join(OFFER_PHRASES[k] for k in offered)
        detail = f": {other.offers_text[:90]}" if other.offers_text else ""
        out.append(Reason(kind="offer_meets_seek", text=f"offers {what}, which you seek{detail}"))
    sought = [k for k in other.seeks_kinds if k in me.offers_kinds]
    if sought:
        what = ", ".join(SEEK_PHRASES[k] for k in sought)
        out.append(Reason(kind="seek_meets_offer", text=f"seeks {what}, which you offer"))
    mine = {t.casefold(): t for t in [*me.expertise, *me.interests]}
    shared_topics = [t for t in [*other.expertise, *other.interests] if t.casefold() in mine]
    if shared_topics:
        topics = ", ".join(dict.fromkeys(shared_topics[:3]))
        out.append(Reason(kind="shared_topic", text=f"both work on {topics}"))
    shared_sdgs = sorted(set(me.sdgs) & set(other.sdgs))
    if shared_sdgs:
        names = ", ".join(f"SDG {n} ({SDG_NAMES[n]})" for n in shared_sdgs[:2])
        out.append(Reason(kind="shared_sdg", text=f"both work on {names}"))
    shared_hubs = sorted(set(me.hubs) & set(other.hubs))
    if shared_hubs:
        out.append(Reason(kind="shared_hub", text=f"both in the {shared_hubs[0]} hub"))
    elif other.country == me.country:
        out.append(Reason(kind="same_country", text=f"also based in {other.country}"))
    shared_langs = [lang for lang in other.languages if lang in me.languages and lang != "en"]
    if shared_langs:
        name = LANGUAGE_NAMES.get(shared_langs[0], shared_langs[0])
        out.append(Reason(kind="shared_language", text=f"both speak {name}"))
    return out


def rank(
    me: MemberView,
    candidates: Sequence[MemberView],
    top_n: int,
    weights: RankingWeights,
    excluded: Set[str] = frozenset(),
) -> list[Ranked]:
    """Score every eligible candidate (none of `excluded`) and return the best `top_n`."""
    if not candidates:
        return []
    languages = LanguageBits()
    cards = {c.member_id: c.card for c in candidates}
    pool = features_of(candidates, languages)
    mine = features_of([me], languages)
    scores = score_all(0, pool, weights, mine, excluded)
    return [
        Ranked(
            pool.ids[row], round(float(scores[row]), 4), reasons_for(me.card, cards[pool.ids[row]])
        )
        for row in top_rows(scores, pool.ids, top_n)
    ]
