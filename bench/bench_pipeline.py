"""Foundation benchmark: embedding and matching throughput beside their raw baselines.

Not part of `make test`. Run: `.venv/bin/python bench/bench_pipeline.py --members 1000`.
Writes `bench/results/pipeline-<timestamp>.json`. The machines are shared and noisy, so each
figure is measured in the same run as its baseline and reported with the ratio:

- embedding: `embed_documents` (chunking + pooling) vs raw `SentenceTransformer.encode` on the
  same texts;
- matching: `MatchEngine.matches_for` (three FAISS searches + reciprocal re-ranking + reasons)
  per member vs one raw FAISS top-K search per member on the same vectors.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from nnmatch.events import (
    MemberCard,
    ProfileVectorsComputed,
    VectorKind,
    encode_vector,
)
from nnmatch_matching.embedding.embedder import (
    SentenceTransformerEmbedder,
    bundled_model_path,
    embed_documents,
)
from nnmatch_matching.embedding.texts import member_texts
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_tools.machine import describe_machine
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99))}


def _machine() -> dict[str, Any]:
    return describe_machine(
        torch=torch.__version__, torch_threads=torch.get_num_threads(), faiss=faiss.__version__
    )


def bench_embedding(
    members: int, rounds: int
) -> tuple[dict[str, Any], list[ProfileVectorsComputed]]:
    lines = list(generate_members(members))
    texts = [member_texts(line.profile()) for line in lines]
    documents = [t[kind] for t in texts for kind in VectorKind]
    embedder = SentenceTransformerEmbedder(bundled_model_path(), "all-MiniLM-L6-v2")
    embedder.encode(documents[:32])  # warm-up
    non_empty = [d for d in documents if d]
    raw_s = ours_s = float("inf")
    matrix = np.zeros((0, 384), dtype=np.float32)
    for _ in range(rounds):  # alternate, keep each side's best: the machine is shared
        started = time.perf_counter()
        embedder.encode(non_empty)
        raw_s = min(raw_s, time.perf_counter() - started)
        started = time.perf_counter()
        matrix = embed_documents(embedder, documents)
        ours_s = min(ours_s, time.perf_counter() - started)
    kinds = list(VectorKind)
    events = [
        ProfileVectorsComputed(
            producer="bench",
            member_id=line.member_id,
            profile_version=1,
            model=embedder.model,
            vectors={k: encode_vector(matrix[i * 3 + j]) for j, k in enumerate(kinds)},
            text_hashes={k: "" for k in kinds},
            card=MemberCard.from_profile(line.profile()),
        )
        for i, line in enumerate(lines)
    ]
    result = {
        "members": members,
        "texts": len(non_empty),
        "rounds": rounds,
        "raw_encode_texts_per_s": len(non_empty) / raw_s,
        "nnmatch_texts_per_s": len(non_empty) / ours_s,
        "ratio_nnmatch_to_raw": raw_s / ours_s,
    }
    return result, events


def bench_matching(events: list[ProfileVectorsComputed], queries: int) -> dict[str, Any]:
    engine = MatchEngine(384)
    started = time.perf_counter()
    for offset, event in enumerate(events):
        engine.apply(event, LogPosition(0, offset))
    index_s = time.perf_counter() - started
    ids = [e.member_id for e in events[:queries]]
    now = datetime.now(UTC)
    ours: list[float] = []
    for member_id in ids:
        started = time.perf_counter()
        engine.matches_for([member_id], now)
        ours.append(time.perf_counter() - started)
    raw_index = faiss.IndexFlatIP(384)
    raw_index.add(np.stack([e.vector(VectorKind.OFFERS) for e in events]))
    raw: list[float] = []
    for event in events[:queries]:
        query = event.vector(VectorKind.SEEKS)[None, :]
        started = time.perf_counter()
        raw_index.search(query, engine.candidate_k)
        raw.append(time.perf_counter() - started)
    started = time.perf_counter()
    batch = engine.matches_for([e.member_id for e in events], now)
    backfill_s = time.perf_counter() - started
    ours_p = _percentiles(ours)
    raw_p = _percentiles(raw)
    return {
        "index_members": len(engine),
        "index_build_s": index_s,
        "matches_per_member": ours_p,
        "raw_faiss_search_per_member": raw_p,
        "ratio_p50_nnmatch_to_raw": ours_p["p50_ms"] / raw_p["p50_ms"],
        "all_members_matched_s": backfill_s,
        "suggestions_per_member": float(np.mean([len(v) for v in batch.values()])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="seeded members to embed")
    parser.add_argument("--rounds", type=int, default=2, help="alternating timing rounds")
    parser.add_argument("--queries", type=int, default=300, help="members timed one by one")
    args = parser.parse_args()
    machine = _machine()  # first: the load before our own work
    embedding, events = bench_embedding(args.members, args.rounds)
    matching = bench_matching(events, min(args.queries, len(events)))
    result = {
        "benchmark": "pipeline",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": vars(args),
        "embedding": embedding,
        "matching": matching,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pipeline-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
