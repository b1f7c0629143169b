"""Seeded hubs and projects: drawn from the seeded members, deterministic, and complementary
across countries (what one hub seeks, a hub elsewhere offers)."""

from __future__ import annotations

import re

import pytest

from nnmatch.hub import LeaderRole
from nnmatch.profile import BulkProfileLine
from nnmatch_tools.seed import COUNTRIES, generate_members
from nnmatch_tools.seed_hubs import MIN_MEMBERS, PROJECT_HUBS, SeededHub, generate_hubs

_CITY_OF = {f"Young AI Leaders {city}": c.code for c in COUNTRIES for city in c.cities}


@pytest.fixture(scope="module")
def members() -> list[BulkProfileLine]:
    return list(generate_members(2_000))


@pytest.fixture(scope="module")
def hubs(members: list[BulkProfileLine]) -> list[SeededHub]:
    return generate_hubs(members)


def _dump(hubs: list[SeededHub]) -> list[object]:
    return [
        (h.hub_id, h.hub.model_dump(), h.members, [(p.project_id, p.project) for p in h.projects])
        for h in hubs
    ]


def test_same_members_and_seed_give_the_same_hubs(
    members: list[BulkProfileLine], hubs: list[SeededHub]
) -> None:
    assert _dump(generate_hubs(members)) == _dump(hubs)
    assert _dump(generate_hubs(members, seed=7)) != _dump(hubs)


def test_making_hubs_leaves_the_member_seed_byte_identical(
    members: list[BulkProfileLine],
) -> None:
    before = [m.model_dump_json() for m in members]
    generate_hubs(members)

    assert [m.model_dump_json() for m in members] == before
    assert [m.model_dump_json() for m in generate_members(2_000)] == before


def test_every_hub_with_enough_members_has_a_profile_in_its_citys_country(
    members: list[BulkProfileLine], hubs: list[SeededHub]
) -> None:
    by_hub: dict[str, set[str]] = {}
    for member in members:
        for hub_id in member.hubs:
            by_hub.setdefault(hub_id, set()).add(member.member_id)
    expected = {h for h, people in by_hub.items() if len(people) >= MIN_MEMBERS}

    assert {h.hub_id for h in hubs} == expected
    assert len(hubs) >= 100  # the community has more than 100 hubs
    assert len({h.hub.country for h in hubs}) >= 40
    sizes = [len(h.members) for h in hubs]
    assert sizes == sorted(sizes, reverse=True)
    for hub in hubs:
        assert set(hub.members) == by_hub[hub.hub_id]
        assert hub.hub.country == _CITY_OF[hub.hub.name]
        assert hub.hub.region is not None


def test_leaders_are_discoverable_members_of_their_hub_one_per_role(
    members: list[BulkProfileLine], hubs: list[SeededHub]
) -> None:
    discoverable = {m.member_id for m in members if m.visibility.discoverable}
    for hub in hubs:
        leaders = hub.hub.leaders
        visible = set(hub.members) & discoverable
        ids = {x.member_id for x in leaders}
        assert [x.role for x in leaders] == list(LeaderRole)[: len(leaders)]
        assert len(ids) == len(leaders) == min(3, len(visible) or len(hub.members))
        assert ids <= (visible or set(hub.members))


def test_the_largest_hubs_post_projects_and_at_least_one_is_open(hubs: list[SeededHub]) -> None:
    with_projects = [h for h in hubs if h.projects]

    assert with_projects == hubs[:PROJECT_HUBS]
    for hub in with_projects:
        assert any(p.project.open for p in hub.projects)
        assert all(p.project.seeks.text and p.project.seeks.kinds for p in hub.projects)
        assert all(p.project.languages == hub.hub.languages for p in hub.projects)
    assert len({p.project_id for h in with_projects for p in h.projects}) >= 2


_SOUGHT = re.compile(r"^Partners in (?P<topics>.+)\.$")


def _sought_topics(hub: SeededHub) -> list[str]:
    match = _SOUGHT.match(hub.hub.seeks.text)
    if match is None:
        return []
    return [t.strip() for t in re.split(r", | and ", match["topics"]) if t.strip()]


def test_most_hubs_seek_what_a_hub_in_another_country_offers(hubs: list[SeededHub]) -> None:
    """The seeded ground truth for hub partners: complementary hubs across countries."""
    with_partner = 0
    for hub in hubs:
        sought = _sought_topics(hub)
        own = hub.hub.offers.text
        assert not any(topic in own for topic in sought), hub.hub_id  # seeks what it lacks
        if any(
            topic in other.hub.offers.text
            for other in hubs
            if other.hub.country != hub.hub.country
            for topic in sought
        ):
            with_partner += 1

    assert with_partner >= 0.8 * len(hubs)
