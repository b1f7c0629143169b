"""Issue 14: symmetric text pair scores beyond one pooled profile vector, on the real set's
text only. Writes bench/results/multivector-<time>.json; bench/README.md has the figures.

Every probe is a symmetric pair score (the matcher's exact reverse updates rely on that),
ranked over everyone for each query person (known co-authors excluded, as `nnmatch eval --set
real` does) and judged by recall@10 / nDCG@10 with 95 % bootstrap intervals and its paired gain
over the engine, beside, in the same run, the engine text only (`MatchEngine`, connections
off), BM25 (`bm25s`) and the engine's own two text signals recombined here (which reproduce
the engine's figure). Groups (`--groups`):

- `dense`: a member is the vectors of their units, the bio's paragraphs (here one paper
  each) or the chunks the embedder already encodes and pools; a pair scores its best unit
  pair (max-sim), the mean of its `k` best, or the symmetric Chamfer mean (each side's units'
  best match on the other, both sides averaged). Alone, fused with the engine's word likeness
  by calibrated score (each in spreads above its mean over every pair, as the engine fuses),
  and by reciprocal rank with BM25;
- `words`: the same three scores over paragraph pairs' symmetric BM25;
- `bigrams`: the whole-profile symmetric BM25 with neighbouring term pairs added;
- `recency`: one vector and one term list per member, paragraphs weighted decay^j newest first;
- `offers`: the offers/seeks vectors' cosines beside the profile and words;
- `quantile`: each signal through a probit of its rank among every pair's before fusing;
- `hubness`: per-member normalisations of each signal, symmetric since each side's numbers
  are its own: CSLS (Conneau et al. 2018: 2·s − r_a − r_b, r the mean of a member's `k`
  nearest), both sides' local z averaged, and mutual proximity (Schnitzer et al. 2012);
  and fusions that reward agreement of the two signals;
- `others`: a document-count prior (expert finding's candidate priors) g·(log(1 + n_a) +
  log(1 + n_b)) on the engine's blend, n the bio's paragraphs.

    NNMATCH_EMBEDDING_BACKEND=openvino .venv/bin/python bench/bench_multivector.py --part tune
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse, special  # type: ignore[import-untyped]

from nnmatch.events import VectorKind
from nnmatch.profile import BulkProfileLine
from nnmatch_matching.embedding.embedder import Embedder, configured_embedder
from nnmatch_matching.embedding.texts import chunk_text, profile_text
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.embedding.words import whole_text as words_text
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.ranking import (
    LEXICAL_CALIBRATION,
    PROFILE_CALIBRATION,
    words_signal,
)
from nnmatch_matching.settings import MatchingSettings
from nnmatch_tools.evaluate_real import (
    CACHE,
    POOL,
    Corpus,
    K,
    Lists,
    bm25_lists,
    bootstrap_rows,
    build_corpus,
    embed_cached,
    engine_for,
    engine_lists,
    excluded,
    interval,
    judge,
    rrf,
    summary,
)
from nnmatch_tools.realset.load import ProfileStyle, RealSet, load

Scores = npt.NDArray[np.float32]  # queries × everyone
Units = Any  # (members · width) × features: unit vectors, or scipy sparse BM25 rows
BATCH = 48


def paragraphs_of(profile: BulkProfileLine) -> list[str]:
    """The bio's paragraphs (here one paper each): a member's own units of writing."""
    return [p for p in profile.bio.split("\n\n") if p.strip()]


def chunks_of(profile: BulkProfileLine) -> list[str]:
    """The chunks the embedder already encodes for the profile vector (and then pools)."""
    return chunk_text(profile_text(profile))


def distinct(units: Sequence[Sequence[str]]) -> list[str]:
    return sorted({u for member in units for u in member})


def unit_vectors(
    embedder: Embedder, units: Sequence[Sequence[str]]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Every member's unit vectors padded to the longest (members × units × dims) and the
    mask of real units."""
    texts = distinct(units)
    matrix = embed_cached(embedder, texts, CACHE)
    row = {t: i for i, t in enumerate(texts)}
    width = max(len(u) for u in units)
    out = np.zeros((len(units), width, matrix.shape[1]), dtype=np.float32)
    mask = np.zeros((len(units), width), dtype=bool)
    for i, member in enumerate(units):
        for j, unit in enumerate(member):
            out[i, j] = matrix[row[unit]]
            mask[i, j] = True
    return out, mask


def grams(text: str, n: int) -> list[str]:
    """The text's analysed terms, and with `n` 2 also each pair of neighbouring terms."""
    found = terms(text)
    return found + [f"{a} {b}" for a, b in itertools.pairwise(found)] if n == 2 else found


def unit_terms(units: Sequence[Sequence[str]], n: int = 1) -> tuple[Units, npt.NDArray[np.bool_]]:
    """Every member's units' term counts, laid out as `unit_vectors` lays them out (unit `j`
    of member `i` in row `i · width + j`), and the mask of real units; with `n` 2 the terms
    include neighbouring pairs."""
    width = max(len(u) for u in units)
    mask = np.zeros((len(units), width), dtype=bool)
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    counts: list[float] = []
    for i, member in enumerate(units):
        for j, unit in enumerate(member):
            mask[i, j] = True
            for term, count in Counter(grams(unit, n)).items():
                rows.append(i * width + j)
                cols.append(vocab.setdefault(term, len(vocab)))
                counts.append(float(count))
    return sparse.csr_matrix((counts, (rows, cols)), shape=(mask.size, len(vocab))), mask


def bm25_rows(
    tf: Units, real: npt.NDArray[np.bool_], k1: float = 1.2, b: float = 0.75
) -> tuple[Units, Units]:
    """BM25 rows of term counts (IDF weighted, and not), so `left[a] · right[b]` is the
    symmetric BM25 of two rows (the engine's word likeness, `LexicalIndex.dots`); statistics
    over the `real` rows."""
    lengths = np.asarray(tf.sum(axis=1), dtype=np.float64).ravel()
    df = np.asarray((tf > 0).sum(axis=0), dtype=np.float64).ravel()
    idf = np.log(1.0 + (real.sum() - df + 0.5) / (df + 0.5))
    coo = tf.tocoo()
    norm = k1 * (1 - b + b * lengths[coo.row] / lengths[real].mean())
    sat = sparse.csr_matrix(
        (coo.data * (k1 + 1) / (coo.data + norm), (coo.row, coo.col)), shape=tf.shape
    )
    return sat.multiply(idf).tocsr(), sat


def unit_words(
    units: Sequence[Sequence[str]], n: int = 1
) -> tuple[Units, Units, npt.NDArray[np.bool_]]:
    """Every member's units as BM25 rows (`bm25_rows` of `unit_terms`), and the mask."""
    tf, mask = unit_terms(units, n)
    weighted, plain = bm25_rows(tf, mask.ravel())
    return weighted, plain, mask


def recency_weights(mask: npt.NDArray[np.bool_], decay: float) -> Units:
    """members × (members · width): each member's units weighted decay^j, newest (j 0) first."""
    n, width = mask.shape
    member, slot = np.nonzero(mask)
    return sparse.csr_matrix(
        (decay ** slot.astype(np.float64), (member, member * width + slot)), shape=(n, n * width)
    )


def recency(
    args: argparse.Namespace,
    embedder: Embedder,
    paragraphs: Sequence[Sequence[str]],
    rows: Sequence[int],
    zs: Mapping[str, npt.NDArray[np.float64]],
) -> dict[str, Scores]:
    """One vector and one word document per member as now, but the bio's paragraphs (newest
    first) weighted decay^j instead of by length: still one vector and one term list each."""
    out: dict[str, npt.NDArray[np.floating[Any]]] = {}
    vectors, mask = unit_vectors(embedder, paragraphs)
    flat = vectors.reshape(-1, vectors.shape[2])
    tf, _ = unit_terms(paragraphs)
    everyone = np.ones(len(paragraphs), dtype=bool)
    for decay in args.decay:
        weights = recency_weights(mask, decay)
        pooled = np.asarray(weights @ flat)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        dense = pooled[list(rows)] @ pooled.T
        weighted, plain = bm25_rows((weights @ tf).tocsr(), everyone)
        words = (weighted[list(rows)] @ plain.T).toarray()
        zd, zw = z(dense.astype(np.float32), rows), z(np.log1p(words).astype(np.float32), rows)
        out[f"paragraph mean decay {decay}"] = dense
        out[f"paragraph words decay {decay}"] = words
        out[f"paragraph mean decay {decay} 0.5 + words"] = 0.5 * zd + 0.5 * zs["words"]
        out[f"profile 0.5 + paragraph words decay {decay}"] = 0.5 * zs["profile"] + 0.5 * zw
        out[f"both decay {decay}, 0.5 each"] = 0.5 * zd + 0.5 * zw
    return {name: values.astype(np.float32) for name, values in out.items()}


def multi_vector(
    left: Units,
    right: Units,
    mask: npt.NDArray[np.bool_],
    rows: Sequence[int],
    tops: Sequence[int],
) -> dict[str, Scores]:
    """Max-sim, mean of the `k` best unit pairs for each k in `tops`, and symmetric Chamfer,
    of the members at `rows` against everyone (all symmetric per pair). Unit `j` of member
    `i` is row `i · width + j` of `left` and `right` (unit vectors, or BM25 rows weighted
    and not), and a unit pair's likeness is `left[a] · right[b]`."""
    n, width = mask.shape
    out: dict[str, Scores] = {"max-sim": np.zeros((len(rows), n), dtype=np.float32)}
    out["chamfer"] = np.zeros_like(out["max-sim"])
    for k in tops:
        out[f"top-{k} mean"] = np.zeros_like(out["max-sim"])
    counts = mask.sum(axis=1).astype(np.float32)  # units per member
    for start in range(0, len(rows), BATCH):
        part = list(rows[start : start + BATCH])
        units = (np.asarray(part)[:, None] * width + np.arange(width)[None, :]).ravel()
        product = left[units] @ right.T
        dense = product.toarray() if sparse.issparse(product) else np.asarray(product)
        sims = dense.astype(np.float32).reshape(len(part), width, n, width)
        sims = sims.transpose(0, 2, 1, 3)  # query, member, my unit, their unit
        valid = mask[part][:, None, :, None] & mask[None, :, None, :]
        sims = np.where(valid, sims, -np.inf).astype(np.float32)
        flat = sims.reshape(len(part), n, -1)
        out["max-sim"][start : start + len(part)] = flat.max(axis=2)
        best_of_mine = np.where(mask[part][:, None, :], sims.max(axis=3), 0.0).sum(axis=2)
        best_of_theirs = np.where(mask[None, :, :], sims.max(axis=2), 0.0).sum(axis=2)
        mine = np.maximum(counts[part][:, None], 1.0)
        theirs = np.maximum(counts[None, :], 1.0)
        chamfer = 0.5 * (best_of_mine / mine + best_of_theirs / theirs)
        out["chamfer"][start : start + len(part)] = chamfer
        ordered = -np.sort(-flat, axis=2)
        for k in tops:
            top = ordered[:, :, :k]
            finite = np.isfinite(top)
            total = np.where(finite, top, 0.0).sum(axis=2)
            out[f"top-{k} mean"][start : start + len(part)] = total / np.maximum(
                finite.sum(axis=2), 1
            )
    for scores in out.values():
        scores[~np.isfinite(scores)] = 0.0
    return out


def z(scores: Scores, rows: Sequence[int]) -> Scores:
    """In spreads above the mean over every pair held (self excluded): one pair of constants
    per signal, so the calibrated score stays symmetric."""
    values = scores.astype(np.float64)
    self_mask = np.zeros(scores.shape, dtype=bool)
    self_mask[np.arange(len(rows)), list(rows)] = True
    kept = values[~self_mask]
    out: Scores = ((values - kept.mean()) / kept.std()).astype(np.float32)
    return out


def csls(scores: Scores, nearest_mean: npt.NDArray[np.float32], rows: Sequence[int]) -> Scores:
    """2 · s − r_a − r_b: each side's likeness to its own nearest taken off (hubness)."""
    out: Scores = 2 * scores - nearest_mean[list(rows)][:, None] - nearest_mean[None, :]
    return out


def top_lists(
    scores: Scores, corpus: Corpus, realset: RealSet, queries: Sequence[str], k: int
) -> Lists:
    row = {m: i for i, m in enumerate(corpus.ids)}
    out: Lists = {}
    for q, line in zip(queries, scores, strict=True):
        line = line.astype(np.float64)
        line[[row[m] for m in excluded(realset, q) if m in row]] = -np.inf
        best = np.argpartition(-line, k)[:k]
        best = best[np.argsort(-line[best], kind="stable")]
        out[q] = [corpus.ids[i] for i in best.tolist() if np.isfinite(line[i])]
    return out


def engine_pairs(engine: MatchEngine, corpus: Corpus) -> tuple[Scores, Scores]:
    """The engine's raw profile and word likeness of every pair (everyone × everyone, in
    `corpus.ids` order), read from its own vectors and word index; checked against
    `MatchEngine.signals` for a few members."""
    matrix = corpus.vectors[VectorKind.PROFILE]
    profile: Scores = (matrix @ matrix.T).astype(np.float32)
    assert engine.lexical is not None
    index = engine.lexical.profiles
    cols = np.asarray([index.row(m) for m in corpus.ids])
    words = np.zeros_like(profile)
    for start in range(0, len(corpus.ids), 256):
        part = cols[start : start + 256].tolist()
        words[start : start + len(part)] = words_signal(index.dots(part)[:, cols])
    for i in (0, len(corpus.ids) // 2, len(corpus.ids) - 1):
        others = [m for j, m in enumerate(corpus.ids) if j != i]
        signals = engine.signals(corpus.ids[i], others)
        kept = np.arange(len(corpus.ids)) != i
        assert np.allclose(signals.profile, profile[i, kept], atol=1e-4)
        assert np.allclose(signals.lexical, words[i, kept], atol=1e-4)
    return profile, words


def local(
    scores: Scores, rows: Sequence[int], mean: npt.NDArray[np.float32], spread: Scores
) -> Scores:
    """½ (each side's own z): the pair in spreads above each member's own mean, both sides
    averaged (symmetric; two numbers per member and signal)."""
    r = list(rows)
    mine = (scores - mean[r][:, None]) / spread[r][:, None]
    theirs = (scores - mean[None, :]) / spread[None, :]
    out: Scores = (0.5 * (mine + theirs)).astype(np.float32)
    return out


def mutual_proximity(
    scores: Scores, rows: Sequence[int], mean: npt.NDArray[np.float32], spread: Scores
) -> Scores:
    """Mutual proximity (Schnitzer et al. 2012), Gaussian: how likely the pair stands this
    high in both members' own distributions, as log Φ(z_a) + log Φ(z_b)."""
    r = list(rows)
    mine = special.log_ndtr((scores - mean[r][:, None]) / spread[r][:, None])
    theirs = special.log_ndtr((scores - mean[None, :]) / spread[None, :])
    out: Scores = (mine + theirs).astype(np.float32)
    return out


def member_stats(everyone: Scores, k: int) -> tuple[Scores, Scores, Scores]:
    """Each member's mean and spread over all others, and mean over its `k` nearest."""
    n = everyone.shape[0]
    off = ~np.eye(n, dtype=bool)
    values = np.where(off, everyone, np.nan)
    mean = np.nanmean(values, axis=1).astype(np.float32)
    spread = np.nanstd(values, axis=1).astype(np.float32)
    top = -np.sort(-np.where(off, everyone, -np.inf), axis=1)[:, :k]
    return mean, spread, top.mean(axis=1).astype(np.float32)


def probit(values: Scores, everyone: Scores, sample: int = 1_000_000, seed: int = 7) -> Scores:
    """Each value as the normal quantile of its rank among a sample of every pair's values:
    one fixed monotone map per signal (so symmetric), which equalises the signals' tails
    where a z-score only shifts and scales them."""
    n = everyone.shape[0]
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, sample), rng.integers(0, n, sample)
    kept = a != b
    reference = np.sort(everyone[a[kept], b[kept]])
    rank = np.searchsorted(reference, values, side="right") / (len(reference) + 1)
    out: Scores = special.ndtri(np.clip(rank, 0.5 / len(reference), 1 - 0.5 / len(reference)))
    return out.astype(np.float32)


def quantiles(
    rows: Sequence[int], everyone: Mapping[str, Scores], zs: Mapping[str, npt.NDArray[np.float64]]
) -> dict[str, Scores]:
    """The engine's two text signals fused after a probit of their global ranks."""
    qp = probit(everyone["profile"][list(rows)], everyone["profile"])
    qw = probit(everyone["words"][list(rows)], everyone["words"])
    out: dict[str, npt.NDArray[np.floating[Any]]] = {}
    for w in (0.4, 0.5, 0.6):
        out[f"probit profile {w} + probit words"] = w * qp + (1 - w) * qw
    out["probit profile 0.5 + words"] = 0.5 * qp + 0.5 * zs["words"]
    out["profile 0.5 + probit words"] = 0.5 * zs["profile"] + 0.5 * qw
    return {name: values.astype(np.float32) for name, values in out.items()}


def hubness(
    args: argparse.Namespace,
    rows: Sequence[int],
    everyone: Mapping[str, Scores],
    zs: Mapping[str, npt.NDArray[np.float64]],
) -> dict[str, Scores]:
    """Per-member normalisations of each signal (CSLS, local z, mutual proximity), fused."""
    out: dict[str, npt.NDArray[np.floating[Any]]] = {}
    normalised: dict[str, dict[str, Scores]] = {}
    for signal, matrix in everyone.items():
        mean, spread, nearest = member_stats(matrix, args.csls_k)
        pairs = matrix[list(rows)]
        normalised[signal] = {
            "CSLS": csls(pairs, nearest, rows),
            "local z": local(pairs, rows, mean, spread),
            "mutual proximity": mutual_proximity(pairs, rows, mean, spread),
        }
    for kind in ("CSLS", "local z", "mutual proximity"):
        zpk = z(normalised["profile"][kind], rows)
        zwk = z(normalised["words"][kind], rows)
        out[f"profile {kind}"] = normalised["profile"][kind]
        out[f"words {kind}"] = normalised["words"][kind]
        out[f"profile {kind} 0.5 + words"] = 0.5 * zpk + 0.5 * zs["words"]
        out[f"profile 0.5 + words {kind}"] = 0.5 * zs["profile"] + 0.5 * zwk
        out[f"both {kind}, 0.5 each"] = 0.5 * zpk + 0.5 * zwk
    zp, zw = zs["profile"], zs["words"]
    for lam in (0.15, 0.3):
        out[f"engine text signals - {lam} |zp - zw| (agreement)"] = (
            0.5 * zp + 0.5 * zw - lam * np.abs(zp - zw)
        )
    out["min(zp, zw)"] = np.minimum(zp, zw)
    return {name: values.astype(np.float32) for name, values in out.items()}


def activity_prior(
    priors: Sequence[float],
    rows: Sequence[int],
    base: npt.NDArray[np.float64],
    paragraphs: Sequence[Sequence[str]],
) -> dict[str, Scores]:
    """The engine's text blend plus g · (log(1 + n_a) + log(1 + n_b)), n the bio's paragraphs
    (a document-count prior, symmetric per pair)."""
    n_units = np.log1p(np.array([len(u) for u in paragraphs], dtype=np.float64))
    out: dict[str, Scores] = {}
    for g in priors:
        prior = g * (n_units[list(rows)][:, None] + n_units[None, :])
        out[f"engine text signals + paragraphs prior {g}"] = (base + prior).astype(np.float32)
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    settings = MatchingSettings(service_name="eval")
    realset = load()
    queries = [q for q in realset.part(args.part) if q in realset.truth]
    embedder = configured_embedder(settings)
    corpus = build_corpus(realset, embedder, ProfileStyle.PAPERS, CACHE)
    rows = [corpus.ids.index(q) for q in queries]
    log = print

    lists: dict[str, Lists] = {}
    log("bm25 (bm25s) and the engine text only …", flush=True)
    lists["bm25"] = bm25_lists(corpus, realset, queries, POOL)
    text_only = replace(settings.ranking, connections=0.0)
    engine = engine_for(corpus, realset, text_only, intent_texts=True)  # signals() reads all
    lists["engine, text only"] = engine_lists(engine, queries)
    log("every pair's engine signals …", flush=True)
    profile_all, words_all = engine_pairs(engine, corpus)
    profile, words = profile_all[rows], words_all[rows]
    zp, zw = PROFILE_CALIBRATION.z(profile), LEXICAL_CALIBRATION.z(words)
    scores: dict[str, Scores] = {
        "profile cosine (dense)": profile,
        "words (engine word likeness)": words,
        "0.5 profile + 0.5 words (engine text signals)": (0.5 * zp + 0.5 * zw).astype(np.float32),
    }

    alone = ["profile cosine (dense)"]  # single scores also fused with BM25 by rank
    units = {
        "paragraphs": [paragraphs_of(p) for p in corpus.profiles],
        "chunks": [chunks_of(p) for p in corpus.profiles],
    }
    for name, member_units in units.items() if "dense" in args.groups else ():
        log(f"multi-vector over {name} …", flush=True)
        vectors, mask = unit_vectors(embedder, member_units)
        flat = vectors.reshape(-1, vectors.shape[2])
        for kind, values in multi_vector(flat, flat, mask, rows, (2, 3)).items():
            key = f"{name} {kind}"
            scores[key] = values
            alone.append(key)
            zm = z(values, rows)
            for w in args.weights:
                scores[f"{key} {w} + words"] = (w * zm + (1 - w) * zw).astype(np.float32)
            scores[f"{key} + profile + words (thirds)"] = ((zm + zp + zw) / 3).astype(np.float32)

    if "words" in args.groups:
        log("paragraph words …", flush=True)
        weighted, plain, mask = unit_words(units["paragraphs"])
        for kind, values in multi_vector(weighted, plain, mask, rows, (2, 3)).items():
            key = f"paragraph words {kind}"
            scores[key] = values
            alone.append(key)
            zm = z(np.log1p(values), rows)
            scores[f"{key} 0.5 + profile"] = (0.5 * zm + 0.5 * zp).astype(np.float32)
            scores[f"{key} + profile + words (thirds)"] = ((zm + zp + zw) / 3).astype(np.float32)

    vec = corpus.vectors
    query_vecs = {kind: vec[kind][rows] for kind in VectorKind}
    cross = 0.5 * (
        query_vecs[VectorKind.SEEKS] @ vec[VectorKind.OFFERS].T
        + query_vecs[VectorKind.OFFERS] @ vec[VectorKind.SEEKS].T
    )
    same = query_vecs[VectorKind.OFFERS] @ vec[VectorKind.OFFERS].T
    mixes = (("offers·seeks both ways", cross), ("offers·offers", same))
    for name, cosines in mixes if "offers" in args.groups else ():
        log(f"{name} …", flush=True)
        values = cosines.astype(np.float32)
        zo = z(values, rows)
        scores[name] = values
        for w in (0.15, 0.3):
            mix = (0.5 - w / 2) * zp + (0.5 - w / 2) * zw + w * zo
            scores[f"{name} {w} + profile + words"] = mix.astype(np.float32)

    if "bigrams" in args.groups:
        log("words with neighbouring pairs …", flush=True)
        whole = [[words_text(p)] for p in corpus.profiles]
        for n in (1, 2):
            weighted, plain, mask = unit_words(whole, n=n)
            values = multi_vector(weighted, plain, mask, rows, ())["max-sim"]
            key = "whole-profile words" + (" + neighbouring pairs" if n == 2 else " (here)")
            scores[key] = values
            alone.append(key)
            zm = z(np.log1p(values), rows)
            scores[f"{key} 0.5 + profile"] = (0.5 * zm + 0.5 * zp).astype(np.float32)

    if "recency" in args.groups:
        log("recency-weighted paragraphs …", flush=True)
        found = recency(args, embedder, units["paragraphs"], rows, {"profile": zp, "words": zw})
        scores.update(found)
        alone.extend(n for n in found if "+" not in n and "each" not in n)

    if "quantile" in args.groups:
        log("probit of global ranks …", flush=True)
        everyone = {"profile": profile_all, "words": words_all}
        scores.update(quantiles(rows, everyone, {"profile": zp, "words": zw}))

    if "hubness" in args.groups:
        log("per-member normalisations …", flush=True)
        everyone = {"profile": profile_all, "words": words_all}
        found = hubness(args, rows, everyone, {"profile": zp, "words": zw})
        scores.update(found)
        alone.extend(n for n in found if n.startswith(("profile", "words")) and "+" not in n)

    if "others" in args.groups:
        log("activity prior …", flush=True)
        base = 0.5 * zp + 0.5 * zw
        scores.update(activity_prior(args.prior, rows, base, units["paragraphs"]))

    for name, values in scores.items():
        lists[name] = top_lists(values, corpus, realset, queries, POOL)
    for name in alone:
        lists[f"rrf bm25 + {name}"] = rrf([lists["bm25"], lists[name]], POOL)
    boot = bootstrap_rows(len(queries))
    judged = {
        name: judge({q: r[:K] for q, r in ranked.items()}, realset, queries)
        for name, ranked in lists.items()
    }
    results = {name: summary(j, boot) for name, j in judged.items()}
    engine_recall = judged["engine, text only"].recall
    gains = {}  # paired over the same resamples: is a variant's gain over the engine real?
    for name, j in judged.items():
        low, high = interval(j.recall - engine_recall, boot)
        gains[name] = [round(float((j.recall - engine_recall).mean()), 4), round(low, 4)]
        gains[name].append(round(high, 4))
    bm25 = results["bm25"]["recall@10"]
    return {
        "command": "bench/bench_multivector.py --part " + args.part,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "part": args.part,
        "queries": len(queries),
        "people": len(corpus.ids),
        "model": embedder.model.model_dump(),
        "results": results,
        "ratio_to_bm25": {k: round(v["recall@10"] / bm25, 3) for k, v in results.items()},
        "recall_gain_over_engine_text_only_with_95_interval": gains,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--part", default="tune", help="tune, report or all (default: tune)")
    parser.add_argument("--weights", type=float, nargs="*", default=[0.3, 0.5, 0.7])
    parser.add_argument("--prior", type=float, nargs="*", default=[0.1, 0.3, 0.6, 1.0])
    parser.add_argument("--csls-k", type=int, default=10)
    parser.add_argument("--decay", type=float, nargs="*", default=[1.0, 0.8, 0.6, 0.4])
    parser.add_argument(
        "--groups",
        nargs="*",
        default=["dense", "words", "bigrams", "recency", "offers", "quantile", "hubness", "others"],
        help="probe groups: dense (multi-vector), words (paragraph BM25), bigrams "
        "(whole-profile BM25 with neighbouring pairs), recency (paragraphs weighted newest "
        "first), quantile (probit of global ranks), offers (offers/seeks vectors), hubness "
        "(per-member normalisations), others (activity prior); the baselines always run",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    report = run(args)
    results: Mapping[str, Mapping[str, float]] = report["results"]  # type: ignore[assignment]
    gains: Mapping[str, Sequence[float]] = report[  # type: ignore[assignment]
        "recall_gain_over_engine_text_only_with_95_interval"
    ]
    for name, s in results.items():
        gain = gains[name]
        print(
            f"{name:60s} R@10 {s['recall@10']:.4f} ({s['recall@10 low']:.4f}–"
            f"{s['recall@10 high']:.4f})  nDCG@10 {s['ndcg@10']:.4f}  "
            f"vs engine {gain[0]:+.4f} ({gain[1]:+.4f}…{gain[2]:+.4f})"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"multivector-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
