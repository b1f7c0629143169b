"""`nnmatch eval`: ranking quality (recall@10, nDCG@10) of dense-only, lexical-only and hybrid,
for hub search and for members' own match lists (evaluate_members.py).

The labelled set comes from the seeded community (`nnmatch_tools.seed`), whose ground truth is
known: every member has one domain (their expertise topics come only from it), offers and
seeks kinds, and methods. Two kinds of query:

- **seeks**: one sentence of a seeded member's own seeks text, for one kind they seek
  ("A mentor experienced in NLP for crisis message classification …");
- **hub**: what a hub would type, built from a domain's vocabulary
  ("a mentor in computer vision for crop disease detection").

A member is judged for a query by complementarity, never by the ranker's own scores: grade 1
if they offer the sought kind in the same domain, plus 1 for each of the query's method and
topic/problem they really have (in their expertise, or for a problem in their offers text).
Non-discoverable members are neither ranked nor judged. recall@10 counts the members of
grade ≥ 2 found in the top 10, out of min(10, how many there are); nDCG@10 uses gains
2^grade − 1.

Members' own lists are judged too (`evaluate_members.py`): for a sample of seeded members, their
top 10 by the matcher with dense-only, lexical-only and hybrid candidates and fit.
Hub ↔ hub partners too (`evaluate_hubs.py`): the seeded hubs' reciprocal partner lists against
the hub's own text alone and its members' mean without reciprocity.

Run as `nnmatch eval` (or `python -m nnmatch_tools.evaluate`); prints the tables and writes
`bench/results/eval-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from nnmatch.events import MemberCard, VectorKind
from nnmatch.profile import BulkProfileLine, Kind
from nnmatch_matching.embedding.embedder import (
    Embedder,
    configured_embedder,
    embed_documents,
)
from nnmatch_matching.embedding.texts import SEEK_PHRASES, member_texts
from nnmatch_matching.hubs.scoring import HubScoring
from nnmatch_matching.matcher.member_matrix import MemberMatrix
from nnmatch_matching.matcher.ranking import RankingWeights
from nnmatch_matching.search.catalogue import Catalogue, SearchFilters
from nnmatch_matching.search.search import Fusion, Mode, fusion_of, ranking
from nnmatch_matching.settings import MatchingSettings
from nnmatch_tools.evaluate_hubs import (
    build_book,
    evaluate_hubs,
    ground_truth,
    hubs_table,
    silenced,
)
from nnmatch_tools.evaluate_members import (
    Variant,
    engine_for,
    grades_for,
    lists_of,
    seeded,
    variants,
)
from nnmatch_tools.seed import DOMAINS, Domain, generate_members
from nnmatch_tools.seed_hubs import generate_hubs

K = 10
RELEVANT_GRADE = 2


@dataclass(frozen=True)
class Query:
    style: str
    text: str
    grades: dict[str, int]


@dataclass
class Scores:
    recall: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "recall@10": round(float(np.mean(self.recall)), 4) if self.recall else 0.0,
            "ndcg@10": round(float(np.mean(self.ndcg)), 4) if self.ndcg else 0.0,
        }


def domain_of(member: BulkProfileLine) -> Domain:
    """The seeded member's domain: their first expertise tag is one of its topics."""
    return next(d for d in DOMAINS if member.expertise and member.expertise[0] in d.topics)


def _has(text: str, phrase: str) -> bool:
    return phrase.casefold() in text.casefold()


def judge(
    members: Sequence[BulkProfileLine], kind: Kind, domain: Domain, query: str, exclude: str = ""
) -> dict[str, int]:
    """Grades of every discoverable member for a query seeking `kind` in `domain`."""
    methods = [m for m in domain.methods if _has(query, m)]
    subjects = [s for s in (*domain.topics, *domain.problems) if _has(query, s)]
    grades = {}
    for m in members:
        if m.member_id == exclude or not m.visibility.discoverable:
            continue
        if kind not in m.offers.kinds or domain_of(m) is not domain:
            continue
        tags = [t.casefold() for t in m.expertise]
        grade = 1
        grade += any(method.casefold() in tags for method in methods)
        grade += any(s.casefold() in tags or _has(m.offers.text, s) for s in subjects)
        grades[m.member_id] = grade
    return grades


def build_queries(
    members: Sequence[BulkProfileLine], count: int, rng: random.Random
) -> list[Query]:
    """`count` seeks queries and `count` hub queries, each with at least one grade ≥ 2 member."""
    queries: list[Query] = []
    seekers = [m for m in members if m.seeks.kinds and m.seeks.text]
    offered = [k for k in Kind if any(k in m.offers.kinds for m in members)]
    attempts = 0
    while sum(q.style == "seeks" for q in queries) < count and attempts < 50 * count:
        attempts += 1
        seeker = rng.choice(seekers)
        sentences = [s.strip() for s in seeker.seeks.text.split(". ") if s.strip()]
        if len(sentences) != len(seeker.seeks.kinds):
            continue
        i = rng.randrange(len(sentences))
        text = sentences[i].rstrip(".")
        grades = judge(members, seeker.seeks.kinds[i], domain_of(seeker), text, seeker.member_id)
        if any(g >= RELEVANT_GRADE for g in grades.values()):
            queries.append(Query("seeks", text, grades))
    attempts = 0
    while sum(q.style == "hub" for q in queries) < count and attempts < 50 * count:
        attempts += 1
        domain, kind = rng.choice(DOMAINS), rng.choice(offered)
        text = (
            f"{SEEK_PHRASES[kind]} in {rng.choice(domain.methods)} for {rng.choice(domain.topics)}"
        )
        grades = judge(members, kind, domain, text)
        if any(g >= RELEVANT_GRADE for g in grades.values()):
            queries.append(Query("hub", text, grades))
    return queries


def recall_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = K) -> float:
    relevant = {m for m, g in grades.items() if g >= RELEVANT_GRADE}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = K) -> float:
    gains = [2 ** grades.get(m, 0) - 1 for m in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2**g - 1 for g in grades.values()), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


@dataclass(frozen=True)
class Corpus:
    members: list[BulkProfileLine]
    indexes: dict[VectorKind, MemberMatrix]
    catalogue: Catalogue


def build_corpus(members: list[BulkProfileLine], embedder: Embedder) -> Corpus:
    """The members as search sees them: their vectors held as the matcher holds them, cards
    catalogued."""
    ids = [m.member_id for m in members]
    texts = [member_texts(m) for m in members]
    indexes = {}
    for kind in VectorKind:
        index = MemberMatrix(embedder.model.dimensions)
        index.upsert_many(ids, embed_documents(embedder, [t[kind] for t in texts]))
        indexes[kind] = index
    catalogue = Catalogue()
    for m in members:
        catalogue.upsert(m.member_id, MemberCard.from_profile(m))
    return Corpus(members, indexes, catalogue)


def evaluate(
    corpus: Corpus,
    queries: list[Query],
    embedder: Embedder,
    variants: dict[str, tuple[Mode, Fusion]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant, per query style (and "all"): mean recall@10 and nDCG@10."""
    vectors = embed_documents(embedder, [q.text for q in queries])
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (mode, fusion) in variants.items():
        by_style: dict[str, Scores] = {"all": Scores()}
        for query, vector in zip(queries, vectors, strict=True):
            hits = ranking(
                mode, query.text, vector, corpus.indexes, corpus.catalogue, SearchFilters(), fusion
            )
            ranked = [h.member_id for h in hits[:K]]
            for style in ("all", query.style):
                scores = by_style.setdefault(style, Scores())
                scores.recall.append(recall_at_k(ranked, query.grades))
                scores.ndcg.append(ndcg_at_k(ranked, query.grades))
        results[name] = {style: s.summary() for style, s in by_style.items()}
    return results


def variants_for(fusion: Fusion) -> dict[str, tuple[Mode, Fusion]]:
    """Dense-only, lexical-only and hybrid as configured, plus hybrid with the other fusion
    (score ↔ rrf), so one run shows what each side and the fusion method contribute."""
    other = Fusion(
        method="score" if fusion.method == "rrf" else "rrf",
        dense_weight=fusion.dense_weight,
        lexical_weight=fusion.lexical_weight,
        rrf_k=fusion.rrf_k,
        candidate_k=fusion.candidate_k,
    )
    return {
        "dense": (Mode.DENSE, fusion),
        "lexical": (Mode.LEXICAL, fusion),
        f"hybrid ({fusion.method})": (Mode.HYBRID, fusion),
        f"hybrid ({other.method})": (Mode.HYBRID, other),
    }


def evaluate_lists(
    corpus: Corpus, sample: Sequence[str], engines: dict[str, Variant], dimensions: int
) -> dict[str, dict[str, float]]:
    """Per variant: mean recall@10 and nDCG@10 of the sampled members' own lists."""
    everyone = [seeded(m, domain_of(m)) for m in corpus.members]
    by_id = {s.member_id: s for s in everyone}
    grades = {m: grades_for(by_id[m], everyone) for m in sample}
    ids = [m.member_id for m in corpus.members]
    vectors = {kind: index.vectors(ids) for kind, index in corpus.indexes.items()}
    results = {}
    for name, variant in engines.items():
        lists = lists_of(engine_for(variant, corpus.members, vectors, dimensions), sample)
        scores = Scores(
            [recall_at_k(lists[m], grades[m]) for m in sample],
            [ndcg_at_k(lists[m], grades[m]) for m in sample],
        )
        results[name] = scores.summary()
    return results


def lists_table(results: dict[str, dict[str, float]]) -> str:
    head = f"{'member lists':<28}{'R@10':>8}{'nDCG@10':>10}"
    lines = [head, "-" * len(head)]
    for name, summary in results.items():
        lines.append(f"{name:<28}{summary['recall@10']:>8.3f}{summary['ndcg@10']:>10.3f}")
    return "\n".join(lines)


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    styles = ["all", "seeks", "hub"]
    head = f"{'retrieval':<18}" + "".join(f"{s + ' R@10':>12}{s + ' nDCG@10':>15}" for s in styles)
    lines = [head, "-" * len(head)]
    for name, by_style in results.items():
        cells = "".join(
            f"{by_style.get(s, {}).get('recall@10', 0.0):>12.3f}"
            f"{by_style.get(s, {}).get('ndcg@10', 0.0):>15.3f}"
            for s in styles
        )
        lines.append(f"{name:<18}{cells}")
    return "\n".join(lines)


def run(
    members_count: int = 2000,
    queries_per_style: int = 100,
    lists_count: int = 300,
    seed: int = 42,
    out: Path = Path("bench/results"),
    command: str = "nnmatch eval",
) -> Path:
    """Score hub search and members' own lists on `members_count` seeded members; print the
    tables and write the report (with `command`, to rerun it) under `out`. Returns its path."""
    started = time.perf_counter()
    settings = MatchingSettings(service_name="eval")
    hub_scoring = HubScoring(
        own_text_weight=settings.hub_own_text_weight,
        words_weight=settings.hub_words_weight,
        cross_country_boost=settings.hub_cross_country_boost,
    )
    fusion = fusion_of(settings)
    embedder = configured_embedder(settings)  # the configured backend (NNMATCH_EMBEDDING_BACKEND)
    members = list(generate_members(members_count, seed=seed))
    corpus = build_corpus(members, embedder)
    queries = build_queries(members, queries_per_style, random.Random(seed))
    results = evaluate(corpus, queries, embedder, variants_for(fusion))
    print(table(results))
    weights: RankingWeights = settings.ranking
    engines = variants(weights)
    ids = sorted(m.member_id for m in members)
    sample = sorted(random.Random(seed).sample(ids, min(lists_count, len(ids))))
    lists = evaluate_lists(corpus, sample, engines, embedder.model.dimensions) if sample else {}
    if lists:
        print("\n" + lists_table(lists))
    hubs = generate_hubs(members, seed=seed)
    hub_results = {}
    if hubs:
        book, truth = build_book(hubs, members, embedder), ground_truth(hubs, members)
        for scenario, seen in (("as seeded", book), ("every other hub silent", silenced(book))):
            hub_results[scenario] = evaluate_hubs(seen, truth, hub_scoring)
            print("\n" + hubs_table(hub_results[scenario], scenario))
    report = {
        "command": command,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "members": members_count,
        "seed": seed,
        "queries": {style: sum(q.style == style for q in queries) for style in ("seeks", "hub")},
        "model": embedder.model.model_dump(),
        "fusion": asdict(fusion),
        "results": results,
        "member_lists": {
            "members": len(sample),
            "lexical_weight": weights.lexical,
            "results": lists,
        },
        "hub_partners": {"hubs": len(hubs), "results": hub_results},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "examples": [
            {"style": q.style, "query": q.text, "relevant": sum(g >= 2 for g in q.grades.values())}
            for q in queries[:3] + queries[-3:]
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"eval-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{len(queries)} queries and {len(sample)} members' lists over {members_count} members;"
        f" written to {path}"
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nnmatch_tools.evaluate [--members N] …`: the same as `nnmatch eval`."""
    parser = argparse.ArgumentParser(prog="nnmatch eval", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100, help="per query style")
    parser.add_argument(
        "--lists", type=int, default=300, help="members whose own lists are judged (0: none)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    run(
        args.members,
        args.queries,
        args.lists,
        args.seed,
        args.out,
        command=" ".join(["nnmatch eval", *given]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
