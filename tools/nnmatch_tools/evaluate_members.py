"""Member-to-member part of `nnmatch eval`: members' own lists, dense vs lexical vs hybrid.

Each variant is a `MatchEngine` over the same seeded members; a sample of members is ranked and
their top 10 is judged by complementarity from the seed's ground truth, never by the ranker's
own scores. Candidate B for member A (B shown, not A, sharing a language with A — the others
the matcher may never list, so they are not judged):

- 0 unless both work in the same domain and at least one side offers a kind the other seeks;
- +1 if B offers a kind A seeks, +1 if A offers a kind B seeks (both: they want each other);
- +1 if the specifics meet: a method or topic/problem A's seeks text names is in B's
  expertise (or, for a problem, B's offers text), or the same from B's seeks text to A.

Grade ≥ 2 is relevant; recall@10 and nDCG@10 as for hub search (`evaluate.py`).

Variants: `dense` (embedding fit only), `lexical` (no vectors at all: word fit only) and
`hybrid` (as configured). Each ranks every member's list over everyone (the matcher's candidate
caches), so no variant differs by its candidate pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from nnmatch.events import MemberCard, VectorKind
from nnmatch.profile import BulkProfileLine, Kind
from nnmatch_matching.embedding.words import profile_terms
from nnmatch_matching.matcher.engine import EngineState, LogPosition, MatchEngine
from nnmatch_matching.matcher.index import Matrix
from nnmatch_matching.matcher.ranking import RankingWeights
from nnmatch_tools.seed import Domain

K = 10
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    """What grading reads of one seeded member, precomputed once."""

    member_id: str
    domain: Domain
    offers: frozenset[Kind]
    seeks: frozenset[Kind]
    languages: frozenset[str]
    shown: bool
    tags: frozenset[str]
    offers_text: str
    sought_methods: tuple[str, ...]
    sought_subjects: tuple[str, ...]


def seeded(member: BulkProfileLine, domain: Domain) -> Seeded:
    seeks_text = member.seeks.text.casefold()
    return Seeded(
        member_id=member.member_id,
        domain=domain,
        offers=frozenset(member.offers.kinds),
        seeks=frozenset(member.seeks.kinds),
        languages=frozenset(member.languages),
        shown=member.visibility.discoverable,
        tags=frozenset(t.casefold() for t in member.expertise),
        offers_text=member.offers.text.casefold(),
        sought_methods=tuple(m.casefold() for m in domain.methods if m.casefold() in seeks_text),
        sought_subjects=tuple(
            s.casefold() for s in (*domain.topics, *domain.problems) if s.casefold() in seeks_text
        ),
    )


def _meets(seeker: Seeded, offerer: Seeded) -> bool:
    """The seeker's named method or topic/problem is the offerer's."""
    return any(m in offerer.tags for m in seeker.sought_methods) or any(
        s in offerer.tags or s in offerer.offers_text for s in seeker.sought_subjects
    )


def pair_grade(a: Seeded, b: Seeded) -> int:
    """How well B fits A both ways (0–3), from ground truth only."""
    if a.domain is not b.domain:
        return 0
    forward, backward = bool(b.offers & a.seeks), bool(a.offers & b.seeks)
    if not (forward or backward):
        return 0
    return int(forward) + int(backward) + int(_meets(a, b) or _meets(b, a))


def grades_for(a: Seeded, everyone: Sequence[Seeded]) -> dict[str, int]:
    """Grades of every member the matcher may list for A."""
    return {
        b.member_id: pair_grade(a, b)
        for b in everyone
        if b.member_id != a.member_id and b.shown and b.languages & a.languages
    }


@dataclass(frozen=True)
class Variant:
    """One way of building the engine: its weights, and whether it holds the vectors."""

    weights: RankingWeights
    vectors: bool = True


def variants(weights: RankingWeights) -> dict[str, Variant]:
    """Dense-only, lexical-only and hybrid (as configured)."""
    return {
        "dense": Variant(replace(weights, lexical=0.0)),
        "lexical": Variant(replace(weights, lexical=1.0), vectors=False),
        "hybrid": Variant(weights),
    }


def engine_for(
    variant: Variant,
    members: Sequence[BulkProfileLine],
    vectors: dict[VectorKind, Matrix],
    dimensions: int,
) -> MatchEngine:
    """An engine holding the members (zero vectors when the variant uses none)."""
    engine = MatchEngine(dimensions, top_n=K, weights=variant.weights)
    ids = [m.member_id for m in members]
    engine.import_state(
        EngineState(
            model_id="eval",
            member_ids=ids,
            vectors={
                kind: matrix if variant.vectors else np.zeros_like(matrix)
                for kind, matrix in vectors.items()
            },
            cards=[MemberCard.from_profile(m) for m in members],
            profile_versions=[1] * len(ids),
            positions=[LogPosition(0, i) for i in range(len(ids))],
            removed={},
            terms=[profile_terms(m) for m in members],  # as the embedder sends them
        )
    )
    return engine


def lists_of(engine: MatchEngine, member_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each member's top-10 list, ranked as the matcher ranks a batch."""
    ranked = engine.matches_for(member_ids, NOW)
    return {m: [s.member_id for s in ranked.get(m, [])] for m in member_ids}
