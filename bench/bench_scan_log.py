"""The scans' words term: `np.log` (since `ca7b1e1`) against the `np.log1p` it replaced.

Not part of `make test`. Run: `.venv/bin/python bench/bench_scan_log.py --members 55000`.
Builds the engine as `bench_scale.backfill` does (a sample embedded, the others given blends
of sampled vectors), then scans everyone from the same members with each formula, the order
alternating from round to round, and checks that both give every member's best candidates
in the same order. The old formula is rebuilt from today's module by rewriting its one line,
so the two differ in nothing else. Writes `bench/results/scan-log-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from bench_scale import Phases, _machine, backfill

from nnmatch_matching.embedding.embedder import configured_embedder
from nnmatch_matching.matcher import engine as engine_module
from nnmatch_matching.matcher import fact_codes
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
NEW_LINES = """        lexical = np.add(likeness, ranking.WORDS_FLOOR, dtype=np.float64)
        np.log(lexical, out=lexical)"""
OLD_LINES = "        lexical = np.log1p(likeness)"

Odds = Callable[..., npt.NDArray[np.float64]]


def log1p_formula(workdir: Path) -> Odds:
    """`odds_with_everyone` as it was before `ca7b1e1`: today's module with `log1p`, written
    to `workdir` and imported from there."""
    source = Path(fact_codes.__file__).read_text()
    if NEW_LINES not in source:
        raise SystemExit("fact_codes.py no longer holds the lines this bench rewrites")
    path = workdir / "fact_codes_log1p.py"
    path.write_text(source.replace(NEW_LINES, OLD_LINES))
    spec = importlib.util.spec_from_file_location("fact_codes_log1p", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while built
    spec.loader.exec_module(module)
    odds: Odds = module.odds_with_everyone
    return odds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=55_000, help="seeded members")
    parser.add_argument("--embed-sample", type=int, default=300, help="members embedded")
    parser.add_argument("--scanned", type=int, default=2_000, help="members scanned per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, the order alternating")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = _machine()  # first: the load before our own work

    with tempfile.TemporaryDirectory() as workdir:  # first: fail before the long build
        formulas: dict[str, Odds] = {
            "log": fact_codes.odds_with_everyone,
            "log1p": log1p_formula(Path(workdir)),
        }
    settings = MatchingSettings(service_name="bench-scan-log", embedding_backend="onnx-int8")
    limit_threads(settings)  # as the service process does
    members = list(generate_members(args.members))
    embedder = configured_embedder(settings)
    built = backfill(members, embedder, settings, Phases(), set(), args.embed_sample, 1.0)
    engine = built.engine
    ids = [m.member_id for m in members][: args.scanned]

    def scan(name: str) -> tuple[float, list[npt.NDArray[np.float64]]]:
        engine_module.odds_with_everyone = formulas[name]  # type: ignore[attr-defined]
        started = time.perf_counter()
        odds = [o for _, o in engine.scans(ids)]
        return time.perf_counter() - started, odds

    gc.disable()  # the scans allocate in bursts; a collection would land on one formula
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ["log1p", "log"] if i % 2 == 0 else ["log", "log1p"]
        seconds, odds = {}, {}
        for name in order:
            seconds[name], odds[name] = scan(name)
        same_order = all(
            np.array_equal(np.argsort(-a, kind="stable")[:100], np.argsort(-b, kind="stable")[:100])
            for a, b in zip(odds["log1p"], odds["log"], strict=True)
        )
        relative = max(
            float(np.max(np.abs(a[np.isfinite(a)] - b[np.isfinite(b)]) / np.abs(a[np.isfinite(a)])))
            for a, b in zip(odds["log1p"], odds["log"], strict=True)
        )
        one = {
            "order": order,
            "log1p_ms_per_member": round(seconds["log1p"] / len(ids) * 1e3, 3),
            "log_ms_per_member": round(seconds["log"] / len(ids) * 1e3, 3),
            "same_best_100_order": same_order,
            "largest_relative_odds_difference": relative,
        }
        rounds.append(one)
        print(one)
    gc.enable()
    engine_module.odds_with_everyone = fact_codes.odds_with_everyone  # type: ignore[attr-defined]
    ratios = [r["log_ms_per_member"] / r["log1p_ms_per_member"] for r in rounds]
    result = {
        "bench": "scan-log",
        "at": datetime.now(UTC).isoformat(),
        "machine": machine,
        "members": args.members,
        "members_embedded": args.embed_sample,
        "scanned_per_round": len(ids),
        "rounds": rounds,
        "log_over_log1p": {"min": round(min(ratios), 3), "max": round(max(ratios), 3)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scan-log-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
