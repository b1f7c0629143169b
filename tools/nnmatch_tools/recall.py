"""Recall@10 of each index kind (sq8, hnsw) against exact flat search, on the current vectors.

The vectors come from the compacted `profile-vectors.v1` (what the matcher would index now;
the Kafka settings and topic prefix from the environment), or from seeded members embedded
with the configured model (`--seeded N`), or from clustered random unit vectors
(`--synthetic N`, no model). The queries are the matcher's own searches: members' seeks
vectors against everyone's offers, and profile against profile. Each kind also loses 5 % of
its members afterwards, to show removals are honoured (`removed_returned` must be 0) and what
recall is left. HNSW options are flags; FAISS threads come from the environment. The matcher
itself holds exact vectors (`member_matrix.py`) and searches no FAISS index: this says what an
approximate one would cost in recall.

Run as `python -m nnmatch_tools.recall`; prints a table and writes
`bench/results/index-recall-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from redis.asyncio import Redis

from nnmatch.events import VectorKind
from nnmatch.member_keys import RedisMemberKeys
from nnmatch_matching.embedding.embedder import (
    configured_embedder,
    embed_documents,
)
from nnmatch_matching.embedding.texts import member_texts
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.index import INDEX_KINDS, IndexOptions, Matrix, VectorIndex
from nnmatch_matching.matcher.replay import replay_vectors
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads
from nnmatch_tools.seed import generate_members

K = 10
SEARCHES = ((VectorKind.SEEKS, VectorKind.OFFERS), (VectorKind.PROFILE, VectorKind.PROFILE))
REMOVED_FRACTION = 0.05
BUILD_BATCH = 1000


def synthetic_vectors(count: int, dimensions: int, seed: int) -> dict[VectorKind, Matrix]:
    """Unit vectors around count/50 topic centres, as embeddings of a community cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, count // 50), dimensions)).astype(np.float32)
    out: dict[VectorKind, Matrix] = {}
    for kind in VectorKind:
        rows = centres[rng.integers(0, len(centres), count)]
        rows = rows + 0.6 * rng.standard_normal((count, dimensions)).astype(np.float32)
        out[kind] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out


def seeded_vectors(count: int, seed: int, settings: MatchingSettings) -> dict[VectorKind, Matrix]:
    embedder = configured_embedder(settings)  # the configured backend (NNMATCH_EMBEDDING_BACKEND)
    texts = [member_texts(m) for m in generate_members(count, seed=seed)]
    return {kind: embed_documents(embedder, [t[kind] for t in texts]) for kind in VectorKind}


async def topic_vectors(settings: MatchingSettings) -> dict[VectorKind, Matrix]:
    engine = MatchEngine(settings.embedding_dimensions, intent_texts=True)  # every kind
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    try:
        keys = RedisMemberKeys(redis, settings.redis_prefix)
        await replay_vectors(settings.kafka(), engine, keys=keys)
    finally:
        await redis.aclose()
    state = engine.export_state()
    return state.vectors


def build(
    ids: list[str], vectors: dict[VectorKind, Matrix], options: IndexOptions
) -> tuple[dict[VectorKind, VectorIndex], float]:
    started = time.perf_counter()
    indexes = {}
    for kind in {index_kind for _, index_kind in SEARCHES}:
        index = VectorIndex(vectors[kind].shape[1], options)
        for start in range(0, len(ids), BUILD_BATCH):
            index.upsert_many(
                ids[start : start + BUILD_BATCH], vectors[kind][start : start + BUILD_BATCH]
            )
        indexes[kind] = index
    return indexes, time.perf_counter() - started


def search_all(
    indexes: dict[VectorKind, VectorIndex], vectors: dict[VectorKind, Matrix], queries: list[int]
) -> tuple[list[list[str]], list[float]]:
    """Top-K ids per (search, query), and each single query's latency in seconds."""
    hits: list[list[str]] = []
    latencies: list[float] = []
    for query_kind, index_kind in SEARCHES:
        for row in queries:
            started = time.perf_counter()
            (found,) = indexes[index_kind].search(vectors[query_kind][row : row + 1], K)
            latencies.append(time.perf_counter() - started)
            hits.append([member for member, _ in found])
    return hits, latencies


def recall(exact: Sequence[Sequence[str]], got: Sequence[Sequence[str]]) -> float:
    found = sum(len(set(e) & set(g)) for e, g in zip(exact, got, strict=True))
    return found / max(1, sum(len(e) for e in exact))


def measure(
    vectors: dict[VectorKind, Matrix], options: IndexOptions, queries: int, seed: int
) -> dict[str, dict[str, Any]]:
    count = len(vectors[VectorKind.OFFERS])
    ids = [f"v{i}" for i in range(count)]
    rng = random.Random(seed)
    sample = rng.sample(range(count), min(queries, count))
    removed = set(rng.sample(ids, int(count * REMOVED_FRACTION)))
    results: dict[str, dict[str, Any]] = {}
    exact: list[list[str]] = []
    exact_after: list[list[str]] = []
    for kind in INDEX_KINDS:
        indexes, build_s = build(ids, vectors, replace(options, kind=kind))
        hits, latencies = search_all(indexes, vectors, sample)
        for index in indexes.values():
            for member in removed:
                index.remove(member)
        hits_after, _ = search_all(indexes, vectors, sample)
        if kind == "flat":
            exact, exact_after = hits, hits_after
        results[kind] = {
            "recall_at_10": round(recall(exact, hits), 4),
            "recall_at_10_after_removals": round(recall(exact_after, hits_after), 4),
            "removed_returned": sum(m in removed for h in hits_after for m in h),
            "build_s": round(build_s, 2),
            "search_ms_p50": round(1000 * float(np.percentile(latencies, 50)), 3),
            "search_ms_p99": round(1000 * float(np.percentile(latencies, 99)), 3),
            "rebuilds": sum(index.rebuilds for index in indexes.values()),
        }
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'index':<6} {'R@10':>7} {'R@10 -5%':>9} {'removed':>8} {'build s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    ]
    for kind, r in results.items():
        lines.append(
            f"{kind:<6} {r['recall_at_10']:>7.4f} {r['recall_at_10_after_removals']:>9.4f} "
            f"{r['removed_returned']:>8} {r['build_s']:>8.2f} {r['search_ms_p50']:>7.3f} "
            f"{r['search_ms_p99']:>7.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nnmatch_tools.recall", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--seeded", type=int, metavar="N", help="embed N seeded members")
    source.add_argument("--synthetic", type=int, metavar="N", help="N clustered random vectors")
    parser.add_argument("--dimensions", type=int, default=384, help="of --synthetic vectors")
    parser.add_argument("--queries", type=int, default=1000, help="per search (2 searches)")
    parser.add_argument("--seed", type=int, default=42)
    defaults = IndexOptions()
    parser.add_argument("--hnsw-m", type=int, default=defaults.hnsw_m, help="links per node")
    parser.add_argument(
        "--hnsw-ef-search", type=int, default=defaults.hnsw_ef_search, help="search breadth"
    )
    parser.add_argument(
        "--hnsw-ef-construction",
        type=int,
        default=defaults.hnsw_ef_construction,
        help="build breadth",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)

    settings = MatchingSettings(service_name="index-recall")
    limit_threads(settings)  # as the service process does
    if args.synthetic:
        vectors, origin = synthetic_vectors(args.synthetic, args.dimensions, args.seed), "synthetic"
    elif args.seeded:
        vectors, origin = seeded_vectors(args.seeded, args.seed, settings), "seeded"
    else:
        vectors = asyncio.run(topic_vectors(settings))
        origin = f"topic {settings.kafka().topic_prefix}profile-vectors.v1"
    count = len(vectors[VectorKind.OFFERS])
    if count < K:
        print(f"only {count} members' vectors in {origin}; use --seeded N or --synthetic N")
        return 1
    options = IndexOptions(
        hnsw_m=args.hnsw_m,
        hnsw_ef_search=args.hnsw_ef_search,
        hnsw_ef_construction=args.hnsw_ef_construction,
    )
    results = measure(vectors, options, args.queries, args.seed)
    print(table(results))
    report = {
        "command": "python -m nnmatch_tools.recall "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "vectors": origin,
        "members": count,
        "dimensions": int(vectors[VectorKind.OFFERS].shape[1]),
        "queries": 2 * min(args.queries, count),
        "removed_fraction": REMOVED_FRACTION,
        "options": {
            "hnsw_m": options.hnsw_m,
            "hnsw_ef_search": options.hnsw_ef_search,
            "hnsw_ef_construction": options.hnsw_ef_construction,
            "rebuild_fraction": options.rebuild_fraction,
            "faiss_threads": settings.faiss_threads,
            "blas_threads": settings.blas_threads,
        },
        "results": results,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"index-recall-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['queries']} queries over {count} members ({origin}); written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
