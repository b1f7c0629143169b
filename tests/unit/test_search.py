"""Hub search's pure parts: filters, fusion, ranking with filters, reasons, cursors, the shell."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pytest

from nnmatch.events import EmbeddingModel, MemberCard, VectorKind
from nnmatch.paging import BadCursor, encode_cursor
from nnmatch.profile import Kind
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.member_matrix import Matrix, MemberMatrix
from nnmatch_matching.search import search as search_module
from nnmatch_matching.search.catalogue import Catalogue, SearchFilters, searchable_text
from nnmatch_matching.search.search import (
    Fusion,
    Hit,
    HubSearch,
    Mode,
    cursor_offset,
    fuse,
    page_of,
    ranking,
    search_digest,
    search_reasons,
)
from tests.unit.builders import card

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
DIMS = 64


class BagOfWords:
    """A stand-in embedder: hashed word counts, so texts sharing words are close."""

    model = EmbeddingModel(id="bag-of-words", version="1", dimensions=DIMS)

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in terms(text):
                out[i, int(hashlib.sha256(term.encode()).hexdigest(), 16) % DIMS] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


MEMBERS: dict[str, MemberCard] = {
    "cv-mentor": card(
        "Ada",
        offers=(Kind.MENTOR,),
        headline="Computer vision researcher",
        expertise=["computer vision", "agritech"],
        offers_text="Mentoring on computer vision for crop disease",
        sdgs=[2, 13],
        country="KE",
        hubs=["yail-nairobi"],
    ),
    "climate-data": card(
        "Bo",
        offers=(Kind.COLLABORATOR,),
        headline="Climate data scientist",
        expertise=["climate modelling"],
        offers_text="Collaboration on flood forecasting",
        sdgs=[13],
        country="IN",
        languages=("en", "hi"),
    ),
    "fintech": card(
        "Cy",
        offers=(Kind.INVESTOR,),
        headline="Fintech investor",
        expertise=["mobile money"],
        offers_text="Seed investment for fintech startups",
        sdgs=[8],
        country="BR",
        languages=("pt",),
    ),
    "hidden-cv": card(
        "Di",
        offers=(Kind.MENTOR,),
        headline="Computer vision mentor",
        expertise=["computer vision"],
        offers_text="Mentoring on computer vision",
        sdgs=[13],
        discoverable=False,
    ),
    "fr-cv": card(
        "Ed",
        offers=(Kind.COLLABORATOR,),
        headline="Vision par ordinateur",
        expertise=["computer vision"],
        offers_text="Collaboration on computer vision for health",
        sdgs=[3],
        country="SN",
        languages=("fr",),
    ),
}


@dataclass
class State:
    card: MemberCard


class FakeEngine:
    """What search reads of the engine: members with cards, and the vector indexes."""

    def __init__(self, cards: dict[str, MemberCard]) -> None:
        self.members: dict[str, State] = {}
        self.indexes = {kind: MemberMatrix(DIMS) for kind in VectorKind}
        self.model_id: str | None = "bag-of-words@1"
        for member_id, member_card in cards.items():
            self.put(member_id, member_card)

    def put(self, member_id: str, member_card: MemberCard) -> None:
        self.members[member_id] = State(member_card)
        text = searchable_text(member_card)
        for kind in VectorKind:
            self.indexes[kind].upsert_many([member_id], BagOfWords().encode([text]))

    def drop(self, member_id: str) -> None:
        del self.members[member_id]
        for index in self.indexes.values():
            index.remove(member_id)


def _catalogue() -> Catalogue:
    catalogue = Catalogue()
    catalogue.sync(MEMBERS)
    return catalogue


def _allowed(filters: SearchFilters) -> set[str]:
    catalogue = _catalogue()
    return set(catalogue.members(catalogue.allowed(filters)))


def test_non_discoverable_members_are_never_allowed() -> None:
    assert _allowed(SearchFilters()) == set(MEMBERS) - {"hidden-cv"}
    assert "hidden-cv" not in _allowed(SearchFilters(sdgs=frozenset({13})))


def test_filters_or_within_a_facet_and_across_facets() -> None:
    assert _allowed(SearchFilters(sdgs=frozenset({13}))) == {"cv-mentor", "climate-data"}
    assert _allowed(SearchFilters(sdgs=frozenset({2, 8}))) == {"cv-mentor", "fintech"}
    assert _allowed(SearchFilters(sdgs=frozenset({13}), countries=frozenset({"IN"}))) == {
        "climate-data"
    }
    assert _allowed(SearchFilters(kinds=frozenset({Kind.MENTOR}))) == {"cv-mentor"}
    assert _allowed(SearchFilters(languages=frozenset({"fr", "pt"}))) == {"fr-cv", "fintech"}
    assert _allowed(SearchFilters(hubs=frozenset({"yail-nairobi"}))) == {"cv-mentor"}
    assert _allowed(SearchFilters(hubs=frozenset({"nowhere"}))) == set()


def test_regions_map_countries_and_join_countries_as_one_location_filter() -> None:
    assert _allowed(SearchFilters(regions=frozenset({"africa"}))) == {"cv-mentor", "fr-cv"}
    assert _allowed(SearchFilters(regions=frozenset({"Asia"}), countries=frozenset({"BR"}))) == {
        "climate-data",
        "fintech",
    }


def test_a_changed_or_removed_card_changes_the_facets() -> None:
    catalogue = _catalogue()
    moved = MEMBERS | {"fintech": card("Cy", sdgs=[13], country="BR")}
    del moved["cv-mentor"]
    catalogue.sync(moved)

    allowed = catalogue.members(catalogue.allowed(SearchFilters(sdgs=frozenset({13}))))
    assert set(allowed) == {"climate-data", "fintech"}
    assert len(catalogue) == 4


def test_rrf_puts_first_in_both_lists_at_one_and_weights_tilt_the_order() -> None:
    dense = [("a", 0.9), ("b", 0.8)]
    lexical = [("b", 7.0), ("c", 5.0)]

    def zeros(ids: list[str]) -> list[float]:
        return [0.0] * len(ids)

    rrf = Fusion(method="rrf")
    even = fuse(dense, lexical, rrf, zeros, zeros)
    dense_only = fuse(dense, lexical, Fusion(method="rrf", lexical_weight=0.0), zeros, zeros)
    top = fuse([("a", 0.9)], [("a", 3.0)], rrf, zeros, zeros)

    assert [h.member_id for h in even] == ["b", "a", "c"]
    assert [h.member_id for h in dense_only][:2] == ["a", "b"]
    assert top[0].score == pytest.approx(1.0)


def test_score_fusion_fills_a_missing_side_with_its_exact_score() -> None:
    dense = [("a", 0.9)]
    lexical = [("b", 4.0)]
    asked: list[list[str]] = []

    def dense_of(ids: list[str]) -> list[float]:
        asked.append(ids)
        return [0.5] * len(ids)

    def lexical_of(ids: list[str]) -> list[float]:
        return [2.0] * len(ids)

    hits = fuse(dense, lexical, Fusion(method="score"), dense_of, lexical_of)

    assert asked == [["b"]]
    by_id = {h.member_id: h for h in hits}
    assert by_id["a"].score == pytest.approx((0.9 + 2.0 / 4.0) / 2)
    assert by_id["b"].score == pytest.approx((0.5 + 1.0) / 2)
    assert [h.member_id for h in hits] == ["b", "a"]


@pytest.mark.parametrize("method", ["rrf", "score"])
@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_returns_only_allowed_members(
    mode: Mode, method: Literal["rrf", "score"]
) -> None:
    engine = FakeEngine(MEMBERS)
    catalogue = _catalogue()
    query = "computer vision mentoring"
    vector = BagOfWords().encode([query])[0]
    filters = SearchFilters(sdgs=frozenset({13}))

    hits = ranking(mode, query, vector, engine.indexes, catalogue, filters, Fusion(method=method))

    assert hits
    assert {h.member_id for h in hits} <= {"cv-mentor", "climate-data"}
    assert hits[0].member_id == "cv-mentor"


def test_hybrid_ranks_the_member_both_retrievers_like_first() -> None:
    engine = FakeEngine(MEMBERS)
    query = "computer vision for crop disease"
    vector = BagOfWords().encode([query])[0]

    hits = ranking(
        Mode.HYBRID, query, vector, engine.indexes, _catalogue(), SearchFilters(), Fusion()
    )

    assert hits[0].member_id == "cv-mentor"
    assert hits[0].dense > 0
    assert hits[0].lexical > 0
    assert "hidden-cv" not in {h.member_id for h in hits}


def test_reasons_name_the_offer_the_search_asked_for_and_the_filtered_sdg() -> None:
    hit = Hit("cv-mentor", 1.0, 0.7, 3.0)
    filters = SearchFilters(sdgs=frozenset({13}), countries=frozenset({"KE"}))

    reasons = search_reasons(
        "mentoring in computer vision", MEMBERS["cv-mentor"], hit, filters, "yail-nairobi"
    )

    texts = {r.kind: r.text for r in reasons}
    assert texts["offer_meets_query"] == "offers mentoring in computer vision that you searched for"
    assert texts["sdg"] == "works on SDG 13 (Climate action)"
    assert texts["location"] == "based in KE"
    assert texts["hub"] == "in your hub (yail-nairobi)"


def test_a_member_found_by_meaning_alone_is_said_to_be_close_in_meaning() -> None:
    reasons = search_reasons(
        "ocean plastics", MEMBERS["fintech"], Hit("fintech", 0.3, 0.42, 0.0), SearchFilters(), None
    )

    assert [r.kind for r in reasons] == ["close_in_meaning"]
    assert "0.42" in reasons[0].text


def test_a_cursor_pages_on_and_ends_with_none() -> None:
    digest = search_digest("q", SearchFilters())
    start, end, cursor = page_of(5, 0, 2, digest)
    assert (start, end) == (0, 2)
    assert cursor is not None
    offset = cursor_offset(cursor, digest)
    assert page_of(5, offset, 2, digest)[:2] == (2, 4)
    assert page_of(5, 4, 2, digest)[2] is None


def test_a_cursor_of_another_search_or_a_forged_one_is_refused() -> None:
    digest = search_digest("q", SearchFilters())
    other = search_digest("q", SearchFilters(sdgs=frozenset({13})))
    _, _, cursor = page_of(5, 0, 2, digest)
    assert cursor is not None

    with pytest.raises(BadCursor):
        cursor_offset(cursor, other)
    with pytest.raises(BadCursor):
        cursor_offset(encode_cursor("o:2"), digest)
    with pytest.raises(BadCursor):
        cursor_offset("%%%not-base64", digest)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_shell_pages_through_every_result_once() -> None:
    engine = FakeEngine(MEMBERS)
    search = HubSearch(engine, Fusion(), BagOfWords)

    seen: list[str] = []
    cursor = None
    while True:
        page = await search.search("computer vision", SearchFilters(), 2, cursor, NOW)
        seen += [s.member_id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) >= 3
    assert seen[0] == "cv-mentor"
    assert "hidden-cv" not in seen
    assert all(s.reasons for s in page.items)


async def test_the_shell_follows_the_engine_after_its_sync_interval() -> None:
    engine = FakeEngine(MEMBERS)
    clock = Clock()
    search = HubSearch(engine, Fusion(), BagOfWords, sync_interval_s=5.0, clock=clock)
    first = await search.search("fintech investment", SearchFilters(), 10, None, NOW)
    assert [s.member_id for s in first.items][:1] == ["fintech"]

    engine.drop("fintech")
    engine.put("new-investor", card("Fe", offers=(Kind.INVESTOR,), offers_text="Fintech seed"))
    during = await search.search("fintech investment", SearchFilters(), 10, None, NOW)
    clock.now = 6.0
    after = await search.search("fintech investment", SearchFilters(), 10, None, NOW)

    assert "fintech" not in [s.member_id for s in during.items]  # erased: never shown
    assert [s.member_id for s in after.items][:1] == ["new-investor"]


async def test_without_a_model_search_is_lexical_only() -> None:
    search = HubSearch(FakeEngine(MEMBERS), Fusion(), None)

    page = await search.search("seed investment", SearchFilters(), 10, None, NOW)

    assert [s.member_id for s in page.items] == ["fintech"]
    assert page.items[0].score == 1.0


async def test_a_member_hidden_since_the_last_sync_is_not_shown() -> None:
    engine = FakeEngine(MEMBERS)
    search = HubSearch(engine, Fusion(), BagOfWords, sync_interval_s=3600.0)
    before = await search.search("fintech investment", SearchFilters(), 10, None, NOW)
    engine.put("fintech", MEMBERS["fintech"].model_copy(update={"discoverable": False}))

    after = await search.search("fintech investment", SearchFilters(), 10, None, NOW)

    assert "fintech" in [s.member_id for s in before.items]
    assert "fintech" not in [s.member_id for s in after.items]


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_pages_skip_a_member_erased_since_the_last_sync_and_end_where_the_hits_do(
    limit: int,
) -> None:
    engine = FakeEngine(MEMBERS)
    search = HubSearch(engine, Fusion(), BagOfWords, sync_interval_s=3600.0)
    everyone = await search.search("computer vision", SearchFilters(), 50, None, NOW)
    order = [s.member_id for s in everyone.items]
    assert len(order) >= 4
    assert everyone.next_cursor is None
    engine.drop(order[1])  # the catalogue still holds them until its next sync

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await search.search("computer vision", SearchFilters(), limit, cursor, NOW)
        pages.append([s.member_id for s in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [m for p in pages for m in p] == [m for m in order if m != order[1]]
    assert all(pages), "no empty page: a next cursor is given only when a member follows"


async def test_kinds_scanned_side_by_side_rank_as_one_after_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = FakeEngine(MEMBERS)
    # cv-mentor's offers say nothing: only the second kind's scan (profile) finds them.
    engine.indexes[VectorKind.OFFERS].upsert_many(["cv-mentor"], np.zeros((1, DIMS), np.float32))
    query = "computer vision mentor"
    fusion = Fusion(lexical_weight=0.0, candidate_k=1)  # the scans alone pick the one hit
    apart = await HubSearch(engine, fusion, BagOfWords).search(
        query, SearchFilters(), 10, None, NOW
    )
    monkeypatch.setattr(search_module, "SMALL_SCAN", 0)  # every scan a large one: in two threads
    side = await HubSearch(engine, fusion, BagOfWords).search(query, SearchFilters(), 10, None, NOW)

    assert [s.member_id for s in side.items] == [s.member_id for s in apart.items]
    assert side.items[0].member_id == "cv-mentor"
    assert [s.score for s in side.items] == pytest.approx([s.score for s in apart.items], abs=1e-4)


async def test_a_scan_failing_in_the_other_thread_fails_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = search_module._scan

    def failing(matrix: Matrix, places: np.ndarray, query: np.ndarray) -> np.ndarray:
        if threading.current_thread().name.startswith("search-scan"):
            raise RuntimeError("the scan failed")
        return real(matrix, places, query)

    monkeypatch.setattr(search_module, "SMALL_SCAN", 0)
    monkeypatch.setattr(search_module, "_scan", failing)
    search = HubSearch(FakeEngine(MEMBERS), Fusion(), BagOfWords)

    with pytest.raises(RuntimeError, match="the scan failed"):
        await search.search("computer vision", SearchFilters(), 10, None, NOW)
