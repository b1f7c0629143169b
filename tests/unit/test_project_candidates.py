"""A project's candidates, pure parts and the shell over a real catalogue: who ranks first, who
is never shown, the reasons' wording and quotes, closed and unknown projects, paging."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from nnmatch.events import MemberCard, ProjectDeleted, ProjectUpserted, VectorKind
from nnmatch.hub import ProjectProfile
from nnmatch.paging import BadCursor
from nnmatch.profile import Intent, Kind
from nnmatch.reasons import ELLIPSIS, reason_sentence
from nnmatch_matching.projects.book import OpenProject, ProjectBook
from nnmatch_matching.projects.candidates import (
    CandidateWeights,
    rank,
    reasons,
    suggestions,
)
from nnmatch_matching.projects.handlers import wrong_key
from nnmatch_matching.projects.keeper import ProjectKeeper
from nnmatch_matching.projects.service import (
    CandidatesUnavailable,
    ProjectCandidates,
    ProjectClosed,
    ProjectNotFound,
)
from nnmatch_matching.projects.texts import project_text, seek_words
from nnmatch_matching.search.catalogue import Catalogue
from nnmatch_matching.search.search import HubSearch, fusion_of
from nnmatch_matching.settings import MatchingSettings
from tests.unit.builders import card
from tests.unit.test_search import BagOfWords, FakeEngine

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
HUB = "yail-nairobi"

DROUGHT = ProjectProfile(
    title="Drought watch for Turkana",
    description="An early-warning map from satellite imagery and farmers' reports.",
    sdgs=[2, 13],
    seeks=Intent(kinds=[Kind.VOLUNTEER], text="Remote sensing of drought from satellite imagery"),
    languages=["en", "sw"],
)

SENSING = card(
    "Ama",
    offers=(Kind.VOLUNTEER,),
    headline="Earth observation engineer",
    expertise=["remote sensing", "satellite imagery"],
    offers_text="Remote sensing of drought and crop yields from satellite imagery, with weekly "
    "maps for county officers",
    sdgs=[13],
    country="GH",
    languages=("en", "sw"),
    hubs=[HUB],
)
FINTECH = card(
    "Bo",
    offers=(Kind.INVESTOR,),
    headline="Fintech investor",
    expertise=["mobile money"],
    offers_text="Seed investment for fintech startups",
    sdgs=[8],
    country="BR",
    languages=("pt",),
)
HIDDEN = card(
    "Cy",
    offers=(Kind.VOLUNTEER,),
    expertise=["remote sensing"],
    offers_text="Remote sensing of drought from satellite imagery",
    discoverable=False,
)
MEMBERS = {"sensing": SENSING, "fintech": FINTECH, "hidden": HIDDEN}


def _embed(text: str) -> np.ndarray:
    vector: np.ndarray = BagOfWords().encode([text])[0]
    return vector


def _ranked(
    engine: FakeEngine, weights: CandidateWeights | None = None, project: ProjectProfile = DROUGHT
) -> list[str]:
    catalogue = Catalogue()
    catalogue.sync({m: s.card for m, s in engine.members.items()})
    found = rank(
        project,
        _embed(project_text(project)),
        catalogue,
        engine.indexes[VectorKind.OFFERS],
        weights or CandidateWeights(),
    )
    return [c.member_id for c in found]


def test_the_project_text_is_its_title_description_kinds_and_seeks() -> None:
    text = project_text(DROUGHT)

    assert text.startswith("Drought watch for Turkana. An early-warning map")
    assert "Seeks: volunteers." in text
    assert text.endswith("Remote sensing of drought from satellite imagery")
    assert "volunteers" not in seek_words(DROUGHT)


def test_the_member_whose_offer_meets_the_seek_ranks_first_and_hidden_ones_never() -> None:
    assert _ranked(FakeEngine(MEMBERS)) == ["sensing", "fintech"]


def test_the_dense_side_reads_what_members_offer_not_who_they_are() -> None:
    """Lexical and kinds off: only cos(project, offers vector) orders them."""
    engine = FakeEngine({"profile-fit": FINTECH, "offer-fit": FINTECH})
    offers = engine.indexes[VectorKind.OFFERS]
    profiles = engine.indexes[VectorKind.PROFILE]
    fitting, unrelated = _embed(project_text(DROUGHT)), _embed("seed investment for fintech")
    offers.upsert_many(["profile-fit", "offer-fit"], np.stack([unrelated, fitting]))
    profiles.upsert_many(["profile-fit", "offer-fit"], np.stack([fitting, unrelated]))

    weights = CandidateWeights(lexical_weight=0.0, kinds_weight=0.0)
    assert _ranked(engine, weights) == ["offer-fit", "profile-fit"]


def test_offering_a_kind_the_project_seeks_adds_the_kinds_weight() -> None:
    offer, expertise = "Help with field work", ["field work"]
    volunteer = card("V", offers=(Kind.VOLUNTEER,), offers_text=offer, expertise=expertise)
    mentor = card("M", offers=(Kind.MENTOR,), offers_text=offer, expertise=expertise)
    # "a-mentor" wins ties by id: only the kinds weight can put the volunteer first.
    engine = FakeEngine({"a-mentor": mentor, "b-volunteer": volunteer})
    same_vector = _embed(offer)  # the fake embeds the kinds' phrases too: one vector for both
    engine.indexes[VectorKind.OFFERS].upsert_many(
        ["a-mentor", "b-volunteer"], np.stack([same_vector, same_vector])
    )

    assert _ranked(engine, CandidateWeights(kinds_weight=0.0)) == ["a-mentor", "b-volunteer"]
    assert _ranked(engine, CandidateWeights(kinds_weight=0.1)) == ["b-volunteer", "a-mentor"]


def test_a_member_gone_from_the_offers_matrix_is_left_out_before_the_catalogue_syncs() -> None:
    engine = FakeEngine(MEMBERS)
    catalogue = Catalogue()
    catalogue.sync(MEMBERS)
    engine.drop("sensing")  # erased: the engine forgets them first, the catalogue later

    found = rank(
        DROUGHT,
        _embed(project_text(DROUGHT)),
        catalogue,
        engine.indexes[VectorKind.OFFERS],
        CandidateWeights(),
    )
    assert [c.member_id for c in found] == ["fintech"]


def test_candidate_k_bounds_the_ranking() -> None:
    assert _ranked(FakeEngine(MEMBERS), CandidateWeights(candidate_k=1)) == ["sensing"]


# --- reasons ---------------------------------------------------------------------------------


def _texts(member: MemberCard, dense: float = 0.5) -> dict[str, str]:
    return {r.kind: r.text for r in reasons(DROUGHT, HUB, member, dense)}


def test_reasons_quote_the_members_own_words_cut_at_a_word() -> None:
    texts = _texts(SENSING)

    offer = texts["offer_meets_project_seek"]
    assert offer.startswith("offers “Remote sensing of drought and crop yields from satellite")
    assert offer.endswith(f"{ELLIPSIS}”, which this project seeks")
    quote = offer.split("“", 1)[1].split("”", 1)[0]
    assert quote.removesuffix(ELLIPSIS) in SENSING.offers_text
    assert SENSING.offers_text.startswith(quote.removesuffix(ELLIPSIS) + " ")  # a whole word
    assert texts["expertise_meets_project_seek"] == (
        "lists “remote sensing” and “satellite imagery” as expertise, which this project seeks"
    )
    assert texts["kind_meets_project_seek"] == "offers volunteering, which this project seeks"
    params = {r.kind: r.params for r in reasons(DROUGHT, HUB, SENSING, 0.5)}
    assert params["offer_meets_project_seek"] == {"quote": quote, "quote_of": "them"}
    assert params["expertise_meets_project_seek"] == {
        "topics": ["remote sensing", "satellite imagery"]
    }
    assert params["kind_meets_project_seek"] == {"kinds": ["volunteer"]}
    assert params["shared_sdg"] == {"sdgs": [13]}


def test_reasons_state_shared_sdgs_languages_and_the_hub_as_facts() -> None:
    texts = _texts(SENSING)

    assert texts["shared_sdg"] == "works on SDG 13 (Climate action), as this project does"
    assert texts["shared_language"] == "speaks English and Swahili, languages of this project"
    assert texts["hub"] == "is a member of this project's hub"
    sentence = reason_sentence(
        next(r for r in reasons(DROUGHT, HUB, SENSING, 0.5) if r.kind == "shared_sdg"), "Ama"
    )
    assert sentence == "Ama works on SDG 13 (Climate action), as this project does."


def test_without_shared_words_the_reason_says_close_in_meaning_and_quotes_them() -> None:
    texts = _texts(FINTECH)

    assert texts == {
        "offer_close_to_project": (
            "offers “Seed investment for fintech startups”, close in meaning to what this "
            "project seeks"
        )
    }
    assert _texts(FINTECH, dense=0.0) == {}


def test_the_most_fitting_sentence_of_a_long_offer_is_quoted() -> None:
    member = card("Di", offers_text="I bake bread on weekends. I map drought from satellites.")

    assert _texts(member)["offer_meets_project_seek"] == (
        "offers “I map drought from satellites”, which this project seeks"
    )


def test_suggestions_leave_out_a_member_without_a_current_card() -> None:
    found = rank(
        DROUGHT,
        _embed(project_text(DROUGHT)),
        _catalogue_of(MEMBERS),
        FakeEngine(MEMBERS).indexes[VectorKind.OFFERS],
        CandidateWeights(),
    )
    cards = {"fintech": FINTECH}

    items = suggestions(DROUGHT, HUB, found, cards.get, NOW)

    assert [i.member_id for i in items] == ["fintech"]
    assert items[0].display_name == "Bo"
    assert items[0].computed_at == NOW


def _catalogue_of(cards: dict[str, MemberCard]) -> Catalogue:
    catalogue = Catalogue()
    catalogue.sync(cards)
    return catalogue


# --- the book, the keeper and the consumer's key check ----------------------------------------


def _open(project_id: str = "p-1", version: int = 1, model: str = "bag-of-words@1") -> OpenProject:
    vector = _embed(project_text(DROUGHT))
    return OpenProject(HUB, project_id, version, DROUGHT, vector, model)


def test_a_closed_project_leaves_the_book_and_is_told_from_an_unknown_one() -> None:
    book = ProjectBook()
    book.put_open(_open())
    book.close(f"{HUB}/p-1")

    assert book.get(HUB, "p-1") is None
    assert book.is_closed(HUB, "p-1")
    book.put_open(_open(version=2))
    assert book.get(HUB, "p-1") is not None
    assert not book.is_closed(HUB, "p-1")
    book.drop(f"{HUB}/p-1")
    assert (book.get(HUB, "p-1"), book.is_closed(HUB, "p-1"), len(book)) == (None, False, 0)


async def test_the_keeper_embeds_open_projects_and_closes_closed_ones() -> None:
    embedded: list[list[str]] = []

    async def embed(texts: list[str]) -> np.ndarray:
        embedded.append(texts)
        return BagOfWords().encode(texts)

    keeper = ProjectKeeper(ProjectBook(), embed, lambda: "bag-of-words@1")
    closed = DROUGHT.model_copy(update={"open": False})
    await keeper.put_projects(
        [
            ProjectUpserted(producer="t", hub_id=HUB, project_id="p-1", version=1, project=DROUGHT),
            ProjectUpserted(producer="t", hub_id=HUB, project_id="p-2", version=1, project=closed),
        ]
    )

    assert embedded == [[project_text(DROUGHT)]]
    kept = keeper.book.get(HUB, "p-1")
    assert kept is not None
    assert kept.model_id == "bag-of-words@1"
    assert np.allclose(kept.vector, _embed(project_text(DROUGHT)))
    assert keeper.book.is_closed(HUB, "p-2")
    await keeper.drop_projects([f"{HUB}/p-1"])
    assert keeper.book.get(HUB, "p-1") is None


def test_a_projects_record_under_another_key_is_refused() -> None:
    event = ProjectDeleted(producer="t", hub_id=HUB, project_id="p-1")

    assert wrong_key(f"{HUB}/p-1", event) is None
    assert wrong_key(None, None) is None
    cause = wrong_key("p-1", event)
    assert cause is not None
    assert f"'{HUB}/p-1'" in cause


# --- the shell over a real catalogue -----------------------------------------------------------


def _service(engine: FakeEngine, *projects: OpenProject) -> ProjectCandidates:
    book = ProjectBook()
    for project in projects:
        book.put_open(project)
    search = HubSearch(engine, fusion_of(MatchingSettings()), None, sync_interval_s=0.0)
    return ProjectCandidates(book, search, CandidateWeights())


async def test_a_page_of_candidates_pages_on_with_a_cursor_of_this_project_only() -> None:
    many = {f"m-{n}": SENSING for n in range(5)} | MEMBERS
    service = _service(FakeEngine(many), _open(), _open("p-2"))

    first = await service.page(HUB, "p-1", 3, None, NOW)
    assert [i.member_id for i in first.items] == ["m-0", "m-1", "m-2"]
    assert first.next_cursor is not None
    rest = await service.page(HUB, "p-1", 10, first.next_cursor, NOW)
    assert [i.member_id for i in rest.items] == ["m-3", "m-4", "sensing", "fintech"]
    assert rest.next_cursor is None
    with pytest.raises(BadCursor):
        await service.page(HUB, "p-2", 3, first.next_cursor, NOW)


async def test_a_member_the_engine_dropped_is_not_shown_though_the_catalogue_holds_them() -> None:
    engine = FakeEngine(MEMBERS)
    service = _service(engine, _open())
    await service.page(HUB, "p-1", 10, None, NOW)  # the catalogue syncs
    del engine.members["sensing"]  # the engine changed, the catalogue has not looked yet

    page = await service.page(HUB, "p-1", 10, None, NOW)

    assert [i.member_id for i in page.items] == ["fintech"]


async def test_unknown_closed_and_other_model_projects_are_refused() -> None:
    engine = FakeEngine(MEMBERS)
    service = _service(engine, _open(), _open("p-old", model="another@1"))
    service.book.close(f"{HUB}/p-closed")

    with pytest.raises(ProjectNotFound):
        await service.page(HUB, "p-unknown", 10, None, NOW)
    with pytest.raises(ProjectNotFound):
        await service.page("yail-lisbon", "p-1", 10, None, NOW)
    with pytest.raises(ProjectClosed):
        await service.page(HUB, "p-closed", 10, None, NOW)
    with pytest.raises(CandidatesUnavailable):
        await service.page(HUB, "p-old", 10, None, NOW)
    without_index = ProjectCandidates(service.book, None, CandidateWeights())
    with pytest.raises(CandidatesUnavailable):
        await without_index.page(HUB, "p-1", 10, None, NOW)


def test_ties_at_the_cut_are_broken_by_member_id() -> None:
    engine = FakeEngine({"c-same": SENSING, "a-same": SENSING, "b-same": SENSING})

    assert _ranked(engine, CandidateWeights(candidate_k=2)) == ["a-same", "b-same"]
