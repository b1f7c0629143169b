"""Pure ranking: score candidates so both sides want each other, filter, and say why.

No I/O and no clock: vectors, cards and weights in, ranked (id, score, reasons) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, Reason
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


def reciprocal_score(a_seeks_b_offers: float, b_seeks_a_offers: float) -> float:
    """Harmonic mean of both directions: high only when each side offers what the other seeks."""
    x, y = max(a_seeks_b_offers, 0.0), max(b_seeks_a_offers, 0.0)
    return 0.0 if x + y == 0 else 2 * x * y / (x + y)


def eligible(me: MemberCard, other_id: str, other: MemberCard, me_id: str) -> bool:
    """Never yourself, never someone hidden, and only people you can talk to."""
    return (
        other_id != me_id and other.discoverable and bool(set(me.languages) & set(other.languages))
    )


def _kind_fit(me: MemberCard, other: MemberCard) -> float:
    wanted = bool(set(me.seeks_kinds) & set(other.offers_kinds))
    wanting = bool(set(other.seeks_kinds) & set(me.offers_kinds))
    return (wanted + wanting) / 2


def _jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


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
    me: MemberView, candidates: Sequence[MemberView], top_n: int, weights: RankingWeights
) -> list[Ranked]:
    """Score every eligible candidate and return the best `top_n`, best first."""
    pool = [c for c in candidates if eligible(me.card, c.member_id, c.card, me.member_id)]
    if not pool:
        return []
    offers = np.stack([c.offers for c in pool])
    seeks = np.stack([c.seeks for c in pool])
    profiles = np.stack([c.profile for c in pool])
    a_to_b = offers @ me.seeks
    b_to_a = seeks @ me.offers
    profile_sim = np.clip(profiles @ me.profile, 0.0, 1.0)
    scored: list[tuple[float, MemberView]] = []
    for i, cand in enumerate(pool):
        score = (
            weights.reciprocal * reciprocal_score(float(a_to_b[i]), float(b_to_a[i]))
            + weights.profile * float(profile_sim[i])
            + weights.shared_sdgs * _jaccard(me.card.sdgs, cand.card.sdgs)
            + weights.kinds * _kind_fit(me.card, cand.card)
        )
        scored.append((score, cand))
    scored.sort(key=lambda pair: (-pair[0], pair[1].member_id))
    return [
        Ranked(cand.member_id, round(score, 4), reasons_for(me.card, cand.card))
        for score, cand in scored[:top_n]
    ]
