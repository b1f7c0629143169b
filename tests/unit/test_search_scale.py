"""Hub search at scale: the vectorised dense side is exact, syncs are incremental, and the
work runs off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from nnmatch.events import EmbeddingModel, MemberCard, VectorKind
from nnmatch.profile import Kind
from nnmatch_matching.matcher.exact_dots import on_exact_grid
from nnmatch_matching.matcher.member_matrix import Matrix, MemberMatrix
from nnmatch_matching.search.catalogue import Catalogue, SearchFilters
from nnmatch_matching.search.search import (
    DENSE_KINDS,
    Fusion,
    HubSearch,
    dense_scores,
    dense_top,
)
from tests.unit.builders import card

DIMS = 16
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
COUNTRIES = ("KE", "IN", "BR", "FR", "SN")


def _unit(rng: np.random.Generator, n: int) -> Matrix:
    x = rng.standard_normal((n, DIMS)).astype(np.float32)
    out: Matrix = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


@dataclass
class State:
    card: MemberCard


class Engine:
    def __init__(self, n: int, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.members: dict[str, State] = {}
        self.indexes = {kind: MemberMatrix(DIMS) for kind in VectorKind}
        self.model_id: str | None = "thread-spy@1"
        for i in range(n):
            self.put(f"m-{i:04d}")

    def put(self, member_id: str, sdg: int | None = None) -> None:
        i = int("".join(c for c in member_id if c.isdigit()))
        member_card = card(
            member_id,
            offers=(Kind.MENTOR,),
            offers_text=f"mentoring {member_id}",
            sdgs=[sdg if sdg is not None else 1 + i % 17],
            country=COUNTRIES[i % len(COUNTRIES)],
            discoverable=i % 11 != 0,
        )
        self.members[member_id] = State(member_card)
        for kind in VectorKind:
            self.indexes[kind].upsert_many([member_id], _unit(self.rng, 1))

    def drop(self, member_id: str) -> None:
        del self.members[member_id]
        for index in self.indexes.values():
            index.remove(member_id)


def _catalogue(engine: Engine) -> Catalogue:
    catalogue = Catalogue()
    catalogue.sync({m: s.card for m, s in engine.members.items()})
    return catalogue


def _brute_force(
    engine: Engine, catalogue: Catalogue, query: Matrix, filters: SearchFilters, k: int
) -> list[tuple[str, float]]:
    allowed = catalogue.members(catalogue.allowed(filters))
    scores = dense_scores(engine.indexes, allowed, query)
    ranked = sorted(zip(allowed, scores, strict=True), key=lambda h: (-h[1], h[0]))
    return ranked[:k]


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(),  # most members: one pass over each matrix
        SearchFilters(sdgs=frozenset({3})),  # few: their rows gathered
        SearchFilters(countries=frozenset({"KE", "FR"})),
        SearchFilters(sdgs=frozenset({99})),  # nobody
    ],
)
def test_dense_top_is_the_exact_top_k_of_the_allowed_members(filters: SearchFilters) -> None:
    engine = Engine(600)
    catalogue = _catalogue(engine)
    query = _unit(engine.rng, 1)[0]

    got = dense_top(engine.indexes, catalogue, query, catalogue.allowed(filters), 25)

    expected = _brute_force(engine, catalogue, query, filters, 25)
    assert [m for m, _ in got] == [m for m, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_dense_top_follows_changes_synced_since_and_scores_what_the_engine_holds_now() -> None:
    engine = Engine(300)
    catalogue = _catalogue(engine)
    query = _unit(engine.rng, 1)[0]
    dense_top(engine.indexes, catalogue, query, catalogue.allowed(SearchFilters()), 10)

    # The best member leaves and a newcomer takes its index rows, and its vector is the query:
    # before the catalogue syncs, the one who left must not inherit the newcomer's score.
    best = dense_top(engine.indexes, catalogue, query, catalogue.allowed(SearchFilters()), 1)
    engine.drop(best[0][0])
    engine.put("m-0001x")
    for kind in DENSE_KINDS:
        engine.indexes[kind].upsert_many(["m-0001x"], query[None, :])
    stale = dense_top(engine.indexes, catalogue, query, catalogue.allowed(SearchFilters()), 10)
    assert best[0][0] not in [m for m, _ in stale]
    assert all(s < 0.999 for _, s in stale)

    catalogue.sync({m: s.card for m, s in engine.members.items()})
    synced = dense_top(engine.indexes, catalogue, query, catalogue.allowed(SearchFilters()), 10)
    assert synced[0][0] == "m-0001x"
    held = on_exact_grid(query[None, :])[0]  # the engine holds the newcomer on the grid
    assert synced[0][1] == pytest.approx(float(held @ query), abs=1e-6)
    expected = _brute_force(engine, catalogue, query, SearchFilters(), 10)
    assert [m for m, _ in synced] == [m for m, _ in expected]
    assert [s for _, s in synced] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_an_unchanged_engine_syncs_nothing_and_a_change_touches_only_its_member() -> None:
    engine = Engine(200)
    catalogue = Catalogue()
    changed, removed = catalogue.diff_states(dict(engine.members))
    assert (len(changed), removed) == (200, [])
    catalogue.apply(Catalogue.analyse(changed, removed))
    catalogue.note_states(dict(engine.members))
    at = catalogue.changes

    assert catalogue.diff_states(dict(engine.members)) == ([], [])

    engine.put("m-0007", sdg=5)
    engine.drop("m-0008")
    changed, removed = catalogue.diff_states(dict(engine.members))
    assert [m for m, _ in changed] == ["m-0007"]
    assert removed == ["m-0008"]
    catalogue.apply(Catalogue.analyse(changed, removed))
    catalogue.note_states(dict(engine.members))
    assert catalogue.changes == at + 2
    assert catalogue.diff_states(dict(engine.members)) == ([], [])
    assert "m-0008" not in catalogue.members(catalogue.allowed(SearchFilters()))
    assert "m-0007" in catalogue.members(catalogue.allowed(SearchFilters(sdgs=frozenset({5}))))


class ThreadSpy:
    """An embedder that notes the thread it runs in."""

    model = EmbeddingModel(id="thread-spy", version="1", dimensions=DIMS)

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def encode(self, texts: Sequence[str]) -> Matrix:
        self.threads.add(threading.get_ident())
        rng = np.random.default_rng(len(texts))
        return _unit(rng, len(texts))


async def test_embedding_and_ranking_run_off_the_event_loop() -> None:
    engine = Engine(100)
    spy = ThreadSpy()
    search = HubSearch(engine, Fusion(), lambda: spy)
    loop_thread = threading.get_ident()

    page = await search.search("mentoring", SearchFilters(), 5, None, NOW)

    assert page.items
    assert spy.threads
    assert loop_thread not in spy.threads


async def test_the_shell_syncs_only_what_changed() -> None:
    engine = Engine(120)
    search = HubSearch(engine, Fusion(), None, sync_interval_s=0.0)
    await search.refresh()
    at = search.catalogue.changes

    await search.refresh()
    assert search.catalogue.changes == at

    engine.put("m-0003", sdg=9)
    await search.refresh()
    assert search.catalogue.changes == at + 1
    assert search.catalogue.cards["m-0003"] is engine.members["m-0003"].card
