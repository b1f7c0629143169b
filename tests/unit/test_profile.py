"""The member profile: what is valid, and the normal form every consumer sees."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nnmatch.events import MemberCard
from nnmatch.profile import (
    MAX_BIO,
    MAX_DISPLAY_NAME,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MEMBER_ID_PATTERN,
    BulkProfileLine,
    InvalidMemberId,
    MemberProfile,
    OrganisationType,
    check_member_id,
)
from tests.unit.builders import AMINA, amina


def _refusal(**overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        amina(**overrides)
    return caught.value


def _fields(error: ValidationError) -> set[str]:
    return {str(e["loc"][0]) for e in error.errors()}


def test_contract_example_profile_is_valid_and_kept_as_written() -> None:
    profile = MemberProfile.model_validate(AMINA)

    assert profile.model_dump(mode="json") == AMINA


def test_decomposed_accent_becomes_composed_and_text_is_trimmed() -> None:
    profile = amina(display_name="  Rene\u0301e Okafor \n", headline="\tCafe\u0301 owner  ")

    assert profile.display_name == "Ren\u00e9e Okafor"
    assert profile.headline == "Caf\u00e9 owner"


def test_control_characters_are_dropped_but_newlines_are_kept() -> None:
    profile = amina(display_name="Amina\x00 Yu\x1bsuf", bio="First line.\x07\nSecond\x7f line.")

    assert profile.display_name == "Amina Yusuf"
    assert profile.bio == "First line.\nSecond line."


def test_tags_are_deduplicated_case_insensitively_keeping_the_first_spelling() -> None:
    profile = amina(
        expertise=["Computer Vision", "computer vision", "  COMPUTER   VISION ", "AgriTech", " "],
        interests=["Food security", "food SECURITY"],
    )

    assert profile.expertise == ["Computer Vision", "AgriTech"]
    assert profile.interests == ["Food security"]


def test_duplicate_tags_do_not_count_against_the_tag_limit() -> None:
    profile = amina(expertise=["agritech"] * (MAX_TAGS + 5))

    assert profile.expertise == ["agritech"]


def test_sdgs_languages_and_hubs_are_deduplicated_and_sdgs_sorted() -> None:
    profile = amina(sdgs=[13, 2, 13], languages=["sw", "en", "sw"], hubs=["a", "b", "a"])

    assert profile.sdgs == [2, 13]
    assert profile.languages == ["sw", "en"]
    assert profile.hubs == ["a", "b"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("bio", "x" * (MAX_BIO + 1), id="bio-too-long"),
        pytest.param("display_name", "x" * (MAX_DISPLAY_NAME + 1), id="name-too-long"),
        pytest.param("display_name", " \t\n ", id="blank-name"),
        pytest.param("display_name", "\x00\x01", id="name-of-control-chars"),
        pytest.param("expertise", [f"topic {i}" for i in range(MAX_TAGS + 1)], id="many-tags"),
        pytest.param("interests", ["x" * (MAX_TAG_LENGTH + 1)], id="tag-too-long"),
        pytest.param("sdgs", [0], id="sdg-0"),
        pytest.param("sdgs", [18], id="sdg-18"),
        pytest.param("country", "XX", id="country-XX"),
        pytest.param("languages", ["xx"], id="language-xx"),
        pytest.param("languages", [], id="no-languages"),
        pytest.param("hubs", ["yail nairobi"], id="hub-with-space"),
        pytest.param("hubs", ["h" * 65], id="hub-too-long"),
        pytest.param("offers", {"kinds": ["wizard"]}, id="unknown-kind"),
        pytest.param("organisation", {"name": "X", "type": "club"}, id="unknown-org-type"),
        pytest.param("favourite_colour", "blue", id="unknown-field"),
        pytest.param("visibility", {"discoverable": True, "public": True}, id="unknown-nested"),
    ],
)
def test_profile_outside_the_limits_is_refused_naming_the_field(field: str, value: Any) -> None:
    error = _refusal(**{field: value})

    assert _fields(error) == {field}


def test_missing_required_fields_are_each_named() -> None:
    with pytest.raises(ValidationError) as caught:
        MemberProfile.model_validate({"headline": "only a headline"})

    assert _fields(caught.value) == {"display_name", "country", "languages"}


def test_blocked_country_code_is_refused_with_the_standard_named() -> None:
    error = _refusal(country="XX")

    assert "ISO 3166-1 alpha-2" in str(error)


def test_unknown_language_code_is_refused_with_the_standard_named() -> None:
    error = _refusal(languages=["en", "xx"])

    assert "ISO 639-1" in str(error)
    assert error.errors()[0]["loc"] == ("languages", 1)


def test_country_and_language_codes_are_case_normalised() -> None:
    profile = amina(country=" ke", languages=["EN", "Sw", "en"])

    assert profile.country == "KE"
    assert profile.languages == ["en", "sw"]


@pytest.mark.parametrize("member_id", ["m-0042", "a", "A_b-9", "x" * 64])
def test_valid_member_id_is_returned_unchanged(member_id: str) -> None:
    assert check_member_id(member_id) == member_id


@pytest.mark.parametrize("member_id", ["", "m 1", "m/1", "m.1", "Am\u00edna", "x" * 65, "m-1\n"])
def test_invalid_member_id_is_refused_naming_the_rule(member_id: str) -> None:
    with pytest.raises(InvalidMemberId) as caught:
        check_member_id(member_id)

    assert MEMBER_ID_PATTERN in str(caught.value)


def test_bulk_line_profile_drops_the_member_id() -> None:
    line = BulkProfileLine.model_validate(AMINA | {"member_id": "m-0007"})

    profile = line.profile()

    assert type(profile) is MemberProfile
    assert "member_id" not in profile.model_dump()
    assert profile == MemberProfile.model_validate(AMINA)
    assert line.member_id == "m-0007"


def test_bulk_line_without_a_valid_member_id_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        BulkProfileLine.model_validate(AMINA | {"member_id": "not valid!"})

    assert _fields(caught.value) == {"member_id"}


def test_member_card_shows_the_organisation_when_the_member_allows() -> None:
    member_card = MemberCard.from_profile(amina())

    assert member_card.organisation_name == "University of Nairobi"
    assert member_card.organisation_type is OrganisationType.ACADEMIA


def test_member_card_hides_the_organisation_when_show_organisation_is_false() -> None:
    profile = amina(visibility={"discoverable": True, "show_organisation": False})

    member_card = MemberCard.from_profile(profile)

    assert member_card.organisation_name is None
    assert member_card.organisation_type is None
    assert "University of Nairobi" not in member_card.model_dump_json()


def test_member_card_never_contains_the_bio() -> None:
    bio = "Private paragraph about my family that only the profile page shows."
    member_card = MemberCard.from_profile(amina(bio=bio))

    assert "bio" not in MemberCard.model_fields
    assert bio not in member_card.model_dump_json()
    assert "Private paragraph" not in member_card.model_dump_json()


def test_member_card_carries_what_matching_needs() -> None:
    profile = amina(visibility={"discoverable": False, "show_organisation": True})

    member_card = MemberCard.from_profile(profile)

    assert member_card.discoverable is False
    assert member_card.display_name == "Amina Yusuf"
    assert member_card.offers_kinds == profile.offers.kinds
    assert member_card.seeks_text == profile.seeks.text
    assert member_card.languages == ["en", "sw"]
    assert member_card.hubs == ["yail-nairobi"]
