"""`nnmatch eval --set real`: members' lists judged by who real people went on to work with.

The set (`realset/`) holds researchers' own words from before a split year and, as truth, the
new co-authors each went on to publish with after it. Everyone is loaded as a member, the
configured embedder embeds them as the embedding stage does, and each query person's top 10 is
judged by recall@10 and nDCG@10, with 95 % bootstrap intervals over the queries. In the same
run, on the same text and vectors:

- `popularity`: the people most often among the *tuning* part's truth (a prior, no words);
- `bm25`: BM25 (the independent `bm25s` package) with the whole profile text as the query;
- `dense`: the cosine of the profile vectors (what FAISS over them returns);
- `rrf`: reciprocal-rank fusion of `bm25` and `dense` (k = 60), per query;
- `connections`: connections in common only (co-authors before the split), dense breaking ties;
- `engine`: the service's own `MatchEngine` with the configured weights, plus ablations
  (`engine, text only`: without connections, which is all a freshly imported community has).

Co-authors from before the split are loaded as the engine's connections (accepted
introductions) and excluded from every ranking, so each list is judged on new people only.
Tune weights on `--part tune`; report `--part report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nnmatch.events import FeedbackAction, MemberCard, VectorKind
from nnmatch.profile import BulkProfileLine
from nnmatch_matching.embedding.embedder import Embedder, configured_embedder, embed_documents
from nnmatch_matching.embedding.texts import member_texts
from nnmatch_matching.embedding.words import profile_terms
from nnmatch_matching.matcher.engine import EngineState, LogPosition, MatchEngine
from nnmatch_matching.matcher.index import Matrix
from nnmatch_matching.matcher.ranking import (
    LEXICAL_CALIBRATION,
    PROFILE_CALIBRATION,
    RECIPROCAL_CALIBRATION,
    RankingWeights,
)
from nnmatch_matching.settings import MatchingSettings
from nnmatch_tools.evaluate import ndcg_at_k, recall_at_k
from nnmatch_tools.realset.load import ProfileStyle, RealSet, load, profile_of

K = 10
RRF_K = 60
POOL = 100  # depth of each list that rank fusion reads
NOW = datetime(2026, 1, 1, tzinfo=UTC)
Lists = dict[str, list[str]]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnmatch" / "eval"
"""Where the set's vectors are kept between runs (by model and texts)."""


@dataclass(frozen=True)
class Corpus:
    """The set loaded as members: profiles, their whole text and the service's vectors."""

    ids: list[str]
    profiles: list[BulkProfileLine]
    texts: list[str]  # everything the member wrote: what BM25 reads
    vectors: dict[VectorKind, Matrix]


def whole_text(profile: BulkProfileLine) -> str:
    """Every word of the profile as the embedder's three texts put them."""
    return "\n".join(t for t in member_texts(profile).values() if t)


def embed_cached(embedder: Embedder, documents: Sequence[str], cache: Path | None) -> Matrix:
    """`embed_documents`, each distinct text once, kept on disk by model and texts."""
    distinct = sorted(set(documents))
    key = hashlib.sha256("\x00".join([embedder.model.version, *distinct]).encode()).hexdigest()
    file = cache / f"{embedder.model.id.replace('/', '_')}-{key[:24]}.npy" if cache else None
    if file is not None and file.exists():
        matrix = np.load(file)
    else:
        matrix = embed_documents(embedder, distinct)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            np.save(file, matrix)
    row = {text: i for i, text in enumerate(distinct)}
    picked: Matrix = np.asarray(matrix, dtype=np.float32)[[row[d] for d in documents]]
    return picked


def build_corpus(
    realset: RealSet, embedder: Embedder, style: ProfileStyle, cache: Path | None
) -> Corpus:
    profiles = [profile_of(p, style) for p in realset.people]
    texts = [member_texts(p) for p in profiles]
    vectors = {kind: embed_cached(embedder, [t[kind] for t in texts], cache) for kind in VectorKind}
    return Corpus(
        ids=[p.member_id for p in profiles],
        profiles=profiles,
        texts=[whole_text(p) for p in profiles],
        vectors=vectors,
    )


def _top(scores: npt.NDArray[np.floating], ids: Sequence[str], drop: set[str], k: int) -> list[str]:
    """The `k` best-scored ids not in `drop`, best first (ties by id)."""
    order = np.argsort(-scores, kind="stable")
    out: list[str] = []
    for row in order[: k + len(drop) + 1].tolist():
        if ids[row] not in drop and np.isfinite(scores[row]):
            out.append(ids[row])
            if len(out) == k:
                break
    return out


def excluded(realset: RealSet, query: str) -> set[str]:
    return {query, *realset.known.get(query, frozenset())}


def dense_lists(corpus: Corpus, realset: RealSet, queries: Sequence[str], k: int) -> Lists:
    """Cosine of profile vectors, exact (the engine's FAISS index is exact by default)."""
    row = {m: i for i, m in enumerate(corpus.ids)}
    matrix = corpus.vectors[VectorKind.PROFILE]
    out: Lists = {}
    for start in range(0, len(queries), 256):
        part = list(queries[start : start + 256])
        scores = matrix[[row[q] for q in part]] @ matrix.T
        for q, line in zip(part, scores, strict=True):
            out[q] = _top(line, corpus.ids, excluded(realset, q), k)
    return out


def bm25_lists(corpus: Corpus, realset: RealSet, queries: Sequence[str], k: int) -> Lists:
    """BM25 (`bm25s`, English stop words) with the query person's whole text as the query."""
    import bm25s  # type: ignore[import-untyped]

    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus.texts, stopwords="en", show_progress=False), show_progress=False
    )
    row = {m: i for i, m in enumerate(corpus.ids)}
    widest = max((len(realset.known.get(q, ())) for q in queries), default=0) + 1
    tokens = bm25s.tokenize(
        [corpus.texts[row[q]] for q in queries], stopwords="en", show_progress=False
    )
    docs, _ = retriever.retrieve(
        tokens, k=min(k + widest, len(corpus.ids)), show_progress=False, n_threads=0
    )
    out: Lists = {}
    for q, hits in zip(queries, docs, strict=True):
        drop = excluded(realset, q)
        out[q] = [corpus.ids[i] for i in hits.tolist() if corpus.ids[i] not in drop][:k]
    return out


def rrf(lists: Sequence[Lists], k: int, rrf_k: int = RRF_K) -> Lists:
    """Reciprocal-rank fusion: each id scores Σ 1 / (rrf_k + rank) over the lists."""
    out: Lists = {}
    for q in lists[0]:
        fused: dict[str, float] = {}
        for ranked in lists:
            for rank, member in enumerate(ranked.get(q, ()), start=1):
                fused[member] = fused.get(member, 0.0) + 1.0 / (rrf_k + rank)
        out[q] = [m for m, _ in sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:k]]
    return out


def popularity_lists(corpus: Corpus, realset: RealSet, queries: Sequence[str], k: int) -> Lists:
    """Everyone gets the people most often in the tuning part's truth (minus the known)."""
    counts = Counter(m for q in realset.tune for m in realset.truth[q])
    order = sorted(corpus.ids, key=lambda m: (-counts[m], m))
    out: Lists = {}
    for q in queries:
        drop = excluded(realset, q)
        out[q] = [m for m in order[: k + len(drop) + 1] if m not in drop][:k]
    return out


def engine_for(
    corpus: Corpus, realset: RealSet, weights: RankingWeights, intent_texts: bool | None = None
) -> MatchEngine:
    """The service's engine as configured, holding everyone; known co-authors excluded
    (`intent_texts`: as `MatchEngine`'s)."""
    settings = MatchingSettings(service_name="eval")
    engine = MatchEngine(
        corpus.vectors[VectorKind.PROFILE].shape[1],
        top_n=K,
        candidate_k=settings.candidate_k,
        weights=weights,
        lexical_k=settings.lexical_candidate_k,
        intent_texts=intent_texts,
    )
    engine.import_state(
        EngineState(
            model_id="eval",
            member_ids=corpus.ids,
            vectors=corpus.vectors,
            cards=[MemberCard.from_profile(p) for p in corpus.profiles],
            profile_versions=[1] * len(corpus.ids),
            positions=[LogPosition(0, i) for i in range(len(corpus.ids))],
            removed={},
            terms=[profile_terms(p) for p in corpus.profiles],  # as the embedder sends them
        )
    )
    held = set(corpus.ids)
    for member, others in realset.known.items():
        for other in sorted(others & held):
            if member in held:
                engine.record_feedback(member, other, FeedbackAction.ACCEPT)
    return engine


def engine_lists(engine: MatchEngine, queries: Sequence[str], chunk: int = 512) -> Lists:
    out: Lists = {}
    for start in range(0, len(queries), chunk):
        ranked = engine.matches_for(queries[start : start + chunk], NOW)
        out.update({m: [s.member_id for s in ranked.get(m, [])] for m in queries[start:]})
    return {q: out.get(q, []) for q in queries}


@dataclass(frozen=True)
class Judged:
    """Per query (in one order shared by every ranking): recall@10 and nDCG@10."""

    recall: npt.NDArray[np.float64]
    ndcg: npt.NDArray[np.float64]


def judge(lists: Lists, realset: RealSet, queries: Sequence[str]) -> Judged:
    grades = {q: dict.fromkeys(realset.truth[q], 2) for q in queries}
    return Judged(
        np.array([recall_at_k(lists.get(q, []), grades[q], K) for q in queries]),
        np.array([ndcg_at_k(lists.get(q, []), grades[q], K) for q in queries]),
    )


def bootstrap_rows(queries: int, rounds: int = 1000, seed: int = 7) -> npt.NDArray[np.int64]:
    """The same resamples of the queries for every ranking, so differences are paired."""
    return np.random.default_rng(seed).integers(0, queries, size=(rounds, queries))


def interval(values: npt.NDArray[np.float64], rows: npt.NDArray[np.int64]) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean."""
    means = values[rows].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summary(judged: Judged, rows: npt.NDArray[np.int64]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, values in (("recall@10", judged.recall), ("ndcg@10", judged.ndcg)):
        low, high = interval(values, rows)
        out[name] = round(float(values.mean()), 4)
        out[f"{name} low"] = round(low, 4)
        out[f"{name} high"] = round(high, 4)
    return out


def ablations(weights: RankingWeights) -> dict[str, RankingWeights]:
    """The engine as configured, then without each part, to show what each part earns."""
    return {
        "engine": weights,
        "engine, text only": replace(weights, connections=0.0),
        "engine, no reciprocal": replace(weights, reciprocal=0.0),
        "engine, no words": replace(weights, lexical=0.0),
        "engine, no profile vectors": replace(weights, profile=0.0),
        "engine, no exposure cap": replace(weights, exposure_cap=0),
        "engine, no diversity": replace(weights, organisation_penalty=0.0, country_penalty=0.0),
    }


def connection_lists(corpus: Corpus, realset: RealSet, queries: Sequence[str], k: int) -> Lists:
    """Connections in common only (the known co-authors as connections), dense breaking ties:
    what the graph alone knows, for comparison with the engine that also reads it."""
    links: dict[str, set[str]] = {}
    for member, others in realset.known.items():
        for other in others:
            links.setdefault(member, set()).add(other)
            links.setdefault(other, set()).add(member)
    dense = dense_lists(corpus, realset, queries, POOL)
    out: Lists = {}
    for q in queries:
        counts: dict[str, int] = {}
        for friend in links.get(q, ()):
            for other in links.get(friend, ()):
                counts[other] = counts.get(other, 0) + 1
        drop = excluded(realset, q)
        order = {m: i for i, m in enumerate(dense[q])}
        ranked = sorted(
            (m for m in counts if m not in drop),
            key=lambda m: (-counts[m], order.get(m, len(order)), m),
        )
        out[q] = (ranked + [m for m in dense[q] if m not in counts])[:k]
    return out


Ranker = Callable[[], Lists]


def evaluate(
    realset: RealSet,
    corpus: Corpus,
    queries: Sequence[str],
    weights: RankingWeights,
    extra: Mapping[str, Ranker] | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Every baseline, the engine and its ablations, each judged on `queries`."""
    rankers: dict[str, Ranker] = {
        "popularity": lambda: popularity_lists(corpus, realset, queries, K),
        "bm25": lambda: bm25_lists(corpus, realset, queries, POOL),
        "dense": lambda: dense_lists(corpus, realset, queries, POOL),
        "connections": lambda: connection_lists(corpus, realset, queries, K),
    }
    lists: dict[str, Lists] = {}
    for name, ranker in rankers.items():
        progress(f"ranking: {name}")
        lists[name] = ranker()
    lists["rrf"] = rrf([lists["bm25"], lists["dense"]], K)
    for name, variant in ablations(weights).items():
        progress(f"ranking: {name}")
        lists[name] = engine_lists(engine_for(corpus, realset, variant), queries)
    for name, ranker in (extra or {}).items():
        progress(f"ranking: {name}")
        lists[name] = ranker()
    rows = bootstrap_rows(len(queries))
    return {
        name: summary(judge({q: r[:K] for q, r in ranked.items()}, realset, queries), rows)
        for name, ranked in lists.items()
    }


def measured_calibration(
    engine: MatchEngine, ids: Sequence[str], sample: int = 200, seed: int = 7
) -> dict[str, dict[str, float]]:
    """Mean and spread of each calibrated signal over `sample` members × everyone, beside the
    constants the ranking uses (`ranking.py`): re-measure them here for another model."""
    members = random.Random(seed).sample(list(ids), min(sample, len(ids)))
    values: dict[str, list[npt.NDArray[np.float64]]] = {
        "profile": [],
        "lexical": [],
        "reciprocal": [],
    }
    for member in members:
        signals = engine.signals(member, [m for m in ids if m != member])
        values["profile"].append(signals.profile)
        values["lexical"].append(signals.lexical[signals.has_words])
        values["reciprocal"].append(signals.reciprocal[signals.has_intent])
    used = {
        "profile": PROFILE_CALIBRATION,
        "lexical": LEXICAL_CALIBRATION,
        "reciprocal": RECIPROCAL_CALIBRATION,
    }
    out: dict[str, dict[str, float]] = {}
    for name, parts in values.items():
        joined = np.concatenate(parts) if parts else np.zeros(0)
        out[name] = {
            "mean": round(float(joined.mean()), 4) if len(joined) else 0.0,
            "spread": round(float(joined.std()), 4) if len(joined) else 0.0,
            "used mean": used[name].mean,
            "used spread": used[name].spread,
        }
    return out


def table(results: Mapping[str, Mapping[str, float]]) -> str:
    head = f"{'ranking':<28}{'R@10':>8}{'95% interval':>18}{'nDCG@10':>10}{'95% interval':>18}"
    lines = [head, "-" * len(head)]
    for name, s in results.items():
        r = f"{s['recall@10 low']:.4f}–{s['recall@10 high']:.4f}"
        n = f"{s['ndcg@10 low']:.4f}–{s['ndcg@10 high']:.4f}"
        lines.append(f"{name:<28}{s['recall@10']:>8.4f}{r:>18}{s['ndcg@10']:>10.4f}{n:>18}")
    return "\n".join(lines)


def verdict(
    results: Mapping[str, Mapping[str, float]], engine_name: str = "engine"
) -> dict[str, bool]:
    """The bar: ≥ 10 % over each single text baseline, ≥ RRF, above the best one's interval."""
    engine = results[engine_name]["recall@10"]
    best = max(("bm25", "dense"), key=lambda n: results[n]["recall@10"])
    return {
        "beats bm25 by 10%": engine >= 1.1 * results["bm25"]["recall@10"],
        "beats dense by 10%": engine >= 1.1 * results["dense"]["recall@10"],
        "at least rrf": engine >= results["rrf"]["recall@10"],
        f"above the {best} interval": engine > results[best]["recall@10 high"],
    }


def run(
    part: str = "report",
    style: ProfileStyle = ProfileStyle.PAPERS,
    people: int = 0,
    out: Path = Path("bench/results"),
    command: str = "nnmatch eval --set real",
    realset: RealSet | None = None,
    embedder: Embedder | None = None,
    cache: Path | None = CACHE,
) -> Path:
    """Evaluate on the real set's `part`; print the table and write eval-real-<time>.json."""
    started = time.perf_counter()
    settings = MatchingSettings(service_name="eval")
    data = realset or load()
    if people:
        data = data.sample(people)
    queries = [q for q in data.part(part) if q in data.truth]
    model = embedder or configured_embedder(settings)
    print(f"embedding {len(data.people)} people ({style} profiles) …", flush=True)
    corpus = build_corpus(data, model, style, cache)
    results = evaluate(data, corpus, queries, settings.ranking)
    print(table(results))
    calibration = measured_calibration(
        engine_for(corpus, data, settings.ranking, intent_texts=True), corpus.ids
    )
    for name, figures in calibration.items():
        print(
            f"calibration of {name}: measured mean {figures['mean']}, spread {figures['spread']}"
            f" (the ranking uses {figures['used mean']}, {figures['used spread']})"
        )
    checks = {
        f"{name} {check}": ok
        for name in ("engine", "engine, text only")
        for check, ok in verdict(results, name).items()
    }
    for check, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {check}")
    report = {
        "command": command,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "set": {
            "source": data.source,
            "split_year": data.split_year,
            "people": len(data.people),
            "part": part,
            "queries": len(queries),
            "profile_style": str(style),
        },
        "model": model.model.model_dump(),
        "weights": asdict(settings.ranking),
        "results": results,
        "verdict": checks,
        "calibration": calibration,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"eval-real-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{len(queries)} queries over {len(data.people)} people; written to {path}")
    return path
