"""Issue 14: word-only variants tried for the text-only ranking on the real set, and why each
was kept or not. Writes bench/results/text-probes-<time>.json.

Each probe ranks every query person's list by one symmetric word score over everyone (known
co-authors excluded, as `nnmatch eval --set real` does) and reports recall@10 on one part,
beside the engine's own word likeness (symmetric BM25, k1 1.2, b 0.75, IDF once) in the same run:

- BM25 shape: k1, b and the power of IDF;
- a length prior: log(1 + BM25) + g · log(1 + the candidate's length);
- neighbour expansion: each document plus `alpha` × the mean of its `m` nearest documents'
  (symmetric: both sides expanded), once with any neighbours and once with the query's
  known co-authors barred from being neighbours. If the gain vanishes without co-authors, the
  expansion only re-finds the co-authorship graph through the papers co-authors share, which
  the connections signal already reads and which a real community's bios would not repeat.

    .venv/bin/python bench/bench_text_probes.py --part tune
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from nnmatch_matching.embedding.words import profile_terms, stem
from nnmatch_tools.evaluate_real import excluded
from nnmatch_tools.realset.load import ProfileStyle, RealSet, load, profile_of

Scorer = Callable[[list[int]], npt.NDArray[np.float64]]


class Words:
    """The real set's whole profiles as stemmed term counts (what the engine's index holds)."""

    def __init__(self, realset: RealSet) -> None:
        profiles = [profile_of(p, ProfileStyle.PAPERS) for p in realset.people]
        self.ids = [p.member_id for p in profiles]
        self.row = {m: i for i, m in enumerate(self.ids)}
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[float] = []
        for i, profile in enumerate(profiles):
            doc: dict[int, int] = {}
            for word, n in profile_terms(profile).items():
                term = vocab.setdefault(stem(word), len(vocab))
                doc[term] = doc.get(term, 0) + n
            rows.extend([i] * len(doc))
            cols.extend(doc)
            counts.extend(float(n) for n in doc.values())
        shape = (len(self.ids), len(vocab))
        self.tf = sparse.csr_matrix((counts, (rows, cols)), shape=shape)
        self.lengths = np.asarray(self.tf.sum(axis=1), dtype=np.float64).ravel()
        df = np.asarray((self.tf > 0).sum(axis=0)).ravel()
        n = len(self.ids)
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def saturation(self, k1: float, b: float) -> sparse.csr_matrix:
        coo = self.tf.tocoo()
        norm = k1 * (1 - b + b * self.lengths[coo.row] / self.lengths.mean())
        weights = coo.data * (k1 + 1) / (coo.data + norm)
        return sparse.csr_matrix((weights, (coo.row, coo.col)), shape=self.tf.shape)


def bm25(sat: sparse.csr_matrix, idf: npt.NDArray[np.float64], power: float = 1.0) -> Scorer:
    weighted = sat.multiply(idf**power).tocsr()
    others = sat.T.tocsr()
    return lambda rows: np.asarray((weighted[rows] @ others).toarray(), dtype=np.float64)


def recall_at_10(scorer: Scorer, words: Words, realset: RealSet, queries: Sequence[str]) -> float:
    hits: list[float] = []
    for start in range(0, len(queries), 500):
        part = list(queries[start : start + 500])
        scores = scorer([words.row[q] for q in part])
        for query, line in zip(part, scores, strict=True):
            line = line.copy()
            line[[words.row[m] for m in excluded(realset, query) if m in words.row]] = -np.inf
            top = {words.ids[r] for r in np.argpartition(-line, 10)[:10].tolist()}
            truth = realset.truth[query]
            hits.append(len(top & truth) / min(len(truth), 10))
    return float(np.mean(hits))


def expanded(
    words: Words, sat: sparse.csr_matrix, realset: RealSet, m: int, alpha: float, bar_known: bool
) -> Scorer:
    """Symmetric BM25 of documents each expanded by its `m` nearest documents' mean."""
    base = bm25(sat, words.idf)
    n = len(words.ids)
    nearest = np.zeros((n, m), dtype=np.int64)
    for start in range(0, n, 1000):
        rows = list(range(start, min(n, start + 1000)))
        scores = base(rows)
        for i, r in enumerate(rows):
            scores[i, r] = -np.inf
            if bar_known:
                known = realset.known.get(words.ids[r], frozenset())
                scores[i, [words.row[k] for k in known if k in words.row]] = -np.inf
        nearest[start : start + len(rows)] = np.argpartition(-scores, m, axis=1)[:, :m]
    mean = sparse.csr_matrix(
        (np.full(n * m, 1.0 / m), (np.repeat(np.arange(n), m), nearest.ravel())), shape=(n, n)
    )
    return bm25((sat + alpha * (mean @ sat)).tocsr(), words.idf)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="tune", help="tune, report or all (default: tune)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    realset = load()
    queries = [q for q in realset.part(args.part) if q in realset.truth]
    words = Words(realset)
    engine_sat = words.saturation(1.2, 0.75)
    probes: dict[str, Callable[[], Scorer]] = {
        "engine word likeness (k1 1.2, b 0.75, IDF)": partial(bm25, engine_sat, words.idf),
    }
    for k1, b, power in (
        (0.8, 0.5, 1.0),
        (1.2, 0.3, 1.5),
        (2.0, 0.3, 1.5),
        (1.2, 0.75, 2.0),
        (2.0, 0.9, 1.0),
    ):
        sat = words.saturation(k1, b)
        probes[f"k1 {k1}, b {b}, IDF^{power}"] = partial(bm25, sat, words.idf, power)
    base = bm25(engine_sat, words.idf)
    lengths = np.log1p(words.lengths)

    def length_prior(g: float) -> Scorer:
        return lambda rows: np.log1p(base(rows)) + g * lengths

    for g in (0.1, 0.3):
        probes[f"length prior {g}"] = partial(length_prior, g)
    for bar in (False, True):
        name = "neighbour expansion m 5, alpha 0.3" + (", co-authors barred" if bar else "")
        probes[name] = partial(expanded, words, engine_sat, realset, 5, 0.3, bar)
    results: dict[str, float] = {}
    for name, make in probes.items():
        results[name] = round(recall_at_10(make(), words, realset, queries), 4)
        print(f"{name:55s} R@10 {results[name]:.4f}", flush=True)
    reference = results["engine word likeness (k1 1.2, b 0.75, IDF)"]
    report = {
        "command": "bench/bench_text_probes.py --part " + args.part,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "part": args.part,
        "queries": len(queries),
        "people": len(words.ids),
        "recall_at_10": results,
        "ratio_to_engine_word_likeness": {k: round(v / reference, 3) for k, v in results.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"text-probes-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
