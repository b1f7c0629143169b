"""`nnmatch eval --set real`: the committed set, its profiles, and the judging around the engine."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from nnmatch.events import EmbeddingModel
from nnmatch.profile import MAX_BIO, MAX_HEADLINE, MAX_OFFER_SEEK_TEXT, Kind
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.index import Matrix
from nnmatch_matching.matcher.ranking import RankingWeights
from nnmatch_tools import evaluate_real as ev
from nnmatch_tools.realset.load import Paper, Person, ProfileStyle, RealSet, load, profile_of


class WordsEmbedder:
    """A stand-in model: a text's vector is its hashed bag of words, so shared words = near."""

    def __init__(self, dimensions: int = 64) -> None:
        self.model = EmbeddingModel(id="words", version="1", dimensions=dimensions)

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.model.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in terms(text):
                out[row, zlib.crc32(term.encode()) % self.model.dimensions] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Matrix = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return unit


TOPICS = {
    "parsing": "Dependency parsing of treebanks with transition systems and parsers.",
    "speech": "Speech recognition of spoken audio with acoustic models for speech.",
    "translation": "Machine translation between languages with neural translation models.",
}


def _person(person_id: str, topic: str, year: int = 2018) -> Person:
    return Person(person_id, (Paper(year, f"{topic.title()} study", TOPICS[topic]),))


def small_set() -> RealSet:
    people = tuple(
        _person(f"acl-{topic[:2]}{i}", topic) for topic in sorted(TOPICS) for i in range(4)
    )
    truth = {
        "acl-pa0": frozenset({"acl-pa1"}),
        "acl-sp0": frozenset({"acl-sp2"}),
        "acl-tr0": frozenset({"acl-tr3"}),
        "acl-tr1": frozenset({"acl-pa2"}),  # across topics: no words lead there
    }
    known = {"acl-pa0": frozenset({"acl-pa3"}), "acl-sp0": frozenset(), "acl-tr0": frozenset()}
    return RealSet(
        people=people,
        truth=truth,
        known={**known, "acl-tr1": frozenset()},
        tune=("acl-tr1",),
        report=("acl-pa0", "acl-sp0", "acl-tr0"),
        split_year=2020,
        source="tests",
    )


def test_the_committed_set_is_whole_split_by_time_and_in_two_disjoint_parts() -> None:
    realset = load()
    people = {p.person_id for p in realset.people}

    assert len(people) == len(realset.people) > 5000
    assert set(realset.tune).isdisjoint(realset.report)
    assert set(realset.tune) | set(realset.report) == set(realset.truth)
    assert all(q in people and t <= people and t for q, t in realset.truth.items())
    assert all(not (realset.truth[q] & realset.known.get(q, frozenset())) for q in realset.truth)
    assert max(p.year for person in realset.people for p in person.papers) < realset.split_year


def test_a_person_loads_as_a_valid_profile_within_every_limit() -> None:
    long = Paper(2019, "T" * 300, "word " * 2000)
    person = Person("acl-0123456789", (long, long, long))

    papers = profile_of(person, ProfileStyle.PAPERS)
    bio_only = profile_of(person, ProfileStyle.BIO)

    assert len(papers.bio) <= MAX_BIO
    assert len(papers.headline) <= MAX_HEADLINE
    assert 0 < len(papers.offers.text) <= MAX_OFFER_SEEK_TEXT
    assert papers.seeks.kinds == [Kind.COLLABORATOR]
    assert bio_only.offers.text == bio_only.seeks.text == ""
    assert bio_only.bio == papers.bio


def test_a_sample_keeps_only_truth_among_the_people_kept() -> None:
    realset = small_set().sample(5)  # acl-pa0..3 and acl-sp0

    kept = {p.person_id for p in realset.people}
    assert all(q in kept and t <= kept for q, t in realset.truth.items())
    assert "acl-sp0" not in realset.truth  # their collaborator was left out
    assert realset.report == ("acl-pa0",)


def test_rank_fusion_adds_reciprocal_ranks() -> None:
    fused = ev.rrf([{"q": ["a", "b", "c"]}, {"q": ["c", "b", "d"]}], k=3, rrf_k=60)

    # c: 1/63 + 1/61 (0.03227) just beats b: 2/62 (0.03226); a: 1/61 beats d: 1/63
    assert fused["q"] == ["c", "b", "a"]


def test_popularity_counts_the_tuning_truth_only_and_skips_the_known() -> None:
    realset = small_set()
    corpus = ev.build_corpus(realset, WordsEmbedder(), ProfileStyle.PAPERS, None)

    lists = ev.popularity_lists(corpus, realset, ["acl-pa0", "acl-pa2"], 3)

    assert "acl-pa2" not in lists["acl-pa2"]  # never oneself
    assert lists["acl-pa0"][0] == "acl-pa2"  # the one tuning answer leads
    assert "acl-pa3" not in lists["acl-pa0"]  # already a co-author


def test_every_ranking_finds_same_topic_people_and_skips_oneself_and_the_known() -> None:
    realset = small_set()
    corpus = ev.build_corpus(realset, WordsEmbedder(), ProfileStyle.PAPERS, None)
    queries = list(realset.report)

    for lists in (
        ev.dense_lists(corpus, realset, queries, 3),
        ev.bm25_lists(corpus, realset, queries, 3),
        ev.engine_lists(ev.engine_for(corpus, realset, RankingWeights()), queries),
    ):
        for query in queries:
            topic = query[:6]
            assert lists[query], query
            assert query not in lists[query]
            assert not set(lists[query]) & realset.known[query]
            assert all(m.startswith(topic) for m in lists[query][:2]), (query, lists[query])


def test_the_bootstrap_interval_holds_the_mean_and_is_the_same_every_run() -> None:
    values = np.array([0.0, 0.0, 1.0, 0.5, 0.25, 0.0, 1.0, 0.0])
    rows = ev.bootstrap_rows(len(values), rounds=500)

    low, high = ev.interval(values, rows)

    assert low < values.mean() < high
    assert (low, high) == ev.interval(values, ev.bootstrap_rows(len(values), rounds=500))
    assert ev.interval(np.ones(8), rows) == (1.0, 1.0)


def test_the_verdict_needs_ten_percent_over_each_baseline_and_the_interval() -> None:
    def row(recall: float, high: float | None = None) -> dict[str, float]:
        return {"recall@10": recall, "recall@10 high": high or recall}

    results = {"bm25": row(0.10, 0.12), "dense": row(0.08), "rrf": row(0.115)}

    assert all(ev.verdict({**results, "engine": row(0.125)}).values())
    failing = ev.verdict({**results, "engine": row(0.108)})
    assert not failing["beats bm25 by 10%"]
    assert not failing["above the bm25 interval"]


def test_a_run_writes_every_ranking_with_intervals_and_the_command(tmp_path: Path) -> None:
    path = ev.run(
        part="report",
        out=tmp_path,
        command="nnmatch eval --set real (test)",
        realset=small_set(),
        embedder=WordsEmbedder(),
        cache=None,
    )

    report = json.loads(path.read_text())
    names = set(report["results"])
    assert {
        "popularity",
        "bm25",
        "dense",
        "rrf",
        "connections",
        "engine",
        "engine, no words",
    } <= names
    assert report["set"]["queries"] == 3
    assert report["command"].endswith("(test)")
    engine = report["results"]["engine"]
    assert engine["recall@10 low"] <= engine["recall@10"] <= engine["recall@10 high"]
    assert engine["recall@10"] == pytest.approx(1.0)  # 11 candidates: all but one listed
