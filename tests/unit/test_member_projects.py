"""A member's projects, pure parts and the shell over a real catalogue: which project ranks
first, that it scores exactly what the project's candidates give the member, which projects are
never shown (closed, of a hidden or unknown hub), and the reasons' wording and quotes."""

from __future__ import annotations

import pytest

from nnmatch.events import VectorKind
from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch.profile import Intent, Kind
from nnmatch.reasons import ELLIPSIS, reason_sentence
from nnmatch_matching.projects.book import OpenProject, ProjectBook
from nnmatch_matching.projects.candidates import CandidateWeights, rank
from nnmatch_matching.projects.for_member import (
    ProjectFit,
    project_reasons,
    rank_for_member,
    visible,
)
from nnmatch_matching.projects.service import CandidatesUnavailable, ProjectCandidates
from nnmatch_matching.projects.texts import project_text
from nnmatch_matching.search.catalogue import Catalogue
from nnmatch_matching.search.search import HubSearch, fusion_of
from nnmatch_matching.settings import MatchingSettings
from tests.unit.builders import card
from tests.unit.test_project_candidates import DROUGHT, FINTECH, HIDDEN, HUB, SENSING, _embed
from tests.unit.test_search import FakeEngine

OTHER_HUB = "yail-lisbon"
HIDDEN_HUB = "yail-hidden"
MICROFINANCE = ProjectProfile(
    title="Mobile money for market traders",
    description="A savings app for market traders.",
    sdgs=[8],
    seeks=Intent(kinds=[Kind.INVESTOR], text="Seed investment for fintech in Lisbon"),
    languages=["pt"],
)
HUBS = {
    HUB: HubProfile(name="YAIL Nairobi", country="KE", languages=["en"]),
    OTHER_HUB: HubProfile(name="YAIL Lisbon", country="PT", languages=["pt"]),
    HIDDEN_HUB: HubProfile(
        name="Hidden hub", country="KE", languages=["en"], visibility={"discoverable": False}
    ),
}
MEMBERS = {"sensing": SENSING, "fintech": FINTECH, "hidden": HIDDEN}


def _project(hub_id: str, project_id: str, project: ProjectProfile, model: str = "") -> OpenProject:
    vector = _embed(project_text(project))
    return OpenProject(hub_id, project_id, 1, project, vector, model or "bag-of-words@1")


DROUGHT_P = _project(HUB, "drought", DROUGHT)
MONEY_P = _project(OTHER_HUB, "money", MICROFINANCE)
HIDDEN_P = _project(HIDDEN_HUB, "secret", DROUGHT)
UNKNOWN_P = _project("yail-unknown", "nowhere", DROUGHT)


def _catalogue(engine: FakeEngine) -> Catalogue:
    catalogue = Catalogue()
    catalogue.sync({m: s.card for m, s in engine.members.items()})
    return catalogue


def _fits(
    member_id: str,
    projects: list[OpenProject],
    engine: FakeEngine | None = None,
    weights: CandidateWeights | None = None,
) -> list[ProjectFit]:
    engine = engine or FakeEngine(MEMBERS)
    return rank_for_member(
        member_id,
        engine.members[member_id].card,
        projects,
        HUBS.get,
        _catalogue(engine),
        engine.indexes[VectorKind.OFFERS],
        weights or CandidateWeights(),
    )


def _ids(fits: list[ProjectFit]) -> list[str]:
    return [f.project.project_id for f in fits]


def test_the_project_that_seeks_what_the_member_offers_ranks_first_for_each_member() -> None:
    assert _ids(_fits("sensing", [MONEY_P, DROUGHT_P])) == ["drought", "money"]
    assert _ids(_fits("fintech", [DROUGHT_P, MONEY_P])) == ["money", "drought"]


@pytest.mark.parametrize("weights", [CandidateWeights(), CandidateWeights(1.0, 0.5, 0.3)])
def test_the_member_side_score_is_the_project_candidates_score_of_that_pair(
    weights: CandidateWeights,
) -> None:
    """One scorer read from both sides: a project ranks a member as high as the member's list
    ranks the project (same dense, same BM25 scaled by the project's best, same kinds bonus)."""
    engine = FakeEngine(MEMBERS)
    catalogue = _catalogue(engine)
    offers = engine.indexes[VectorKind.OFFERS]
    for project in (DROUGHT_P, MONEY_P):
        candidates = rank(project.project, project.vector, catalogue, offers, weights)
        for candidate in candidates:
            fits = _fits(candidate.member_id, [project], engine, weights)
            assert [f.score for f in fits] == [candidate.score]


def test_projects_of_hidden_or_unknown_hubs_are_never_shown() -> None:
    projects = [DROUGHT_P, HIDDEN_P, UNKNOWN_P, MONEY_P]

    assert visible(projects, HUBS.get) == [DROUGHT_P, MONEY_P]
    assert set(_ids(_fits("sensing", projects))) == {"drought", "money"}


def test_a_member_who_is_not_discoverable_gets_no_projects() -> None:
    assert _fits("hidden", [DROUGHT_P, MONEY_P]) == []


def test_a_member_without_an_offers_vector_gets_no_projects() -> None:
    engine = FakeEngine(MEMBERS)
    engine.indexes[VectorKind.OFFERS].remove("sensing")

    assert _fits("sensing", [DROUGHT_P], engine) == []


def test_the_hub_name_is_given_with_each_project() -> None:
    fits = _fits("sensing", [DROUGHT_P, MONEY_P])

    assert {f.project.project_id: f.hub_name for f in fits} == {
        "drought": "YAIL Nairobi",
        "money": "YAIL Lisbon",
    }


def _fit(project: OpenProject = DROUGHT_P, dense: float = 0.5) -> ProjectFit:
    return ProjectFit(project, HUBS[project.hub_id].name, 0.5, dense)


def test_reasons_quote_the_projects_words_and_say_whose_they_are() -> None:
    reasons = {r.kind: r for r in project_reasons(_fit(), SENSING)}

    seeks = reasons["project_seeks_your_offer"]
    assert seeks.params["quote_of"] == "project"
    assert seeks.text == f"seeks what you offer: {seeks.params['quote']}"
    assert seeks.params["quote"] == "Remote sensing of drought from satellite imagery"
    assert "satellite" in list(seeks.params["words"])  # type: ignore[arg-type]
    assert reasons["project_seeks_your_kind"].text == "seeks volunteering, which you offer"
    assert reason_sentence(seeks, DROUGHT.title) == (
        "Drought watch for Turkana seeks what you offer. In Drought watch for Turkana's words: "
        "“Remote sensing of drought from satellite imagery”"
    )


def test_a_long_project_quote_is_cut_at_a_word_with_an_ellipsis() -> None:
    long = DROUGHT.model_copy(
        update={
            "description": "",
            "seeks": Intent(
                kinds=[Kind.VOLUNTEER],
                text="Remote sensing of drought from satellite imagery across the counties of "
                "northern Kenya with weekly maps for county officers and farmers alike",
            ),
        }
    )
    reasons = project_reasons(_fit(_project(HUB, "long", long)), SENSING)
    quote = str(reasons[0].params["quote"])

    assert quote.endswith(ELLIPSIS)
    assert long.seeks.text.startswith(quote.removesuffix(ELLIPSIS))
    assert long.seeks.text[len(quote) - 1] == " "  # the cut fell between two words


def test_shared_sdgs_languages_and_the_members_own_hub_are_stated() -> None:
    kinds = [r.kind for r in project_reasons(_fit(), SENSING)]
    texts = {r.kind: r.text for r in project_reasons(_fit(), SENSING)}

    assert kinds[-3:] == ["project_shared_sdg", "project_shared_language", "project_of_your_hub"]
    assert texts["project_shared_sdg"] == "works on SDG 13 (Climate action), as you do"
    assert texts["project_shared_language"] == "works in English and Swahili, which you speak"
    assert texts["project_of_your_hub"] == "is a project of your hub"
    outsider = [r.kind for r in project_reasons(_fit(), FINTECH)]
    assert "project_of_your_hub" not in outsider


def test_without_shared_words_the_reason_says_close_in_meaning_and_quotes_the_project() -> None:
    near = card("N", offers_text="Cartography of rangelands", expertise=["GIS"])
    reasons = {r.kind: r for r in project_reasons(_fit(dense=0.3), near)}

    close = reasons["project_close_to_your_offer"]
    assert close.params == {
        "quote": "An early-warning map from satellite imagery and farmers' reports",
        "quote_of": "project",
    }
    assert "project_close_to_your_offer" not in {
        r.kind for r in project_reasons(_fit(dense=0.0), near)
    }


# --- the shell over a real catalogue ---------------------------------------------------------


def _service(engine: FakeEngine, *projects: OpenProject) -> ProjectCandidates:
    book = ProjectBook()
    for project in projects:
        book.put_open(project)
    search = HubSearch(engine, fusion_of(MatchingSettings()), None, sync_interval_s=0.0)
    return ProjectCandidates(book, search, CandidateWeights(), HUBS.get)


async def test_the_service_lists_the_best_projects_first_up_to_the_limit() -> None:
    service = _service(FakeEngine(MEMBERS), DROUGHT_P, MONEY_P, HIDDEN_P)

    items = await service.for_member("sensing", 10)
    assert [(i.hub_id, i.project_id, i.hub_name) for i in items] == [
        (HUB, "drought", "YAIL Nairobi"),
        (OTHER_HUB, "money", "YAIL Lisbon"),
    ]
    assert items[0].title == DROUGHT.title
    assert items[0].score > items[1].score
    assert "project_of_your_hub" in {r.kind for r in items[0].reasons}
    assert [i.project_id for i in await service.for_member("sensing", 1)] == ["drought"]


async def test_a_closed_project_leaves_the_members_list() -> None:
    service = _service(FakeEngine(MEMBERS), DROUGHT_P, MONEY_P)
    service.book.close(f"{HUB}/drought")

    assert [i.project_id for i in await service.for_member("sensing", 10)] == ["money"]


async def test_unknown_hidden_or_dropped_members_get_an_empty_list() -> None:
    engine = FakeEngine(MEMBERS)
    service = _service(engine, DROUGHT_P)
    assert await service.for_member("sensing", 10)
    engine.drop("sensing")  # erased: the engine no longer holds them

    assert await service.for_member("sensing", 10) == []
    assert await service.for_member("nobody", 10) == []
    assert await service.for_member("hidden", 10) == []


async def test_projects_of_another_model_are_left_out_and_no_index_is_unavailable() -> None:
    old = _project(HUB, "old", DROUGHT, model="another@1")
    service = _service(FakeEngine(MEMBERS), old)

    assert await service.for_member("sensing", 10) == []
    without_index = ProjectCandidates(service.book, None, CandidateWeights(), HUBS.get)
    with pytest.raises(CandidatesUnavailable):
        await without_index.for_member("sensing", 10)
