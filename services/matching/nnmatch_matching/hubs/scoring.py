"""Hub ↔ hub partners: each hub's representation, the reciprocal score and the reasons.

Pure (no I/O). A hub is `normalise(α · own + (1 − α) · members' mean)` per vector kind (α = 1
without members, 0 without own text); its words are its own plus its members': what they
offer, and what they are interested in but none of them works on (what the hub seeks). The score
of B for A is the harmonic mean of what A gets from B (A's seeks against B's offers, dense
and words) and what B gets from A, so both must want each other; plus kinds that fit and
shared SDGs, × (1 + cross-country boost) across countries. About 100 hubs: all pairs, exactly.
Reasons are read from the same data (whose members offer which topic the other seeks).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nnmatch.events import HubPartner, Reason, VectorKind
from nnmatch.profile import SDG_NAMES, Kind
from nnmatch.reasons import listed
from nnmatch.regions import region_of
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import displayed, terms
from nnmatch_matching.hubs.book import Aggregate, OwnHub, Vector

MAX_TOPICS_SHOWN = 2


class HubScoring(BaseModel):
    """The weights of hub partner scoring (settings `NNMATCH_HUB_*`)."""

    model_config = ConfigDict(frozen=True)

    own_text_weight: float = Field(default=0.5, ge=0, le=1)
    words_weight: float = Field(default=0.3, ge=0)
    kinds_weight: float = Field(default=0.05, ge=0)
    sdgs_weight: float = Field(default=0.05, ge=0)
    cross_country_boost: float = Field(default=0.15, ge=0)
    reciprocal: bool = True
    """False: one direction only (what A gets from B): the eval's non-reciprocal baseline."""


@dataclass(frozen=True)
class HubSide:
    """One hub as scoring sees it: blended unit vectors, words, topics and the rest."""

    hub_id: str
    name: str
    country: str
    region: str | None
    sdgs: frozenset[int]
    offers_kinds: frozenset[str]
    seeks_kinds: frozenset[str]
    vectors: dict[VectorKind, Vector]
    offer_terms: Counter[str]
    seek_terms: Counter[str]
    own_seek_terms: frozenset[str]
    offered_topics: Counter[str]
    """Tag → how many of its members list it as expertise."""
    interests: Counter[str]
    members: int
    shown: Mapping[str, str] = field(default_factory=dict)
    """Each term as the hub or its members wrote it, for reasons ("sensing", not "sens")."""


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector


def side(hub_id: str, own: OwnHub, members: Aggregate, own_text_weight: float) -> HubSide:
    """The hub's representation: own text blended with its members' mean, and its words."""
    profile = own.profile
    vectors: dict[VectorKind, Vector] = {}
    for kind in VectorKind:
        mine = own.vectors[kind]
        mean = _unit(members.mean(kind))
        has_own = bool(np.any(mine))
        alpha = 1.0 if members.count <= 0 else (own_text_weight if has_own else 0.0)
        vectors[kind] = _unit((alpha * mine + (1 - alpha) * mean).astype(np.float32))
    own_offer = Counter(terms(profile.offers.text))
    own_seek = Counter(terms(profile.seeks.text))
    # A hub seeks what its members are interested in but none of them works on: a topic its
    # own people cover needs no partner.
    unmet: Counter[str] = Counter()
    unmet_tags = [tag for tag in members.interests if tag not in members.expertise]
    for tag in unmet_tags:
        for word in terms(tag):
            unmet[word] += members.interests[tag]
    return HubSide(
        hub_id=hub_id,
        name=profile.name,
        country=profile.country,
        region=region_of(profile.country),
        sdgs=frozenset(profile.sdgs),
        offers_kinds=frozenset(k.value for k in profile.offers.kinds),
        seeks_kinds=frozenset(k.value for k in profile.seeks.kinds),
        vectors=vectors,
        offer_terms=own_offer + members.offer_terms,
        seek_terms=own_seek + unmet,
        own_seek_terms=frozenset(own_seek),
        offered_topics=Counter(members.expertise),
        interests=Counter(members.interests),
        members=members.count,
        shown=displayed("\n".join([profile.offers.text, profile.seeks.text, *unmet_tags]))
        | members.shown,
    )


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[term] for term, count in a.items() if term in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def gets(a: HubSide, b: HubSide, weights: HubScoring) -> float:
    """What hub `a` gets from hub `b`: a's seeks against b's offers, dense and words."""
    dense = float(a.vectors[VectorKind.SEEKS] @ b.vectors[VectorKind.OFFERS])
    return dense + weights.words_weight * _cosine(a.seek_terms, b.offer_terms)


def score(a: HubSide, b: HubSide, weights: HubScoring) -> float:
    """How well `b` fits `a` as a partner (symmetric when reciprocal)."""
    ab = max(gets(a, b, weights), 0.0)
    if weights.reciprocal:
        ba = max(gets(b, a, weights), 0.0)
        base = 2 * ab * ba / (ab + ba) if ab + ba > 0 else 0.0
        kinds = (bool(a.seeks_kinds & b.offers_kinds) + bool(b.seeks_kinds & a.offers_kinds)) / 2
    else:
        base, kinds = ab, float(bool(a.seeks_kinds & b.offers_kinds))
    shared = len(a.sdgs & b.sdgs) / len(a.sdgs | b.sdgs) if a.sdgs | b.sdgs else 0.0
    total = base + weights.kinds_weight * kinds + weights.sdgs_weight * shared
    if a.country != b.country:
        total *= 1 + weights.cross_country_boost
    return total


def seeks_topic(hub: HubSide, topic: str) -> bool:
    """The hub seeks `topic`: its own seeks text names it, or a quarter of its members (at
    least two) are interested in it and none of them works on it."""
    words = terms(topic)
    if words and all(w in hub.own_seek_terms for w in words):
        return True
    return hub.interests[topic] >= max(2, hub.members / 4) and topic not in hub.offered_topics


def _topics_met(seeker: HubSide, offerer: HubSide) -> list[tuple[str, int]]:
    """Topics the offerer's members offer that the seeker seeks, most members first."""
    met = [(t, n) for t, n in offerer.offered_topics.items() if seeks_topic(seeker, t)]
    return sorted(met, key=lambda tn: (-tn[1], tn[0]))[:MAX_TOPICS_SHOWN]


def reasons(reader: HubSide, other: HubSide) -> list[Reason]:
    """Why `other` suits `reader`, as sentences about `other` (rendered with its name by
    `nnmatch.reasons.reason_sentence`: "YAIL Lisbon members offer remote sensing, …")."""
    out: list[Reason] = []
    gained = _topics_met(reader, other)
    if gained:
        members = max(n for _, n in gained)
        out.append(
            Reason(
                kind="members_offer_meets_seek",
                text=f"members offer {listed([t for t, _ in gained])}, which your hub seeks "
                f"({members} member{'s' if members != 1 else ''})",
                params={"topics": [t for t, _ in gained], "count": members},
            )
        )
    given = _topics_met(other, reader)
    if given:
        out.append(
            Reason(
                kind="seek_meets_members_offer",
                text=f"seeks {listed([t for t, _ in given])}, which your members offer",
                params={"topics": [t for t, _ in given]},
            )
        )
    kinds = sorted(other.offers_kinds & reader.seeks_kinds)
    if kinds:
        phrases = [OFFER_PHRASES[Kind(k)] for k in kinds]
        out.append(
            Reason(
                kind="offer_meets_seek",
                text=f"offers {listed(phrases)}, which you seek",
                params={"kinds": list(kinds)},
            )
        )
    sdgs = sorted(reader.sdgs & other.sdgs)
    if sdgs:
        named = [f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs[:2]]
        out.append(
            Reason(
                kind="shared_sdg", text=f"both work on {listed(named)}", params={"sdgs": sdgs[:2]}
            )
        )
    if not gained and not given:
        common = sorted(
            set(reader.seek_terms) & set(other.offer_terms),
            key=lambda t: (-reader.seek_terms[t] * other.offer_terms[t], t),
        )[:3]
        if common:
            words = [other.shown.get(t) or reader.shown.get(t) or t for t in common]
            out.append(
                Reason(
                    kind="shared_words",
                    text=f"offers what your hub seeks: {', '.join(words)}",
                    params={"words": words},
                )
            )
    if other.country != reader.country:
        out.append(
            Reason(
                kind="cross_country",
                text=f"based in {other.country}, another country",
                params={"country": other.country},
            )
        )
    return out


Scope = Literal["anywhere", "region"]


def partners(
    sides: Mapping[str, HubSide],
    weights: HubScoring,
    top_n: int,
    excluded: Mapping[str, set[str]] | None = None,
) -> dict[str, list[HubPartner]]:
    """Every hub's `top_n` partner hubs anywhere, best first (ties by hub id)."""
    excluded = excluded or {}
    out: dict[str, list[HubPartner]] = {}
    for hub_id, reader in sides.items():
        gone = excluded.get(hub_id, set())
        ranked = sorted(
            (
                (round(score(reader, other, weights), 6), other_id)
                for other_id, other in sides.items()
                if other_id != hub_id and other_id not in gone
            ),
            key=lambda so: (-so[0], so[1]),
        )[:top_n]
        out[hub_id] = [
            HubPartner(
                hub_id=other_id,
                name=sides[other_id].name,
                country=sides[other_id].country,
                region=sides[other_id].region,
                score=value,
                reasons=reasons(reader, sides[other_id]),
            )
            for value, other_id in ranked
        ]
    return out


def in_scope(partner: HubPartner, region: str | None, scope: Scope) -> bool:
    """ "within my region" keeps partners of the reader's M49 region; "anywhere" keeps all."""
    return scope == "anywhere" or (region is not None and partner.region == region)
