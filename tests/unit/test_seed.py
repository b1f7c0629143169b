"""The synthetic community: deterministic, valid, global, and a market with two sides."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

import pytest

from nnmatch.profile import BulkProfileLine, Kind, OrganisationType
from nnmatch_tools.seed import (
    COUNTRIES,
    DOMAINS,
    NAME_POOLS,
    OFFER_TEMPLATES,
    PERSONAS,
    REGIONS,
    SEEK_TEMPLATES,
    generate_member,
    generate_members,
    hub_id,
)

COMMUNITY_SIZE = 2_000
_WORD = re.compile(r"[a-z0-9-]{5,}")


@pytest.fixture(scope="module")
def community() -> list[BulkProfileLine]:
    return list(generate_members(COMMUNITY_SIZE))


def _dumps(members: list[BulkProfileLine]) -> list[dict[str, object]]:
    return [member.model_dump() for member in members]


def _template_words() -> frozenset[str]:
    """Words every offer or seek of a kind shares whatever the domain ("mentoring", "seed")."""
    tables = [OFFER_TEMPLATES, SEEK_TEMPLATES]
    tables += [persona.offer_texts for persona in PERSONAS]
    tables += [persona.seek_texts for persona in PERSONAS]
    templates = (template for table in tables for group in table.values() for template in group)
    return frozenset(
        word for template in templates for word in _WORD.findall(_SLOT.sub(" ", template.lower()))
    )


_SLOT = re.compile(r"\{\w+\}")
_TEMPLATE_WORDS = _template_words()


def _domain_words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _TEMPLATE_WORDS


# Determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_members() -> None:
    assert _dumps(list(generate_members(300, seed=7))) == _dumps(
        list(generate_members(300, seed=7))
    )


def test_different_seeds_give_different_members() -> None:
    first = _dumps(list(generate_members(50, seed=1)))
    second = _dumps(list(generate_members(50, seed=2)))
    assert sum(a != b for a, b in zip(first, second, strict=True)) >= 45


def test_a_smaller_run_is_a_prefix_of_a_larger_one() -> None:
    assert _dumps(list(generate_members(40))) == _dumps(list(generate_members(200))[:40])


def test_generation_ignores_and_leaves_the_global_random_state() -> None:
    random.seed(1)
    before = random.getstate()
    members = _dumps(list(generate_members(30)))
    assert random.getstate() == before
    random.seed(2)
    assert _dumps(list(generate_members(30))) == members


def test_generate_member_draws_from_the_given_rng() -> None:
    one = generate_member(5, random.Random(9), id_prefix="x-")
    again = generate_member(5, random.Random(9), id_prefix="x-")
    assert one == again
    assert one.member_id == "x-00005"


# Ids -----------------------------------------------------------------------------------------


def test_ids_are_unique_sequential_and_prefixed() -> None:
    ids = [member.member_id for member in generate_members(120, id_prefix="demo-")]
    assert ids == [f"demo-{index:05d}" for index in range(120)]


def test_zero_members_is_empty_and_negative_is_rejected() -> None:
    assert list(generate_members(0)) == []
    with pytest.raises(ValueError, match="count"):
        list(generate_members(-1))


# Validity and shape ----------------------------------------------------------------------------


def test_every_member_round_trips_through_json(community: list[BulkProfileLine]) -> None:
    for member in community:
        assert BulkProfileLine.model_validate_json(member.model_dump_json()) == member


def test_every_member_has_a_language_and_something_to_offer_and_seek(
    community: list[BulkProfileLine],
) -> None:
    for member in community:
        assert member.languages
        assert member.offers.kinds or member.seeks.kinds
        for intent in (member.offers, member.seeks):
            assert bool(intent.kinds) == bool(intent.text)


def test_profiles_stay_within_the_generator_ranges(community: list[BulkProfileLine]) -> None:
    for member in community:
        assert 2 <= len(member.expertise) <= 5
        assert 2 <= len(member.interests) <= 4
        assert 1 <= len(member.sdgs) <= 3
        assert 1 <= len(member.bio.split("\n\n")) <= 3
        assert member.headline
        assert member.organisation.name
        assert len(member.hubs) <= 1
        assert "lorem" not in member.bio.lower()
        assert "{" not in member.bio + member.headline + member.offers.text + member.seeks.text


def test_names_are_diverse(community: list[BulkProfileLine]) -> None:
    assert len({member.display_name for member in community}) > COMMUNITY_SIZE * 0.7


def test_languages_are_plausible_for_the_country(community: list[BulkProfileLine]) -> None:
    spoken = {country.code: set(country.languages) | {"en", "fr"} for country in COUNTRIES}
    for member in community:
        assert set(member.languages) <= spoken[member.country]
    assert sum("en" in member.languages for member in community) > COMMUNITY_SIZE * 0.7


def test_organisation_visibility_and_discoverability_rates(
    community: list[BulkProfileLine],
) -> None:
    shown = sum(member.visibility.show_organisation for member in community) / COMMUNITY_SIZE
    discoverable = sum(member.visibility.discoverable for member in community) / COMMUNITY_SIZE
    assert 0.80 <= shown <= 0.90
    assert 0.92 <= discoverable <= 0.98


def test_every_organisation_type_appears(community: list[BulkProfileLine]) -> None:
    assert {member.organisation.type for member in community} == set(OrganisationType)


# A global, global-south-heavy community --------------------------------------------------------


def test_regions_cover_every_country_used(community: list[BulkProfileLine]) -> None:
    assert len(REGIONS) >= 60
    assert set(REGIONS.values()) == {"Africa", "Americas", "Asia", "Europe", "Oceania"}
    assert {member.country for member in community} <= REGIONS.keys()


def test_all_five_regions_appear_and_the_global_south_leads(
    community: list[BulkProfileLine],
) -> None:
    regions = Counter(REGIONS[member.country] for member in community)
    assert set(regions) == {"Africa", "Americas", "Asia", "Europe", "Oceania"}
    assert regions["Africa"] > regions["Europe"]
    assert regions["Asia"] > regions["Europe"]
    assert regions["Africa"] + regions["Asia"] + regions["Americas"] > COMMUNITY_SIZE * 0.75


def test_all_seventeen_sdgs_appear(community: list[BulkProfileLine]) -> None:
    assert {goal for member in community for goal in member.sdgs} == set(range(1, 18))


def test_young_ai_leaders_hubs_are_many_local_and_common(
    community: list[BulkProfileLine],
) -> None:
    hub_countries: dict[str, set[str]] = defaultdict(set)
    for member in community:
        for hub in member.hubs:
            assert re.fullmatch(r"yail-[a-z0-9]+(-[a-z0-9]+)*", hub)
            hub_countries[hub].add(member.country)
    assert len(hub_countries) >= 60
    assert len({c for countries in hub_countries.values() for c in countries}) >= 30
    assert all(len(countries) == 1 for countries in hub_countries.values())
    share = sum(bool(member.hubs) for member in community) / COMMUNITY_SIZE
    assert 0.28 <= share <= 0.42


@pytest.mark.parametrize(
    ("city", "expected"),
    [
        ("Nairobi", "yail-nairobi"),
        ("São Paulo", "yail-sao-paulo"),
        ("Port-au-Prince", "yail-port-au-prince"),
        ("Dar es Salaam", "yail-dar-es-salaam"),
        ("Yaoundé", "yail-yaounde"),
    ],
)
def test_hub_ids_are_lowercase_ascii_city_slugs(city: str, expected: str) -> None:
    assert hub_id(city) == expected


# The word lists (data/*.json) -----------------------------------------------------------------


def test_the_word_lists_refer_only_to_what_they_define() -> None:
    """Edited by hand, the files must still fit together: the name pools countries draw from
    exist, country codes are unique, and every kind has offer and seek sentences."""
    assert {pool for country in COUNTRIES for pool in country.pools} <= NAME_POOLS.keys()
    assert len({country.code for country in COUNTRIES}) == len(COUNTRIES)
    assert all(country.cities and country.universities for country in COUNTRIES)
    assert set(OFFER_TEMPLATES) == set(SEEK_TEMPLATES) == set(Kind)


# Domains and SDGs ----------------------------------------------------------------------------


def test_each_topic_tag_belongs_to_exactly_one_domain() -> None:
    owners = Counter(topic.casefold() for domain in DOMAINS for topic in domain.topics)
    assert all(count == 1 for count in owners.values())
    methods = {method.casefold() for domain in DOMAINS for method in domain.methods}
    assert not methods & owners.keys()


def test_sdgs_agree_with_the_domain_of_the_expertise(community: list[BulkProfileLine]) -> None:
    domain_of = {topic: domain for domain in DOMAINS for topic in domain.topics}
    for member in community:
        for tag in member.expertise:
            if tag in domain_of:
                assert domain_of[tag].sdgs[0] in member.sdgs


def test_agriculture_experts_work_on_hunger_climate_or_land(
    community: list[BulkProfileLine],
) -> None:
    (agriculture,) = (domain for domain in DOMAINS if domain.key == "agriculture")
    experts = [m for m in community if set(m.expertise) & set(agriculture.topics)]
    assert len(experts) > 50
    assert all({2, 13, 15} & set(member.sdgs) for member in experts)


# The market has two sides ------------------------------------------------------------------------


def test_every_kind_is_both_offered_and_sought(community: list[BulkProfileLine]) -> None:
    offered = {kind for member in community for kind in member.offers.kinds}
    sought = {kind for member in community for kind in member.seeks.kinds}
    assert offered == set(Kind)
    assert sought == set(Kind)


def test_mentors_and_investors_meet_demand(community: list[BulkProfileLine]) -> None:
    offered = Counter(kind for member in community for kind in member.offers.kinds)
    sought = Counter(kind for member in community for kind in member.seeks.kinds)
    for kind, at_least in ((Kind.MENTOR, 100), (Kind.INVESTOR, 30)):
        assert offered[kind] >= at_least
        assert sought[kind] >= at_least


def test_whatever_a_member_seeks_someone_else_offers(community: list[BulkProfileLine]) -> None:
    offerers: dict[Kind, set[str]] = defaultdict(set)
    for member in community:
        for kind in member.offers.kinds:
            offerers[kind].add(member.member_id)
    for member in community:
        for kind in member.seeks.kinds:
            assert offerers[kind] - {member.member_id}


def test_investment_is_sought_by_startups(community: list[BulkProfileLine]) -> None:
    seekers = [m for m in community if Kind.INVESTOR in m.seeks.kinds]
    assert all(m.organisation.type is OrganisationType.STARTUP for m in seekers)


@pytest.mark.parametrize("kind", list(Kind))
def test_seekers_find_offers_written_in_their_domain_vocabulary(
    community: list[BulkProfileLine], kind: Kind
) -> None:
    """Most seekers share two or more domain words (not template words) with a matching offer."""
    offers = [
        (member.member_id, _domain_words(member.offers.text))
        for member in community
        if kind in member.offers.kinds
    ]
    seekers = [member for member in community if kind in member.seeks.kinds]
    matched = sum(
        any(
            len(words & _domain_words(seeker.seeks.text)) >= 2
            for member_id, words in offers
            if member_id != seeker.member_id
        )
        for seeker in seekers
    )
    assert matched >= 0.8 * len(seekers)
