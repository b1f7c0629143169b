"""Pure ranking on hand-made 4-d unit vectors: reciprocity first, filters always, honest reasons.

Axes of the toy vector space: E0 "mentoring", E1 "being a mentee", E2 / E3 two research fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnmatch.events import MemberCard
from nnmatch.profile import Kind
from nnmatch_matching.matcher.lexical_fit import LexicalSides
from nnmatch_matching.matcher.ranking import (
    MemberView,
    Ranked,
    RankingWeights,
    Vector,
    directions,
    rank,
    reasons_for,
    reciprocal_score,
    reciprocal_scores,
)
from tests.unit.builders import E0, E1, E2, E3, card, unit

WEIGHTS = RankingWeights()


def _view(
    member_id: str, member: MemberCard, *, profile: Vector, offers: Vector, seeks: Vector
) -> MemberView:
    return MemberView(member_id, member, profile, offers, seeks)


def _mentor(member_id: str = "mentor", **fields: Any) -> MemberView:
    """Offers mentoring (E0), seeks a mentee (E1), works in field E2."""
    member = card(member_id, offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **fields)
    return _view(member_id, member, profile=E2, offers=E0, seeks=E1)


def _mentee(member_id: str = "mentee", **fields: Any) -> MemberView:
    """Offers time as a mentee (E1), seeks mentoring (E0), works in field E2."""
    member = card(member_id, offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), **fields)
    return _view(member_id, member, profile=E2, offers=E1, seeks=E0)


def _ids(ranked: list[Ranked]) -> list[str]:
    return [r.member_id for r in ranked]


@pytest.mark.parametrize(("x", "y"), [(0.2, 0.9), (0.5, 0.5), (1.0, 0.1), (0.7, 0.0)])
def test_reciprocal_score_is_symmetric(x: float, y: float) -> None:
    assert reciprocal_score(x, y) == reciprocal_score(y, x)


@pytest.mark.parametrize(("x", "y"), [(0.0, 0.9), (0.9, 0.0), (0.0, 0.0), (-0.4, 0.8)])
def test_reciprocal_score_is_zero_when_either_side_wants_nothing(x: float, y: float) -> None:
    assert reciprocal_score(x, y) == 0.0


@pytest.mark.parametrize(("x", "y"), [(0.5, 1.0), (0.2, 0.8), (1.0, 1.0), (0.3, 0.3)])
def test_reciprocal_score_is_the_harmonic_mean(x: float, y: float) -> None:
    assert reciprocal_score(x, y) == pytest.approx(2 / (1 / x + 1 / y))


def test_reciprocal_score_is_never_above_the_weaker_side_by_much() -> None:
    # Unlike an arithmetic mean (0.5), one eager side cannot carry an indifferent one.
    assert reciprocal_score(0.95, 0.05) < 0.1


def test_rank_never_returns_me_even_when_i_am_among_the_candidates() -> None:
    me = _mentor("me")
    mentee = _mentee()

    ranked = rank(me, [me, mentee], top_n=10, weights=WEIGHTS)

    assert _ids(ranked) == ["mentee"]


def test_rank_never_returns_a_hidden_member() -> None:
    me = _mentor("me")
    hidden = _mentee("hidden", discoverable=False)
    visible = _mentee("visible")

    ranked = rank(me, [hidden, visible], top_n=10, weights=WEIGHTS)

    assert _ids(ranked) == ["visible"]


def test_rank_never_returns_a_member_without_a_shared_language() -> None:
    me = _mentor("me", languages=("en", "sw"))
    french_only = _mentee("french-only", languages=("fr",))
    swahili = _mentee("swahili", languages=("sw", "fr"))

    ranked = rank(me, [french_only, swahili], top_n=10, weights=WEIGHTS)

    assert _ids(ranked) == ["swahili"]


def test_rank_of_no_eligible_candidate_is_empty() -> None:
    assert rank(_mentor("me"), [_mentee("hidden", discoverable=False)], 10, WEIGHTS) == []


def test_two_way_fit_outranks_a_one_way_fit() -> None:
    me = _view("me", card("me"), profile=E2, offers=E0, seeks=E1)
    both_ways = _view("both", card("both"), profile=E3, offers=E1, seeks=E0)
    one_way = _view("one-way", card("one-way"), profile=E3, offers=E1, seeks=E3)

    ranked = rank(me, [one_way, both_ways], top_n=10, weights=WEIGHTS)

    assert _ids(ranked) == ["both", "one-way"]
    assert ranked[0].score == pytest.approx(WEIGHTS.reciprocal)
    assert ranked[1].score == pytest.approx(0.0)


def test_two_mentors_alike_do_not_outrank_a_complementary_mentee() -> None:
    # The other mentor is my twin (identical profile vector, same SDGs): 0.25 + 0.1.
    # The mentee fits imperfectly both ways (cos 0.8 each), shares no SDG and has another
    # profile: 0.6 * 0.8 + 0.05 = 0.53. Were profile weighted like reciprocity, the twin wins.
    me = _view(
        "me",
        card("me", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), sdgs=[4, 9]),
        profile=E2,
        offers=E0,
        seeks=E1,
    )
    twin = _view(
        "twin",
        card("twin", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), sdgs=[4, 9]),
        profile=E2,
        offers=E0,
        seeks=E1,
    )
    mentee = _view(
        "mentee",
        card("mentee", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), sdgs=[5]),
        profile=E3,
        offers=unit(0, 0.8, 0, 0.6),
        seeks=unit(0.8, 0, 0, 0.6),
    )

    ranked = rank(me, [twin, mentee], top_n=10, weights=WEIGHTS)
    swapped = RankingWeights(reciprocal=WEIGHTS.profile, profile=WEIGHTS.reciprocal)
    ranked_by_likeness = rank(me, [twin, mentee], top_n=10, weights=swapped)

    assert _ids(ranked) == ["mentee", "twin"]
    assert ranked[0].score == pytest.approx(0.6 * 0.8 + 0.05, abs=1e-4)
    assert ranked[1].score == pytest.approx(0.25 + 0.1, abs=1e-4)
    assert _ids(ranked_by_likeness) == ["twin", "mentee"], "the vectors must make this a real test"


def test_rank_returns_the_best_top_n_best_first() -> None:
    me = _mentor("me")
    fits = [0.9, 0.3, 0.6, 0.1, 0.75]
    candidates = [
        _view(f"c{i}", card(f"c{i}"), profile=E3, offers=unit(0, f, 0, 1 - f), seeks=E0)
        for i, f in enumerate(fits)
    ]

    ranked = rank(me, candidates, top_n=3, weights=WEIGHTS)

    assert _ids(ranked) == ["c0", "c4", "c2"]
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_excluded_candidates_are_never_ranked_and_the_next_best_take_their_places() -> None:
    me = _mentor("me")
    fits = [0.9, 0.3, 0.6, 0.1, 0.75]
    candidates = [
        _view(f"c{i}", card(f"c{i}"), profile=E3, offers=unit(0, f, 0, 1 - f), seeks=E0)
        for i, f in enumerate(fits)
    ]

    ranked = rank(me, candidates, top_n=3, weights=WEIGHTS, excluded={"c0", "c4"})

    assert _ids(ranked) == ["c2", "c1", "c3"]


def test_excluding_everyone_ranks_no_one() -> None:
    ranked = rank(
        _mentor("me"), [_mentee("a"), _mentee("b")], top_n=5, weights=WEIGHTS, excluded={"a", "b"}
    )

    assert ranked == []


def _reasons(me: MemberCard, other: MemberCard) -> dict[str, str]:
    reasons = reasons_for(me, other)
    assert len({r.kind for r in reasons}) == len(reasons), "one reason per kind"
    return {r.kind: r.text for r in reasons}


AMINA_CARD = card(
    "Amina Yusuf",
    offers=(Kind.MENTOR,),
    seeks=(Kind.COLLABORATOR,),
    languages=("en", "sw"),
    sdgs=[2, 13],
    hubs=["yail-nairobi"],
    expertise=["computer vision"],
    country="KE",
)


def test_reasons_name_the_real_overlap() -> None:
    other = card(
        "Wanjiru Kamau",
        offers=(Kind.COLLABORATOR,),
        offers_text="Labelled cassava field data from 300 farms",
        seeks=(Kind.MENTOR,),
        languages=("sw", "en"),
        sdgs=[13, 15],
        hubs=["yail-nairobi"],
        interests=["Computer Vision"],
        country="TZ",
    )

    reasons = _reasons(AMINA_CARD, other)

    assert reasons["offer_meets_seek"] == (
        "offers collaboration on projects, which you seek: "
        "Labelled cassava field data from 300 farms"
    )
    assert reasons["seek_meets_offer"] == "seeks a mentor, which you offer"
    assert reasons["shared_topic"] == "both work on Computer Vision"
    assert reasons["shared_sdg"] == "both work on SDG 13 (Climate action)"
    assert reasons["shared_hub"] == "both in the yail-nairobi hub"
    assert reasons["shared_language"] == "both speak Swahili"
    assert "same_country" not in reasons


def test_no_shared_sdg_gives_no_shared_sdg_reason() -> None:
    other = card("Kofi", offers=(Kind.COLLABORATOR,), sdgs=[5, 16], country="GH")

    reasons = _reasons(AMINA_CARD, other)

    assert "shared_sdg" not in reasons
    assert "offer_meets_seek" in reasons


def test_strangers_get_no_reasons() -> None:
    other = card("Stranger", offers=(Kind.INVESTOR,), seeks=(Kind.EMPLOYER,), country="GH")

    assert reasons_for(AMINA_CARD, other) == []


def test_only_english_in_common_is_not_a_shared_language_reason() -> None:
    other = card("Kofi", languages=("en", "fr"), country="GH")

    assert "shared_language" not in _reasons(AMINA_CARD, other)


def test_same_country_is_a_reason_when_no_hub_is_shared() -> None:
    other = card("Otieno", country="KE")

    assert _reasons(AMINA_CARD, other) == {"same_country": "also based in KE"}


def test_ranked_candidates_carry_their_reasons() -> None:
    me = _mentor("me")

    (ranked,) = rank(me, [_mentee()], top_n=1, weights=WEIGHTS)

    assert [r.kind for r in ranked.reasons] == [
        "offer_meets_seek",
        "seek_meets_offer",
        "same_country",
    ]


# --------------------------------------------------------------------------- crafted members
# E2 is "computer vision" here: a mentor offering E0 + E2 offers mentoring in computer vision.
CV_MENTORING = unit(1, 0, 1, 0)
_MENTOR: dict[str, Vector] = {"profile": E2, "offers": E0, "seeks": E1}


def test_two_mentors_who_both_seek_mentees_are_not_matched_for_their_alike_bios() -> None:
    bio: dict[str, Any] = {
        "sdgs": [2, 13],
        "expertise": ["computer vision"],
        "offers_text": "mentoring in CV",
    }
    me = _view("me", card("me", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **bio), **_MENTOR)
    twin = _view(
        "twin", card("twin", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **bio), **_MENTOR
    )
    mentees = [
        _view(
            f"mentee-{i}",
            card(f"mentee-{i}", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,)),
            profile=E3,
            offers=unit(0, 1, 0, 0.3 + 0.1 * i),
            seeks=unit(1, 0, 0, 0.3 + 0.1 * i),
        )
        for i in range(3)
    ]

    (twin_alone,) = rank(me, [twin], top_n=1, weights=WEIGHTS)
    ranked = rank(me, [twin, *mentees], top_n=3, weights=WEIGHTS)

    # All of the twin's score is likeness (same vector, same SDGs): nothing is two-way.
    assert twin_alone.score == pytest.approx(WEIGHTS.profile + WEIGHTS.shared_sdgs, abs=1e-4)
    assert "twin" not in _ids(ranked)
    assert _ids(ranked) == ["mentee-0", "mentee-1", "mentee-2"]


def test_a_mentee_seeking_computer_vision_mentoring_ranks_the_cv_mentor_above_a_generic_one() -> (
    None
):
    mentee = _view(
        "mentee",
        card(
            "Achieng",
            offers=(Kind.MENTEE,),
            seeks=(Kind.MENTOR,),
            interests=["Computer vision"],
            seeks_text="mentoring in computer vision for crop disease detection",
        ),
        profile=E2,
        offers=E1,
        seeks=CV_MENTORING,
    )
    cv_mentor = _view(
        "cv-mentor",
        card(
            "Dr Okafor",
            offers=(Kind.MENTOR,),
            seeks=(Kind.MENTEE,),
            expertise=["computer vision"],
            offers_text="mentoring in computer vision: plant disease detection from photos",
        ),
        profile=E2,
        offers=CV_MENTORING,
        seeks=E1,
    )
    generic = _view(
        "generic",
        card(
            "Ms Banda",
            offers=(Kind.MENTOR,),
            seeks=(Kind.MENTEE,),
            expertise=["leadership"],
            offers_text="career mentoring for young professionals",
        ),
        profile=E3,
        offers=E0,
        seeks=E1,
    )
    reciprocity_only = RankingWeights(reciprocal=1.0, profile=0.0, shared_sdgs=0.0, kinds=0.0)

    ranked = rank(mentee, [generic, cv_mentor], top_n=2, weights=WEIGHTS)
    by_fit_alone = rank(mentee, [generic, cv_mentor], top_n=2, weights=reciprocity_only)

    assert _ids(ranked) == ["cv-mentor", "generic"]
    assert _ids(by_fit_alone) == ["cv-mentor", "generic"], "the offer fit alone decides it"
    cv_reasons = {r.kind: r.text for r in ranked[0].reasons}
    assert cv_reasons["offer_meets_seek"] == (
        "offers mentoring, which you seek: "
        "mentoring in computer vision: plant disease detection from photos"
    )
    assert cv_reasons["shared_topic"] == "both work on computer vision"
    generic_text = " ".join(r.text for r in ranked[1].reasons).casefold()
    assert "offers mentoring, which you seek" in generic_text
    assert "computer vision" not in generic_text, "no overlap is claimed that is not there"


def test_words_meeting_in_one_direction_only_add_no_reciprocal_fit() -> None:
    no_dense = np.zeros(2, dtype=np.float32)
    words = LexicalSides(wanted=np.asarray([0.9, 0.9]), wanting=np.asarray([0.0, 0.6]))
    kinds_fit = np.ones(2, dtype=bool)

    forward, backward = directions(
        no_dense, no_dense, RankingWeights(lexical=1.0), words, kinds_fit, kinds_fit
    )
    fit = reciprocal_scores(forward, backward)

    assert fit[0] == 0.0  # they offer what I seek in words, but want nothing I offer
    assert fit[1] == pytest.approx(reciprocal_score(0.9, 0.6))


def test_words_count_only_in_a_direction_whose_kinds_fit() -> None:
    dense = np.asarray([0.5, 0.5], dtype=np.float32)
    words = LexicalSides(wanted=np.asarray([0.8, 0.8]), wanting=np.asarray([0.8, 0.8]))
    they_offer_a_kind_i_seek = np.asarray([True, False])
    they_seek_a_kind_i_offer = np.asarray([True, True])

    forward, backward = directions(
        dense,
        dense,
        RankingWeights(lexical=1.0),
        words,
        they_offer_a_kind_i_seek,
        they_seek_a_kind_i_offer,
    )

    assert forward.tolist() == pytest.approx([1.3, 0.5])
    assert backward.tolist() == pytest.approx([1.3, 1.3])


def test_lexical_weight_zero_leaves_the_dense_fit_as_it_was() -> None:
    dense = np.asarray([0.4, -0.2], dtype=np.float32)
    words = LexicalSides(wanted=np.asarray([1.0, 1.0]), wanting=np.asarray([1.0, 1.0]))

    forward, backward = directions(dense, dense, RankingWeights(lexical=0.0), words)

    assert forward.tolist() == backward.tolist() == pytest.approx([0.4, 0.0])
