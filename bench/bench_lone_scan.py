"""A lone changed member scored against everyone: matrix–vector products on the exact grid
(since `a9f244a`) against the matrix–matrix product of the member paired with itself that
they replaced.

Not part of `make test`. Run: `.venv/bin/python bench/bench_lone_scan.py --members 55000`.
Builds the engine as `bench_scale.backfill` does (a sample embedded, the others given blends
of sampled vectors), then scans the same members one at a time (`MatchEngine.scans`, as
`affected_by` scans a batch's changed members when the batch holds one) both ways, the order
alternating from round to round, and checks that both give every member the same odds to
the bit. Baseline, in the same run: one raw FAISS flat top 100 of the member's profile
vector over the same vectors. Then the kernels alone on the held profile vectors, with the
service's BLAS threads: a block of 1–6 rows by one matrix–vector product per row against one
matrix–matrix product (a lone row paired with itself, as before), alternating; and how often
a pair's dot agrees to the bit from either side of a 64-row block and between the two
kernels, for random unit vectors as they come and on the grid. Writes
`bench/results/lone-scan-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from bench_scale import Phases, _machine, backfill

from nnmatch.events import VectorKind
from nnmatch_matching.embedding.embedder import configured_embedder
from nnmatch_matching.matcher import engine as engine_module
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.exact_dots import on_exact_grid
from nnmatch_matching.matcher.ranking import Dots
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"


def paired_with_itself(engine: MatchEngine) -> None:
    """The engine's `_dots_block` as before `a9f244a`: every block a matrix–matrix product, a
    lone member paired with itself (set on the instance; `del engine._dots_block` undoes it)."""
    today = MatchEngine._dots_block

    def dots_block(rows: npt.NDArray[np.int64], n: int) -> list[Dots]:
        block = rows if len(rows) > 1 else np.repeat(rows, 2)
        saved = engine_module.MATRIX_VECTOR_ROWS
        engine_module.MATRIX_VECTOR_ROWS = 0
        try:
            return today(engine, block, n)[: len(rows)]
        finally:
            engine_module.MATRIX_VECTOR_ROWS = saved

    engine._dots_block = dots_block  # type: ignore[method-assign]


def kernels(held: npt.NDArray[np.float32], rounds: int) -> dict[str, Any]:
    """Median ms of a block of 1–6 rows against `held` by each kernel, over `rounds` rounds of
    20 repeats, the order alternating."""
    times: dict[int, dict[str, list[float]]] = {}
    for rows in range(1, 7):
        lone = held[:rows]
        block = lone if rows > 1 else held[[0, 0]]  # a lone row paired with itself
        seconds: dict[str, list[float]] = {"matrix_vector": [], "matrix_matrix": []}
        for i in range(rounds):
            for name in sorted(seconds, reverse=i % 2 == 1):
                started = time.perf_counter()
                for _ in range(20):
                    if name == "matrix_vector":
                        [held @ vector for vector in lone]
                    else:
                        block @ held.T
                seconds[name].append((time.perf_counter() - started) / 20)
        times[rows] = seconds
    return {
        str(rows): {
            name: round(statistics.median(values) * 1e3, 2) for name, values in seconds.items()
        }
        for rows, seconds in times.items()
    }


def agreement(vectors: npt.NDArray[np.float32]) -> dict[str, float]:
    """Shares of pairs whose dot is the same to the bit from either side of a 64-row block,
    and by a matrix–vector product as in the block."""
    block = vectors[:64] @ vectors.T
    inside = block[:, :64]
    by_vector = np.stack([vectors @ vector for vector in vectors[:64]])
    return {
        "either_side_of_a_block": round(float(np.mean(inside == inside.T)), 4),
        "matrix_vector_as_the_block": round(float(np.mean(by_vector == block)), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=55_000, help="seeded members")
    parser.add_argument("--embed-sample", type=int, default=300, help="members embedded")
    parser.add_argument("--scanned", type=int, default=300, help="lone members per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, the order alternating")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = _machine()  # first: the load before our own work

    settings = MatchingSettings(service_name="bench-lone-scan", embedding_backend="onnx-int8")
    limit_threads(settings)  # as the service process does
    members = list(generate_members(args.members))
    embedder = configured_embedder(settings)
    built = backfill(members, embedder, settings, Phases(), set(), args.embed_sample, 1.0)
    engine = built.engine
    ids = [m.member_id for m in members][:: max(1, args.members // args.scanned)][: args.scanned]

    profiles = engine.indexes[VectorKind.PROFILE]
    held = np.ascontiguousarray(profiles.matrix[: engine.columns.used])
    flat = faiss.IndexFlatIP(held.shape[1])
    flat.add(held)
    queries = profiles.vectors(ids)

    def scan(way: str) -> tuple[list[float], list[npt.NDArray[np.float64]]]:
        if way == "paired":
            paired_with_itself(engine)
        seconds, odds = [], []
        try:
            for member in ids:
                started = time.perf_counter()
                odds.append(next(engine.scans([member]))[1])
                seconds.append(time.perf_counter() - started)
        finally:
            if way == "paired":
                del engine._dots_block
        return seconds, odds

    def raw_faiss() -> list[float]:
        seconds = []
        for query in queries:
            started = time.perf_counter()
            flat.search(query[None, :], 100)
            seconds.append(time.perf_counter() - started)
        return seconds

    gc.disable()  # the scans allocate in bursts; a collection would land on one way
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ["paired", "vector"] if i % 2 == 0 else ["vector", "paired"]
        seconds, odds = {}, {}
        for way in order:
            seconds[way], odds[way] = scan(way)
        baseline = raw_faiss()
        same = sum(
            bool(np.array_equal(a, b)) for a, b in zip(odds["paired"], odds["vector"], strict=True)
        )
        one = {
            "order": order,
            "paired_ms_p50": round(statistics.median(seconds["paired"]) * 1e3, 3),
            "vector_ms_p50": round(statistics.median(seconds["vector"]) * 1e3, 3),
            "raw_faiss_top100_ms_p50": round(statistics.median(baseline) * 1e3, 3),
            "members_with_the_same_odds_to_the_bit": same,
        }
        rounds.append(one)
        print(one)
    kernel_ms = kernels(held, args.rounds)
    print(kernel_ms)
    rng = np.random.default_rng(0)
    units = rng.normal(size=held.shape).astype(np.float32)
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    agree = {"as_they_come": agreement(units), "on_the_grid": agreement(on_exact_grid(units))}
    print(agree)
    gc.enable()
    ratios = [r["vector_ms_p50"] / r["paired_ms_p50"] for r in rounds]
    result = {
        "bench": "lone-scan",
        "at": datetime.now(UTC).isoformat(),
        "machine": machine,
        "blas_threads": settings.blas_threads,
        "members": args.members,
        "members_embedded": args.embed_sample,
        "scanned_per_round": len(ids),
        "rounds": rounds,
        "vector_over_paired_p50": {
            "median": round(statistics.median(ratios), 3),
            "min": round(min(ratios), 3),
            "max": round(max(ratios), 3),
        },
        "vector_over_raw_faiss_p50": round(
            statistics.median(r["vector_ms_p50"] / r["raw_faiss_top100_ms_p50"] for r in rounds),
            2,
        ),
        "kernel_ms_by_block_rows": kernel_ms,
        "dots_agreeing_to_the_bit_random_units": agree,
        "all_odds_the_same_to_the_bit": all(
            r["members_with_the_same_odds_to_the_bit"] == len(ids) for r in rounds
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"lone-scan-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
