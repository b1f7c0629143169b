"""The hub ↔ hub eval's ground truth and its run, on seeded members and a stand-in model."""

from __future__ import annotations

from nnmatch_matching.hubs.scoring import HubScoring
from nnmatch_tools.evaluate_hubs import (
    RELEVANT_GRADE,
    build_book,
    evaluate_hubs,
    ground_truth,
    hubs_table,
    ndcg_at_k,
    recall_at_k,
    silenced,
)
from nnmatch_tools.seed import generate_members
from nnmatch_tools.seed_hubs import generate_hubs
from tests.unit.test_embedding_cache import CountingEmbedder

MEMBERS = list(generate_members(400))
HUBS = generate_hubs(MEMBERS)


def test_the_truth_pairs_only_hubs_of_different_countries_and_both_ways_is_symmetric() -> None:
    truth = ground_truth(HUBS, MEMBERS)
    country = {h.hub_id: h.hub.country for h in HUBS}

    pairs = [(a, b) for a, grades in truth.both_ways.items() for b in grades]
    assert pairs, "the seed makes complementary hubs"
    assert all(country[a] != country[b] for a, b in pairs)
    for a, b in pairs:
        assert truth.both_ways[a][b] == truth.both_ways[b][a]
        if truth.both_ways[a][b] >= RELEVANT_GRADE:  # both ways: each gains one way
            assert b in truth.one_way[a]
            assert a in truth.one_way[b]


def test_the_metrics_reward_relevant_hubs_at_the_top() -> None:
    grades = {"b": 3, "c": 2, "d": 1}

    assert recall_at_k(["b", "c", "x"], grades) == 1.0
    assert recall_at_k(["x", "d", "b"], grades) == 0.5
    assert ndcg_at_k(["b", "c", "d"], grades) == 1.0
    assert ndcg_at_k(["d", "c", "b"], grades) < 1.0


def test_every_method_is_judged_on_the_same_hubs() -> None:
    book = build_book(HUBS, MEMBERS, CountingEmbedder(dimensions=8))

    results = evaluate_hubs(book, ground_truth(HUBS, MEMBERS), HubScoring())

    assert set(results) == {
        "reciprocal",
        "own text",
        "members' mean, one way",
        "members' mean, reciprocal",
    }
    judged = {name: by["both ways"]["hubs"] for name, by in results.items()}
    assert len(set(judged.values())) == 1
    assert judged["reciprocal"] > 0
    for by in results.values():
        for scores in by.values():
            assert 0.0 <= scores["recall@10"] <= 1.0
            assert 0.0 <= scores["ndcg@10"] <= 1.0
    assert "reciprocal" in hubs_table(results)


def test_silenced_hubs_keep_their_members_but_say_nothing() -> None:
    book = build_book(HUBS, MEMBERS, CountingEmbedder(dimensions=8))

    quiet = silenced(book)

    first, second = sorted(book.hubs)[:2]
    assert quiet.hubs[first].profile.seeks.text == ""
    assert not any(v.any() for v in quiet.hubs[first].vectors.values())
    assert quiet.hubs[second] == book.hubs[second]
    assert quiet.aggregate(first).count == book.aggregate(first).count > 0
    assert book.hubs[first].profile.seeks.text  # the original is untouched
