"""The scans' hot path against the references it replaces: the odds by table
(`fact_codes.odds_with_everyone`) against `ranking.pair_odds`, which spells each signal out per
candidate (equal to rounding, and symmetric per pair to the last bit), and the best rows by a
sampled threshold (`ranking.top_rows`) against a full sort."""

from __future__ import annotations

import numpy as np
import pytest

from nnmatch_matching.matcher import ranking
from nnmatch_matching.matcher.arrays import minus_inf_unless
from nnmatch_matching.matcher.fact_codes import (
    NO_PLACE,
    FactCodes,
    MyFacts,
    RowCodes,
    fast_path,
    odds_with_everyone,
)
from nnmatch_matching.matcher.lexical_fit import LexicalSides
from nnmatch_matching.matcher.ranking import (
    Dots,
    Features,
    Pairs,
    RankingWeights,
    pair_odds,
    shares_any,
    top_rows,
)

SIZE = 400
WORDS = 2  # language and hub bitmasks two uint64 words wide: codes past 64 are in play
LANGUAGE_CODES = np.array([0, 1, 2, 64, 65])  # few, so most pairs share one


class Community:
    """Random card facts, vectors and word likeness for SIZE rows; the last row has no member."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        n = SIZE
        self.live = np.ones(n, dtype=bool)
        self.live[-1] = False
        vectors = rng.normal(size=(n, 16)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors
        self.dots = vectors @ vectors.T  # symmetric by construction (float32)
        self.dots = np.triu(self.dots) + np.triu(self.dots, 1).T
        bm25 = rng.exponential(6.0, size=(n, n)) * (rng.random((n, n)) < 0.4)
        self.likeness = np.triu(bm25) + np.triu(bm25, 1).T
        links = rng.integers(0, 4, size=(n, n)) * (rng.random((n, n)) < 0.05)
        self.connections = (np.triu(links, 1) + np.triu(links, 1).T).astype(np.int64)
        self.offers = rng.integers(0, 1 << 5, n).astype(np.uint32)
        self.seeks = rng.integers(0, 1 << 5, n).astype(np.uint32)
        self.sdgs = (rng.integers(0, 1 << 17, n) & rng.integers(0, 1 << 17, n)).astype(np.uint32)
        self.sdgs[::7] = 0  # no SDGs at all: Jaccard 0, not a division by zero
        self.countries = rng.integers(0, 6, n).astype(np.int64)
        self.languages = np.zeros((n, WORDS), dtype=np.uint64)
        self.hubs = np.zeros((n, WORDS), dtype=np.uint64)
        for row in range(n - 1):
            for code in rng.choice(LANGUAGE_CODES, size=int(rng.integers(1, 3)), replace=False):
                self.languages[row, code // 64] |= np.uint64(1 << int(code % 64))
            for code in rng.choice(70, size=int(rng.integers(0, 2)), replace=False):
                self.hubs[row, code // 64] |= np.uint64(1 << int(code % 64))
        self.facts = FactCodes()
        self.facts.widen(WORDS, WORDS)
        kinds, sdgs, places = (np.zeros(n, dtype=np.int32) for _ in range(3))
        for row in range(n - 1):
            kinds[row] = self.facts.kind_code(int(self.offers[row]), int(self.seeks[row]))
            sdgs[row] = self.facts.sdg_code(int(self.sdgs[row]))
            places[row] = self.facts.place_code(
                int(self.countries[row]), self.languages[row], self.hubs[row]
            )
        places[-1] = NO_PLACE
        self.codes = RowCodes(kinds, sdgs, places)

    def features(self) -> Features:
        n = SIZE
        return Features(
            ids=[f"m-{i}" for i in range(n)],
            profile=self.vectors,  # the products come as `Dots`; the reference reads intent
            offers=self.vectors,
            seeks=self.vectors,
            sdgs=self.sdgs,
            offers_kinds=self.offers,
            seeks_kinds=self.seeks,
            languages=self.languages,
            discoverable=np.ones(n, dtype=bool),
            countries=self.countries,
            organisations=np.full(n, -1, dtype=np.int64),
            hubs=self.hubs,
        )

    def fast(self, me: int, weights: RankingWeights, words: bool = True) -> np.ndarray:
        odds = odds_with_everyone(
            MyFacts(
                offers_kinds=int(self.offers[me]),
                seeks_kinds=int(self.seeks[me]),
                sdgs=int(self.sdgs[me]),
                country=int(self.countries[me]),
                languages=self.languages[me],
                hubs=self.hubs[me],
            ),
            self.codes,
            self.facts,
            self.dots[me],
            self.likeness[me] if words else None,
            self.connections[me] if self.connections[me].any() else None,
            weights,
        )
        odds[me] = -np.inf
        return odds

    def reference(self, me: int, weights: RankingWeights, words: bool = True) -> np.ndarray:
        everyone = self.features()
        sides = None
        if words:
            has_words = np.ones(SIZE, dtype=bool)
            sides = LexicalSides(None, None, self.likeness[me], has_words)
        odds = pair_odds(
            Pairs(
                me,
                everyone,
                everyone,
                lexical=sides,
                connections=self.connections[me] if self.connections[me].any() else None,
                dots=Dots(self.dots[me], None, None, np.ones(SIZE, dtype=bool)),
            ),
            weights,
        )
        eligible = self.live & shares_any(self.languages, self.languages[me])
        eligible[me] = False
        return minus_inf_unless(odds, eligible)


WEIGHTS = (
    RankingWeights(),
    RankingWeights(lexical=0.0, connections=0.0, cross_region_boost=0.0),
    RankingWeights(kinds=0.7, shared_sdgs=3.0, cross_region_boost=0.4, connections=1.5),
)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("words", [True, False])
def test_the_table_odds_equal_the_reference_per_candidate(
    weights: RankingWeights, words: bool
) -> None:
    community = Community(seed=3)
    compared = 0
    for me in range(0, SIZE - 1, 37):
        fast = community.fast(me, weights, words)
        reference = community.reference(me, weights, words)
        assert np.array_equal(np.isfinite(fast), np.isfinite(reference)), me
        finite = np.isfinite(reference)
        np.testing.assert_allclose(fast[finite], reference[finite], rtol=1e-12)
        assert fast[-1] == -np.inf  # no member
        assert fast[me] == -np.inf
        compared += int(finite.sum())
    assert compared > 500  # most pairs share a language: the comparison is not vacuous


def test_the_table_odds_are_the_same_from_either_side_to_the_last_bit() -> None:
    community = Community(seed=8)
    weights = RankingWeights(kinds=0.7, shared_sdgs=3.0, cross_region_boost=0.4)
    scans = np.stack([community.fast(me, weights) for me in range(SIZE - 1)])
    finite = np.isfinite(scans[:, :-1])
    assert finite.sum() > SIZE  # pairs that are candidates of each other
    assert np.array_equal(scans[:, :-1], scans[:, :-1].T)


def test_a_place_keeps_its_code_when_the_bitmasks_widen() -> None:
    facts = FactCodes()
    narrow = facts.place_code(2, np.array([0b101], np.uint64), np.array([0], np.uint64))
    facts.widen(3, 2)
    wide = facts.place_code(2, np.array([0b101, 0, 0], np.uint64), np.array([0, 0], np.uint64))
    other = facts.place_code(2, np.array([0b101, 1, 0], np.uint64), np.array([0, 0], np.uint64))

    assert narrow == wide != other
    assert NO_PLACE not in (narrow, other)
    assert facts.place_languages.shape[1] == 3
    assert facts.place_languages[other].tolist() == [0b101, 1, 0]
    assert facts.kind_code(1, 2) == facts.kind_code(1, 2) != facts.kind_code(2, 1)
    assert facts.sdg_code(0) != facts.sdg_code(1 << 3)


def _brute_top(scores: np.ndarray, ids: list[str], top_n: int) -> list[int]:
    finite = [r for r in range(len(scores)) if np.isfinite(scores[r])]
    return sorted(finite, key=lambda r: (-scores[r], ids[r]))[:top_n]


@pytest.mark.parametrize("size", [50, 3_000, 20_000])
@pytest.mark.parametrize("top_n", [1, 21, 101])
def test_the_best_rows_by_a_sampled_threshold_are_those_of_a_full_sort(
    size: int, top_n: int
) -> None:
    """`top_rows` partitions only the rows above a threshold read from every 16th score; it
    must return what sorting everyone does, ties broken by id, whatever the sample saw."""
    rng = np.random.default_rng(size + top_n)
    ids = [f"m-{i:05d}" for i in rng.permutation(size)]
    cases = {
        "spread": rng.normal(size=size),
        "ties": rng.integers(0, 5, size).astype(np.float64),
        "mostly ineligible": np.where(rng.random(size) < 0.97, -np.inf, rng.random(size)),
        # The sampled rows are the worst: the threshold holds fewer than top_n rows.
        "sample sees the worst": np.where(np.arange(size) % 16 == 0, -1.0, rng.random(size)),
        # The best rows sit only where the sample looks.
        "sample sees the best": np.where(np.arange(size) % 16 == 0, 2.0 + rng.random(size), 0.0),
    }
    for name, scores in cases.items():
        assert top_rows(scores, ids, top_n) == _brute_top(scores, ids, top_n), name


def test_weights_whose_odds_could_underflow_take_the_reference_path() -> None:
    """e^t underflows to 0 below t ≈ -745, and 0 × -inf (no shared language) is NaN, not
    -inf: such weights are scored by the reference, which masks after multiplying."""
    assert fast_path(RankingWeights())
    assert not fast_path(RankingWeights(profile=200.0))
    assert not fast_path(RankingWeights(reciprocal=1.0))


def test_the_table_odds_follow_the_words_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words' term is log(WORDS_FLOOR + BM25) in both, whatever the floor."""
    monkeypatch.setattr(ranking, "WORDS_FLOOR", 2.0)
    community = Community(seed=5)
    weights = RankingWeights()
    for me in range(0, SIZE - 1, 53):
        fast = community.fast(me, weights)
        reference = community.reference(me, weights)
        finite = np.isfinite(reference)
        assert np.array_equal(np.isfinite(fast), finite), me
        np.testing.assert_allclose(fast[finite], reference[finite], rtol=1e-12)


def test_a_words_floor_below_one_takes_the_reference_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below 1 the words' term can be negative (at 0, -inf), which the underflow bound of
    `fast_path` does not allow for."""
    assert fast_path(RankingWeights())
    monkeypatch.setattr(ranking, "WORDS_FLOOR", 0.5)
    assert not fast_path(RankingWeights())
    assert fast_path(RankingWeights(lexical=0.0))
