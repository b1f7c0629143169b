"""Embedding backends against torch fp32 on the same texts, in the same run (issue 16, item 1).

Not part of `make test`. Run: `.venv/bin/python bench/bench_embed.py --help`.
Writes `bench/results/embed-<timestamp>.json`. Texts: the seeded members' three texts
(`nnmatch_tools.seed`) and the real set's members (`nnmatch_tools.realset`, long bios). For
each backend, in alternating rounds (the machine is shared), the median of each side is kept:

- raw: the backend's `encode` on the chunks `embed_documents` would send (every one, repeats
  included) — the backend alone;
- stage: `embed_documents` on the member texts (chunking, each distinct chunk once, pooling);
- quality: cosine of the stage's vectors to torch fp32's, per non-empty text (mean and min;
  not for `static`, whose vectors are another model's, in another space), and for every
  backend the share of each text's 10 nearest texts that are also its 10 nearest under torch
  fp32 (neighbour agreement, which any model can be judged by).

Ratios: raw texts/s ÷ torch raw texts/s (the backend's speed-up), stage ÷ raw of the same
backend (what the embedder stage costs or saves on top). `--profile` adds ONNX Runtime's
per-operator time of the fastest ONNX backend (where the time goes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import openvino
import torch

from nnmatch.events import STATIC_TIER, VectorKind
from nnmatch_matching.embedding.embedder import (
    BACKENDS,
    Backend,
    Embedder,
    OnnxEmbedder,
    OnnxThreads,
    bundled_model_path,
    default_cache_dir,
    embed_documents,
    load_embedder,
    onnx_model_file,
    session_options,
)
from nnmatch_matching.embedding.texts import chunk_text, member_texts
from nnmatch_tools.machine import describe_machine
from nnmatch_tools.realset.load import load, profile_of
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def _machine() -> dict[str, Any]:
    return describe_machine(
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        onnxruntime=onnxruntime.__version__,
        openvino=openvino.__version__,
    )


def corpus(members: int, real: int) -> dict[str, list[str]]:
    """Every member text (all three kinds, empty ones kept: the stage handles them)."""
    seeded = [
        t[k]
        for line in generate_members(members)
        for t in [member_texts(line.profile())]
        for k in VectorKind
    ]
    people = load().people[:real]
    bios = [
        t[k] for p in people for t in [member_texts(profile_of(p).profile())] for k in VectorKind
    ]
    return {"seeded": seeded, "real": bios}


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value


def neighbour_agreement(vectors: np.ndarray, reference: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest rows (itself left out) that are also its k nearest
    under `reference`: how far a model keeps the reference's neighbourhoods."""

    def nearest(rows: np.ndarray) -> np.ndarray:
        similar = rows @ rows.T
        np.fill_diagonal(similar, -np.inf)
        return np.argpartition(-similar, k, axis=1)[:, :k]

    ours, theirs = nearest(vectors), nearest(reference)
    shared = [len(set(a) & set(b)) for a, b in zip(ours, theirs, strict=True)]
    return float(np.mean(shared) / k)


def bench(embedders: dict[str, Embedder], documents: Sequence[str], rounds: int) -> dict[str, Any]:
    """Raw and stage timings of every backend on `documents`, alternating, median kept."""
    chunks = [c for d in documents for c in chunk_text(d)]
    texts = sum(1 for d in documents if d.strip())
    raw_rounds: dict[str, list[float]] = {name: [] for name in embedders}
    stage_rounds: dict[str, list[float]] = {name: [] for name in embedders}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            seconds, _ = _timed(partial(embedder.encode, chunks))
            raw_rounds[name].append(seconds)
            seconds, vectors[name] = _timed(partial(embed_documents, embedder, documents))
            stage_rounds[name].append(seconds)
    raw_s = {name: float(np.median(s)) for name, s in raw_rounds.items()}
    stage_s = {name: float(np.median(s)) for name, s in stage_rounds.items()}
    filled = np.asarray([bool(d.strip()) for d in documents])
    out: dict[str, Any] = {
        "texts": texts,
        "chunks": len(chunks),
        "distinct_chunks": len(set(chunks)),
        "backends": {},
    }
    for name in embedders:
        cosine = np.sum(vectors[name][filled] * vectors["torch"][filled], axis=1)
        same_space = name != STATIC_TIER
        out["backends"][name] = {
            "raw_texts_per_s": texts / raw_s[name],
            "stage_texts_per_s": texts / stage_s[name],
            "raw_ratio_to_torch_raw": raw_s["torch"] / raw_s[name],
            "stage_ratio_to_torch_raw": raw_s["torch"] / stage_s[name],
            "stage_ratio_to_own_raw": raw_s[name] / stage_s[name],
            "cosine_to_fp32_mean": float(cosine.mean()) if same_space else None,
            "cosine_to_fp32_min": float(cosine.min()) if same_space else None,
            "neighbours_at_10_vs_fp32": neighbour_agreement(
                vectors[name][filled], vectors["torch"][filled]
            ),
            "raw_seconds_per_round": raw_rounds[name],
            "stage_seconds_per_round": stage_rounds[name],
        }
    return out


def combined(sets: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each backend over all sets' texts: total texts ÷ total median seconds, and the ratios."""
    seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    texts = sum(figures["texts"] for figures in sets.values())
    for figures in sets.values():
        for name, backend in figures["backends"].items():
            for side in ("raw", "stage"):
                seconds[name][side] += figures["texts"] / backend[f"{side}_texts_per_s"]
    torch_raw = seconds["torch"]["raw"]
    return {
        name: {
            "raw_texts_per_s": texts / s["raw"],
            "stage_texts_per_s": texts / s["stage"],
            "raw_ratio_to_torch_raw": torch_raw / s["raw"],
            "stage_ratio_to_torch_raw": torch_raw / s["stage"],
            "stage_ratio_to_own_raw": s["raw"] / s["stage"],
        }
        for name, s in seconds.items()
    }


def operator_profile(backend: Backend, chunks: Sequence[str]) -> dict[str, float]:
    """Share of ONNX Runtime's node time per operator type for one encode of `chunks`."""
    path = bundled_model_path()
    file = onnx_model_file(path, backend, default_cache_dir())
    embedder = OnnxEmbedder(path, MODEL_ID, backend, cache_dir=default_cache_dir())
    with tempfile.TemporaryDirectory() as work:
        options = session_options(OnnxThreads())
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(work) / "ort")
        session = onnxruntime.InferenceSession(
            str(file), options, providers=["CPUExecutionProvider"]
        )
        embedder._session = session  # the same encode, on a profiling session
        embedder.encode(chunks)
        trace = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values()) or 1.0
    return {op: round(us / total, 4) for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=300, help="seeded members (3 texts each)")
    parser.add_argument("--real", type=int, default=60, help="real-set members (long bios)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKENDS),
        choices=BACKENDS,
        help="torch is always run",
    )
    parser.add_argument("--intra-op-threads", type=int, default=0, help="not torch; 0: all")
    parser.add_argument("--allow-spinning", action="store_true", help="not torch")
    parser.add_argument("--token-budget", type=int, default=8192, help="not torch")
    parser.add_argument("--profile", action="store_true", help="per-operator time of onnx-int8")
    args = parser.parse_args()
    machine = _machine()  # first: the load before our own work
    path = bundled_model_path()
    threads = OnnxThreads(intra_op=args.intra_op_threads, allow_spinning=args.allow_spinning)
    embedders: dict[str, Embedder] = {}
    load_s: dict[str, float] = {}
    backends: list[Backend] = ["torch", *(b for b in args.backends if b != "torch")]
    for backend in backends:
        make = partial(load_embedder, path, MODEL_ID, backend, cache_dir=default_cache_dir())
        load_s[backend], embedders[backend] = _timed(
            partial(make, threads=threads, token_budget=args.token_budget)
        )
        embedders[backend].encode(["warm-up text", "a second, longer warm-up text " * 10])
    texts = corpus(args.members, args.real)
    sets = {name: bench(embedders, documents, args.rounds) for name, documents in texts.items()}
    result: dict[str, Any] = {
        "both_sets": combined(sets),
        "benchmark": "embed",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": vars(args),
        "load_s": load_s,
        "sets": sets,
    }
    if args.profile:
        sample = [c for d in texts["seeded"][:300] + texts["real"][:30] for c in chunk_text(d)]
        result["onnx_int8_operator_share"] = operator_profile("onnx-int8", sample)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"embed-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
