"""Regions come from UN M49 for every country profiles accept, not from the seed's table."""

from __future__ import annotations

import pycountry
import pytest

from nnmatch.profile import check_country
from nnmatch.regions import REGION_OF_COUNTRY, REGIONS, region_of
from nnmatch_tools.seed import REGIONS as SEED_REGIONS

OUTSIDE_THE_SEED = {"DZ": "Africa", "SD": "Africa", "MZ": "Africa", "AT": "Europe", "BE": "Europe"}


def test_every_country_a_profile_accepts_has_a_region_but_antarctica() -> None:
    accepted = {c.alpha_2 for c in pycountry.countries if check_country(c.alpha_2)}
    assert len(accepted) >= 249
    assert accepted - REGION_OF_COUNTRY.keys() == {"AQ"}  # M49 puts Antarctica in no region
    assert REGION_OF_COUNTRY.keys() <= accepted
    assert set(REGION_OF_COUNTRY.values()) == set(REGIONS)


@pytest.mark.parametrize(("country", "region"), sorted(OUTSIDE_THE_SEED.items()))
def test_countries_outside_the_seed_have_their_m49_region(country: str, region: str) -> None:
    assert country not in SEED_REGIONS
    assert region_of(country) == region
    assert region_of(country.lower()) == region


def test_the_seed_agrees_with_m49() -> None:
    assert {c: region_of(c) for c in SEED_REGIONS} == SEED_REGIONS
    assert region_of("AQ") is None
    assert region_of(None) is None
    assert region_of("XX") is None
