"""Ranking as the matcher serves it (`MatchEngine.matches_for`) on hand-made 4-d unit vectors:
reciprocity first, filters always, honest reasons, and scores as the logistic of a blend of
calibrated signals (each counted in spreads above its mean, `ranking.Calibration`).

Axes of the toy vector space: E0 "mentoring", E1 "being a mentee", E2 / E3 two research fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from nnmatch.events import FeedbackAction, MemberCard, ProfileVectorsComputed, Suggestion
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.ranking import (
    LOGISTIC_SCALE,
    PROFILE_CALIBRATION,
    RECIPROCAL_CALIBRATION,
    Calibration,
    RankingWeights,
    blend_of,
    shares_any,
    shown_score,
    words_z,
)
from tests.unit.builders import E0, E1, E2, E3, Vector, card, unit, vectors_event

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
# The offers↔seeks fit is off by default (RECIPROCAL_WEIGHT); these lists turn it on.
WEIGHTS = RankingWeights(reciprocal=0.25)
# The two-way fit alone, dense only: a suggestion's blend is then the calibrated harmonic mean.
RECIPROCAL_ONLY = RankingWeights(
    reciprocal=1.0,
    lexical=0.0,
    profile=0.0,
    connections=0.0,
    shared_sdgs=0.0,
    kinds=0.0,
    cross_region_boost=0.0,
)
# Shown scores are rounded to 4 decimals (±5e-5); read back through the logistic that error
# grows by LOGISTIC_SCALE / (s (1 - s)) (×~30 at s = 0.93) and by a calibration's spread:
# 1e-4 cannot hold for a value read back from a score, 5e-4 does for the scores used here.
READ_BACK = 5e-4


def _member(
    member_id: str, member: MemberCard, *, profile: Vector, offers: Vector, seeks: Vector
) -> ProfileVectorsComputed:
    return vectors_event(member_id, member, profile=profile, offers=offers, seeks=seeks)


def _mentor(member_id: str = "mentor", **fields: Any) -> ProfileVectorsComputed:
    """Offers mentoring (E0), seeks a mentee (E1), works in field E2."""
    member = card(member_id, offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **fields)
    return _member(member_id, member, profile=E2, offers=E0, seeks=E1)


def _mentee(member_id: str = "mentee", **fields: Any) -> ProfileVectorsComputed:
    """Offers time as a mentee (E1), seeks mentoring (E0), works in field E2."""
    member = card(member_id, offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), **fields)
    return _member(member_id, member, profile=E2, offers=E1, seeks=E0)


def _engine(
    *members: ProfileVectorsComputed, weights: RankingWeights = WEIGHTS, top_n: int = 10
) -> MatchEngine:
    engine = MatchEngine(dimensions=4, top_n=top_n, weights=weights)
    for offset, event in enumerate(members):
        engine.apply(event, LogPosition(0, offset))
    return engine


def _list(
    me: ProfileVectorsComputed,
    *candidates: ProfileVectorsComputed,
    weights: RankingWeights = WEIGHTS,
    top_n: int = 10,
    dismissed: Iterable[str] = (),
) -> list[Suggestion]:
    """`me`'s list as the matcher serves it, after `me` dismissed `dismissed`."""
    engine = _engine(me, *candidates, weights=weights, top_n=top_n)
    for other in dismissed:
        engine.record_feedback(me.member_id, other, FeedbackAction.DISMISS)
    return engine.matches_for([me.member_id], NOW)[me.member_id]


def _ids(listed: list[Suggestion]) -> list[str]:
    return [s.member_id for s in listed]


def _z(calibration: Calibration, value: float) -> float:
    return (value - calibration.mean) / calibration.spread


def _blend(
    *,
    harmonic: float,
    profile: float,
    words: float | None = None,
    sdgs: float = 0.0,
    kinds: float = 0.0,
    weights: RankingWeights = WEIGHTS,
) -> float:
    """The blend of a pair (both with offers/seeks vectors, no connections) from its raw
    signals: the two-way harmonic mean, the profile cosine, the whole-profile symmetric BM25
    (None: a profile without words, which reads as sharing none), the SDGs' Jaccard and the
    kinds fit."""
    return (
        weights.reciprocal * _z(RECIPROCAL_CALIBRATION, harmonic)
        + weights.profile * _z(PROFILE_CALIBRATION, profile)
        + weights.lexical * float(words_z(words if words is not None else 0.0))
        + weights.shared_sdgs * sdgs
        + weights.kinds * kinds
    )


SHOWN_WITHIN = 3e-4
"""How near a shown score is to the one its raw signals give: it is rounded to 4 decimals,
and the engine holds vectors on the exact grid (`exact_dots`), which moves the unit vectors
built here, and so their cosines, by up to 2.4e-4."""


def _shown(blend: float) -> float:
    """The score shown for a pair whose blend of signals is `blend` (no shaping)."""
    return shown_score(math.exp(blend / LOGISTIC_SCALE))


# --------------------------------------------------------------------------- the two-way fit


def _fitting(
    member_id: str, they_offer_what_i_seek: float, they_seek_what_i_offer: float
) -> ProfileVectorsComputed:
    """A candidate whose offers have cosine x with my seeks (E0) and seeks y with my offers."""
    x, y = they_offer_what_i_seek, they_seek_what_i_offer
    offers = unit(x, 0, math.sqrt(1 - x * x), 0)
    seeks = unit(0, y, 0, math.sqrt(1 - y * y))
    return _member(member_id, card(member_id), profile=E3, offers=offers, seeks=seeks)


def _me_seeking_e0() -> ProfileVectorsComputed:
    return _member("me", card("me"), profile=E2, offers=E1, seeks=E0)


def _score(x: float, y: float) -> float:
    (listed,) = _list(_me_seeking_e0(), _fitting("them", x, y), weights=RECIPROCAL_ONLY)
    return listed.score


def _reciprocal(x: float, y: float) -> float:
    """The two-way fit read back from the shown score (the reciprocal weight alone counts)."""
    calibration = RECIPROCAL_CALIBRATION
    return (
        calibration.mean + calibration.spread * blend_of(_score(x, y)) / RECIPROCAL_ONLY.reciprocal
    )


@pytest.mark.parametrize(("x", "y"), [(0.5, 1.0), (0.2, 0.8), (1.0, 1.0), (0.3, 0.3)])
def test_the_two_way_fit_is_the_harmonic_mean_of_both_directions(x: float, y: float) -> None:
    assert _reciprocal(x, y) == pytest.approx(2 / (1 / x + 1 / y), abs=READ_BACK)


@pytest.mark.parametrize(("x", "y"), [(0.2, 0.9), (0.5, 0.5), (1.0, 0.1), (0.7, 0.0)])
def test_the_two_way_fit_is_symmetric(x: float, y: float) -> None:
    assert _score(x, y) == _score(y, x)


def test_a_pair_scores_the_same_from_either_side() -> None:
    engine = _engine(_me_seeking_e0(), _fitting("them", 0.9, 0.4))

    lists = engine.matches_for(["me", "them"], NOW)

    assert lists["me"][0].score == lists["them"][0].score > 0


@pytest.mark.parametrize(("x", "y"), [(0.0, 0.9), (0.9, 0.0), (0.0, 0.0), (-0.4, 0.8)])
def test_the_two_way_fit_is_zero_when_either_side_wants_nothing(x: float, y: float) -> None:
    # A fit of 0 sits `mean / spread` spreads below the average pair.
    assert _score(x, y) == pytest.approx(
        _shown(_blend(harmonic=0.0, profile=0.0, weights=RECIPROCAL_ONLY)), abs=SHOWN_WITHIN
    )
    assert _reciprocal(x, y) == pytest.approx(0.0, abs=READ_BACK)


def test_one_eager_side_cannot_carry_an_indifferent_one() -> None:
    # Unlike an arithmetic mean (0.5).
    assert _reciprocal(0.95, 0.05) < 0.1


# --------------------------------------------------------------------------- filters


def test_i_am_never_in_my_own_list() -> None:
    assert _ids(_list(_mentor("me"), _mentee())) == ["mentee"]


def test_a_hidden_member_is_never_listed() -> None:
    listed = _list(_mentor("me"), _mentee("hidden", discoverable=False), _mentee("visible"))

    assert _ids(listed) == ["visible"]


def test_a_member_without_a_shared_language_is_never_listed() -> None:
    me = _mentor("me", languages=("en", "sw"))
    french_only = _mentee("french-only", languages=("fr",))
    swahili = _mentee("swahili", languages=("sw", "fr"))

    assert _ids(_list(me, french_only, swahili)) == ["swahili"]


def test_with_no_eligible_candidate_the_list_is_empty() -> None:
    assert _list(_mentor("me"), _mentee("hidden", discoverable=False)) == []


def test_dismissed_candidates_are_never_listed_and_the_next_best_take_their_places() -> None:
    fits = [0.9, 0.3, 0.6, 0.1, 0.75]
    candidates = [_fitting(f"c{i}", f, 1.0) for i, f in enumerate(fits)]

    listed = _list(_me_seeking_e0(), *candidates, top_n=3, dismissed=["c0", "c4"])

    assert _ids(listed) == ["c2", "c1", "c3"]


def test_dismissing_everyone_lists_no_one() -> None:
    listed = _list(_mentor("me"), _mentee("a"), _mentee("b"), dismissed=["a", "b"])

    assert listed == []


# --------------------------------------------------------------------------- order and scores


def test_two_way_fit_outranks_a_one_way_fit() -> None:
    me = _member("me", card("me"), profile=E2, offers=E0, seeks=E1)
    both_ways = _member("both", card("both"), profile=E3, offers=E1, seeks=E0)
    one_way = _member("one-way", card("one-way"), profile=E3, offers=E1, seeks=E3)

    listed = _list(me, one_way, both_ways)

    assert _ids(listed) == ["both", "one-way"]
    # Both have other profiles (cosine 0) and no words; only the two-way fit differs.
    both_ways_blend = _blend(harmonic=1.0, profile=0.0)
    one_way_blend = _blend(harmonic=0.0, profile=0.0)
    assert listed[0].score == pytest.approx(_shown(both_ways_blend), abs=SHOWN_WITHIN)
    assert listed[1].score == pytest.approx(_shown(one_way_blend), abs=SHOWN_WITHIN)


def test_two_mentors_alike_do_not_outrank_a_complementary_mentee() -> None:
    # The other mentor is much like me (profile cosine 0.8, same SDGs) but wants what I want:
    # no two-way fit. The mentee fits imperfectly both ways (cos 0.8 each), shares no SDG and
    # has a profile of average likeness (cosine 0.5). Without the two-way and kinds fits, the
    # mentor wins.
    me = _mentor("me", sdgs=[4, 9])
    alike = _member(
        "alike",
        card("alike", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), sdgs=[4, 9]),
        profile=unit(0, 0, 0.8, 0.6),
        offers=E0,
        seeks=E1,
    )
    mentee = _member(
        "mentee",
        card("mentee", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), sdgs=[5]),
        profile=unit(0, 0, 0.5, math.sqrt(0.75)),
        offers=unit(0, 0.8, 0, 0.6),
        seeks=unit(0.8, 0, 0, 0.6),
    )
    likeness_only = RankingWeights(reciprocal=0.0, kinds=0.0)

    listed = _list(me, alike, mentee)
    listed_by_likeness = _list(me, alike, mentee, weights=likeness_only)

    assert _ids(listed) == ["mentee", "alike"]
    mentee_blend = _blend(harmonic=0.8, profile=0.5, kinds=1.0)
    alike_blend = _blend(harmonic=0.0, profile=0.8, sdgs=1.0)
    assert listed[0].score == pytest.approx(_shown(mentee_blend), abs=SHOWN_WITHIN)
    assert listed[1].score == pytest.approx(_shown(alike_blend), abs=SHOWN_WITHIN)
    assert _ids(listed_by_likeness) == ["alike", "mentee"], "the vectors must make this a real test"


def test_the_list_is_the_best_top_n_best_first() -> None:
    fits = [0.9, 0.3, 0.6, 0.1, 0.75]
    candidates = [_fitting(f"c{i}", f, 1.0) for i, f in enumerate(fits)]

    listed = _list(_me_seeking_e0(), *candidates, top_n=3)

    assert _ids(listed) == ["c0", "c4", "c2"]
    assert [s.score for s in listed] == sorted((s.score for s in listed), reverse=True)


def test_equal_scores_are_listed_by_member_id() -> None:
    listed = _list(_mentor("me"), _mentee("b"), _mentee("c"), _mentee("a"))

    assert _ids(listed) == ["a", "b", "c"]
    assert len({s.score for s in listed}) == 1


def test_a_pair_perfect_on_every_signal_tops_the_list_and_no_score_leaves_zero_to_one() -> None:
    # Same profile and SDGs, kinds and words that fit both ways, in other countries and hubs.
    me = _mentor("me", sdgs=[2, 13], offers_text="cassava mentoring", seeks_text="leaf images")
    perfect = _mentee(
        "perfect",
        sdgs=[2, 13],
        country="GH",
        offers_text="leaf images",
        seeks_text="cassava mentoring",
    )
    others = [_fitting(f"c{i}", f, 1.0 - f) for i, f in enumerate([0.2, 0.5, 0.9])]

    listed = _list(me, perfect, *others, _mentee("mentee"), _mentor("twin", sdgs=[2, 13]))

    assert _ids(listed)[0] == "perfect"
    assert all(0.0 < s.score <= 1.0 for s in listed)
    assert listed[0].score == max(s.score for s in listed)
    assert listed[1].score < listed[0].score


# --------------------------------------------------------------------------- reasons


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
NO_BOOST = RankingWeights(reciprocal=0.25, cross_region_boost=0.0)


def _reasons(
    me: MemberCard, other: MemberCard, weights: RankingWeights = WEIGHTS
) -> dict[str, str]:
    """The reasons `me`'s list gives for `other`, one per kind."""
    (listed,) = _list(
        _member("me", me, profile=E2, offers=E0, seeks=E1),
        _member("other", other, profile=E2, offers=E1, seeks=E0),
        weights=weights,
    )
    assert len({r.kind for r in listed.reasons}) == len(listed.reasons), "one reason per kind"
    return {r.kind: r.text for r in listed.reasons}


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
    assert "cross_region" not in reasons, "a shared hub is not across regions"


def test_no_shared_sdg_gives_no_shared_sdg_reason() -> None:
    other = card("Kofi", offers=(Kind.COLLABORATOR,), sdgs=[5, 16], country="GH")

    reasons = _reasons(AMINA_CARD, other)

    assert "shared_sdg" not in reasons
    assert "offer_meets_seek" in reasons


def test_strangers_get_no_reasons_but_that_they_connect_across_countries() -> None:
    other = card("Stranger", offers=(Kind.INVESTOR,), seeks=(Kind.EMPLOYER,), country="GH")

    assert _reasons(AMINA_CARD, other, NO_BOOST) == {}
    assert _reasons(AMINA_CARD, other) == {"cross_region": "connects across countries: based in GH"}


def test_only_english_in_common_is_not_a_shared_language_reason() -> None:
    other = card("Kofi", languages=("en", "fr"), country="GH")

    assert "shared_language" not in _reasons(AMINA_CARD, other)


def test_same_country_is_a_reason_when_no_hub_is_shared() -> None:
    other = card("Otieno", country="KE")

    assert _reasons(AMINA_CARD, other) == {"same_country": "also based in KE"}


def test_listed_candidates_carry_their_reasons() -> None:
    (listed,) = _list(_mentor("me"), _mentee())

    assert [r.kind for r in listed.reasons] == [
        "offer_meets_seek",
        "seek_meets_offer",
        "same_country",
    ]


def test_listed_suggestions_are_what_validation_would_build() -> None:
    """The engine builds suggestions without validating them again (`_suggestions`)."""
    suggestions = _list(_mentor("me"), _mentee(), _mentee("mentee-2"))
    assert len(suggestions) == 2

    for listed in suggestions:
        assert type(listed.score) is float
        assert type(listed.member_id) is str
        assert Suggestion.model_validate(listed.model_dump()) == listed
        assert Suggestion.model_validate_json(listed.model_dump_json()) == listed


# --------------------------------------------------------------------------- crafted members
# E2 is "computer vision" here: a mentor offering E0 + E2 offers mentoring in computer vision.
CV_MENTORING = unit(1, 0, 1, 0)


def test_two_mentors_who_both_seek_mentees_get_no_two_way_fit_from_their_alike_words() -> None:
    # Each seeks mentees in what the other mentors in: their words meet both ways. Their
    # whole profiles (bios) share no word, so word likeness stays out of the score.
    bio: dict[str, Any] = {
        "sdgs": [2, 13],
        "expertise": ["computer vision"],
        "offers_text": "mentoring in computer vision",
        "seeks_text": "mentees in computer vision",
    }
    me, twin = (
        vectors_event(
            member_id,
            card(member_id, offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **bio),
            profile=E2,
            offers=E0,
            seeks=E1,
            terms={city: 1},
        )
        for member_id, city in (("me", "nairobi"), ("twin", "lagos"))
    )
    others = [  # other words, so that computer vision is a rare topic
        _member(
            f"o{i}", card(f"o{i}", offers_text=o, seeks_text=s), profile=E3, offers=E3, seeks=E3
        )
        for i, (o, s) in enumerate([("fintech payments", "investors"), ("soil data", "funding")])
    ]
    engine = _engine(me, twin, *others, top_n=1)

    (listed,) = engine.matches_for(["me"], NOW)["me"]

    assert engine.lexical is not None
    [fit] = engine.lexical.fits(["me"])
    words = engine.lexical.sides(fit, ["twin"])
    assert words.wanted is not None
    assert words.wanting is not None
    assert words.wanted[0] > 0.3
    assert words.wanting[0] > 0.3
    assert words.likeness[0] == 0.0
    # Neither offers a kind the other seeks: no two-way fit, from vectors or words; all of the
    # twin's score is likeness (same profile vector, same SDGs; whole profiles with no word in
    # common).
    assert listed.member_id == "twin"
    expected = _blend(harmonic=0.0, profile=1.0, sdgs=1.0, words=0.0)
    assert listed.score == pytest.approx(_shown(expected), abs=SHOWN_WITHIN)
    if_words_fit = _blend(harmonic=float(words.wanted[0]), profile=1.0, sdgs=1.0, words=0.0)
    assert _shown(if_words_fit) - listed.score > 0.05, "the words must make this a real test"


def test_a_mentee_seeking_computer_vision_mentoring_ranks_the_cv_mentor_above_a_generic_one() -> (
    None
):
    mentee = _member(
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
    cv_mentor = _member(
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
    generic = _member(
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
    dense_offer_fit_only = RankingWeights(
        reciprocal=1.0, lexical=0.0, profile=0.0, shared_sdgs=0.0, kinds=0.0
    )

    listed = _list(mentee, generic, cv_mentor)
    by_fit_alone = _list(mentee, generic, cv_mentor, weights=dense_offer_fit_only)

    assert _ids(listed) == ["cv-mentor", "generic"]
    assert _ids(by_fit_alone) == ["cv-mentor", "generic"], "the offer fit alone decides it"
    cv_reasons = {r.kind: r.text for r in listed[0].reasons}
    assert cv_reasons["offer_meets_seek"] == (
        "offers mentoring, which you seek: "
        "mentoring in computer vision: plant disease detection from photos"
    )
    assert cv_reasons["shared_topic"] == "both work on computer vision"
    generic_text = " ".join(r.text for r in listed[1].reasons).casefold()
    assert "offers mentoring, which you seek" in generic_text
    assert "computer vision" not in generic_text, "no overlap is claimed that is not there"


@pytest.mark.parametrize("words", [1, 2, 3])
def test_shares_any_is_any_shared_bit_over_every_word(words: int) -> None:
    """The word-by-word check equals the plain 2-D AND reduced per row, with words that
    hold no bit of mine (skipped) and rows sharing a bit only in a later word."""
    rng = np.random.default_rng(words)
    masks = rng.integers(0, 1 << 8, size=(400, words), dtype=np.uint64)
    for _ in range(30):
        mine = rng.integers(0, 1 << 8, size=words, dtype=np.uint64)
        mine *= rng.integers(0, 2, size=words).astype(np.uint64)
        expected = np.bitwise_and(masks, mine).any(axis=1)
        assert (shares_any(masks, mine) == expected).all()
        assert expected.any() == bool(mine.any())
