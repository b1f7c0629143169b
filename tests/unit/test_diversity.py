"""Shaping a member's list beyond fit: organisation/country diversity, the exposure cap and the
cross-region boost, as the matcher serves lists (`MatchEngine.matches_for`) on crafted 4-d members.

Axes: E0 "mentoring", E1 "being a mentee", E2 / E3 two research fields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from nnmatch.events import ProfileVectorsComputed, Suggestion
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.factory import build_engine
from nnmatch_matching.matcher.ranking import RankingWeights, shown_score
from nnmatch_matching.settings import MatchingSettings
from tests.unit.builders import E0, E1, E2, E3, card, unit, vectors_event

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
# These candidates differ by the offers↔seeks fit, which is off by default (see
# RECIPROCAL_WEIGHT): every list here turns it on, and then tests the list's shaping.
FIT = 0.25
DEFAULTS = RankingWeights(reciprocal=FIT)
# Only the fit: no diversity, no boost, no cap.
FIT_ONLY = RankingWeights(
    reciprocal=FIT,
    cross_region_boost=0.0,
    organisation_penalty=0.0,
    country_penalty=0.0,
    exposure_cap=0,
)
# The defaults without diversity: the same best possible pair, so shown scores compare.
NO_DIVERSITY = RankingWeights(reciprocal=FIT, organisation_penalty=0.0, country_penalty=0.0)


def _me(**fields: Any) -> ProfileVectorsComputed:
    """A member who offers mentoring (E0), seeks a mentee (E1) and works in field E2."""
    return vectors_event("me", card("me", **fields), profile=E2, offers=E0, seeks=E1)


def _mentee(member_id: str, fit: float, **fields: Any) -> ProfileVectorsComputed:
    """A mentee whose offer matches my seek with cosine `fit`; seeks exactly what I offer."""
    offers = unit(0, fit, 0, math.sqrt(1 - fit * fit))
    return vectors_event(member_id, card(member_id, **fields), profile=E3, offers=offers, seeks=E0)


def _engine(events: list[ProfileVectorsComputed], **options: Any) -> MatchEngine:
    engine = MatchEngine(dimensions=4, **options)
    for offset, event in enumerate(events):
        engine.apply(event, LogPosition(0, offset))
    return engine


def _list(
    me: ProfileVectorsComputed,
    candidates: list[ProfileVectorsComputed],
    top_n: int,
    weights: RankingWeights,
) -> list[Suggestion]:
    """`me`'s list as the matcher serves it."""
    return _engine([me, *candidates], top_n=top_n, weights=weights).matches_for(["me"], NOW)["me"]


def _ids(listed: list[Suggestion]) -> list[str]:
    return [s.member_id for s in listed]


def _scores(listed: list[Suggestion]) -> dict[str, float]:
    return {s.member_id: s.score for s in listed}


def _times(score: float, factor: float) -> float:
    """The score shown once a shown `score`'s odds are multiplied by `factor` (shaping)."""
    return shown_score(factor * score / (1.0 - score))


# Both scores compared are rounded to 4 decimals (±5e-5 each) and the odds map passes the
# rounding of the one multiplied on at most about as large: 1e-4 cannot hold, 2e-4 does.
ROUNDED = 2e-4


# --------------------------------------------------------------------------- organisation


def _acme_and_others() -> list[ProfileVectorsComputed]:
    acme = [_mentee(f"acme-{i}", 0.95 - 0.01 * i, organisation_name="Acme Ltd") for i in range(6)]
    others = [
        _mentee(f"other-{i}", 0.85 - 0.01 * i, organisation_name=f"Org {i}") for i in range(3)
    ]
    return acme + others


def test_one_organisation_does_not_fill_the_list_when_others_fit_nearly_as_well() -> None:
    candidates = _acme_and_others()

    by_fit = _list(_me(), candidates, top_n=5, weights=FIT_ONLY)
    diverse = _list(_me(), candidates, top_n=5, weights=DEFAULTS)

    assert _ids(by_fit) == [f"acme-{i}" for i in range(5)], "the fit alone favours one organisation"
    assert _ids(diverse) == ["acme-0", "acme-1", "other-0", "other-1", "other-2"]


def test_the_first_picks_of_an_organisation_keep_their_full_score() -> None:
    candidates = _acme_and_others()

    organisation_only = RankingWeights(
        reciprocal=FIT, country_penalty=0.0
    )  # all are in my country, KE
    by_fit = _scores(_list(_me(), candidates, 9, NO_DIVERSITY))
    diverse = _list(_me(), candidates, top_n=9, weights=organisation_only)

    scores = _scores(diverse)
    assert scores["acme-0"] == by_fit["acme-0"]
    assert scores["acme-1"] == by_fit["acme-1"]
    # The third from Acme comes after the others, its odds lowered once by the penalty
    # (1 - 0.2), the fourth's twice.
    assert _ids(diverse)[5] == "acme-2"
    assert scores["acme-2"] == pytest.approx(_times(by_fit["acme-2"], 0.8), abs=ROUNDED)
    assert scores["acme-3"] == pytest.approx(_times(by_fit["acme-3"], 0.8**2), abs=ROUNDED)
    assert scores["acme-2"] < by_fit["acme-2"] - 0.01


def test_scores_come_out_best_first_and_never_above_the_fit() -> None:
    candidates = _acme_and_others()
    by_fit = _scores(_list(_me(), candidates, 9, NO_DIVERSITY))

    diverse = _list(_me(), candidates, top_n=9, weights=DEFAULTS)

    scores = [s.score for s in diverse]
    assert scores == sorted(scores, reverse=True)
    assert all(s.score <= by_fit[s.member_id] for s in diverse)
    assert sorted(_ids(diverse)) == sorted(by_fit), "diversity reorders, it never drops anyone"


def test_with_no_one_else_the_list_still_fills_from_one_organisation() -> None:
    acme = [_mentee(f"acme-{i}", 0.95 - 0.05 * i, organisation_name="Acme Ltd") for i in range(4)]

    listed = _list(_me(), acme, top_n=4, weights=DEFAULTS)

    assert _ids(listed) == ["acme-0", "acme-1", "acme-2", "acme-3"]
    assert all(s.score > 0 for s in listed)


def test_organisation_names_group_regardless_of_case_and_spacing() -> None:
    spellings = ["Acme Ltd", "ACME ltd", " acme  Ltd "]
    acme = [
        _mentee(f"acme-{i}", 0.95 - 0.01 * i, organisation_name=name)
        for i, name in enumerate(spellings)
    ]
    other = _mentee("other", 0.85, organisation_name="Beta")

    listed = _list(_me(), [*acme, other], top_n=3, weights=DEFAULTS)

    assert _ids(listed) == ["acme-0", "acme-1", "other"]


def test_members_who_show_no_organisation_are_never_grouped_together() -> None:
    unnamed = [_mentee(f"m{i}", 0.95 - 0.01 * i) for i in range(4)]
    other = _mentee("other", 0.85, organisation_name="Beta")

    listed = _list(_me(), [*unnamed, other], top_n=4, weights=DEFAULTS)

    assert _ids(listed) == ["m0", "m1", "m2", "m3"]


# --------------------------------------------------------------------------- country


def test_one_country_does_not_fill_the_list_past_its_allowance() -> None:
    weights = RankingWeights(reciprocal=FIT, cross_region_boost=0.0)  # the country rule alone
    kenyans = [_mentee(f"ke-{i}", 0.95 - 0.005 * i, country="KE") for i in range(8)]
    ghanaians = [_mentee(f"gh-{i}", 0.9 - 0.005 * i, country="GH") for i in range(3)]

    by_fit = _list(_me(), kenyans + ghanaians, top_n=8, weights=FIT_ONLY)
    diverse = _list(_me(), kenyans + ghanaians, top_n=8, weights=weights)

    assert [s.member_id[:2] for s in by_fit] == ["ke"] * 8
    assert _ids(diverse)[:5] == [f"ke-{i}" for i in range(5)], "the allowance is free"
    assert {"gh-0", "gh-1", "gh-2"} <= set(_ids(diverse))


def test_without_penalties_the_order_is_the_fit_order() -> None:
    candidates = [*_acme_and_others(), _mentee("gh", 0.5, country="GH")]

    listed = _list(_me(), candidates, top_n=10, weights=NO_DIVERSITY)

    assert _ids(listed) == _ids(_list(_me(), candidates, top_n=10, weights=FIT_ONLY))


# --------------------------------------------------------------------------- cross-region boost


def test_a_pair_across_countries_and_hubs_gets_the_boost_and_says_so() -> None:
    me = _me(country="KE", hubs=["yail-nairobi"])
    near = _mentee("near", 0.9, country="KE")
    far = _mentee("far", 0.9, country="GH", hubs=["yail-accra"])

    listed = _list(me, [near, far], top_n=2, weights=DEFAULTS)

    assert _ids(listed) == ["far", "near"]
    assert listed[0].score == pytest.approx(_times(listed[1].score, 1.05), abs=ROUNDED)
    assert listed[0].score > listed[1].score + 0.005
    far_reasons = {r.kind: r.text for r in listed[0].reasons}
    assert far_reasons["cross_region"] == "connects across countries and hubs: based in GH"
    assert "cross_region" not in {r.kind for r in listed[1].reasons}


def test_a_shared_hub_across_countries_gets_no_boost_and_names_the_hub() -> None:
    me = _me(country="KE", hubs=["yail-east-africa"])
    same_hub = _mentee("same-hub", 0.9, country="TZ", hubs=["yail-east-africa"])
    near = _mentee("near", 0.9, country="KE")

    listed = _list(me, [near, same_hub], top_n=2, weights=DEFAULTS)

    assert listed[0].score == listed[1].score
    kinds = {r.kind for r in next(s for s in listed if s.member_id == "same-hub").reasons}
    assert "shared_hub" in kinds
    assert "cross_region" not in kinds


def test_without_the_boost_there_is_no_cross_region_reason() -> None:
    far = _mentee("far", 0.9, country="GH")

    (with_boost,) = _list(_me(country="KE"), [far], top_n=1, weights=DEFAULTS)
    (without,) = _list(_me(country="KE"), [far], top_n=1, weights=FIT_ONLY)

    assert [r.text for r in with_boost.reasons] == ["connects across countries: based in GH"]
    assert without.reasons == []


# --------------------------------------------------------------------------- exposure cap


def _listers(count: int) -> list[ProfileVectorsComputed]:
    """Members like me who speak only Swahili: of the mentees they can list only `star`
    (hidden themselves, so they do not list each other)."""
    return [
        vectors_event(
            f"lister-{i}",
            card(f"lister-{i}", languages=("sw",), discoverable=False),
            profile=E2,
            offers=E0,
            seeks=E1,
        )
        for i in range(count)
    ]


def _listed_after(listers: int, weights: RankingWeights) -> list[Suggestion]:
    """My list once `listers` other members have listed `star` (and never `plain`)."""
    star = _mentee("star", 0.95, languages=("en", "sw"))
    plain = _mentee("plain", 0.85)
    others = _listers(listers)
    engine = _engine([_me(), star, plain, *others], top_n=2, weights=weights)
    lists = engine.matches_for([m.member_id for m in others], NOW)
    assert all("star" in _ids(listed) for listed in lists.values())
    assert len(engine.listed_in.get("star", ())) == listers
    return engine.matches_for(["me"], NOW)["me"]


def test_a_candidate_at_the_exposure_cap_yields_to_a_slightly_worse_one() -> None:
    weights = RankingWeights(reciprocal=FIT, exposure_cap=2)

    below = _listed_after(1, weights)
    at_cap = _listed_after(2, weights)
    no_cap = _listed_after(5, RankingWeights(reciprocal=FIT, exposure_cap=0))

    assert _ids(below) == ["star", "plain"]
    assert _ids(at_cap) == ["plain", "star"]
    assert at_cap[1].score == pytest.approx(_times(below[0].score, 0.8), abs=ROUNDED)
    assert at_cap[0].score == below[1].score, "the one it yields to keeps its score"
    assert _ids(no_cap) == ["star", "plain"]


# --------------------------------------------------------------------------- through the matcher


def _mentor_event(member_id: str, **fields: Any) -> ProfileVectorsComputed:
    member = card(member_id, offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **fields)
    return vectors_event(member_id, member, profile=E0, offers=E0, seeks=E1)


def _mentee_event(member_id: str, fit: float, **fields: Any) -> ProfileVectorsComputed:
    member = card(member_id, offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), **fields)
    offers = unit(0, fit, 0, (1 - fit * fit) ** 0.5)
    return vectors_event(member_id, member, profile=E0, offers=offers, seeks=E0)


def _popular_star_network(mentors: int = 5) -> list[ProfileVectorsComputed]:
    """Mentors who all fit `star` best and `plain` a little less."""
    return [
        *(_mentor_event(f"mentor-{i}") for i in range(mentors)),
        _mentee_event("star", 0.95),
        _mentee_event("plain", 0.9),
    ]


def test_the_matcher_stops_suggesting_a_member_already_in_exposure_cap_lists() -> None:
    weights = RankingWeights(reciprocal=FIT, exposure_cap=2)
    engine = _engine(_popular_star_network(), top_n=1, weights=weights)
    mentors = [f"mentor-{i}" for i in range(5)]

    lists = engine.matches_for(mentors, NOW)

    firsts = {m: lists[m][0].member_id for m in mentors}
    assert firsts == {
        "mentor-0": "star",
        "mentor-1": "star",
        "mentor-2": "plain",  # star is at the cap: plain, nearly as good, takes its place
        "mentor-3": "plain",
        "mentor-4": "star",  # both at the cap now: the fit decides again
    }
    assert engine.listed_in["star"] == {"mentor-0", "mentor-1", "mentor-4"}
    assert engine.listed_in["plain"] == {"mentor-2", "mentor-3"}


def test_re_ranking_a_member_does_not_count_its_own_listing_against_its_candidates() -> None:
    engine = _engine(
        _popular_star_network(3), top_n=1, weights=RankingWeights(reciprocal=FIT, exposure_cap=2)
    )
    first = engine.matches_for(["mentor-0", "mentor-1", "mentor-2"], NOW)
    assert [first[m][0].member_id for m in sorted(first)] == ["star", "star", "plain"]

    # star is in 2 lists, one of them mentor-1's own: for mentor-1 it is below the cap.
    again = engine.matches_for(["mentor-1"], NOW)

    assert again["mentor-1"][0].member_id == "star"
    assert engine.listed_in["star"] == {"mentor-0", "mentor-1"}


def test_exposure_capped_lists_do_not_depend_on_the_order_ids_come_in() -> None:
    weights = RankingWeights(reciprocal=FIT, exposure_cap=2)
    mentors = [f"mentor-{i}" for i in range(5)]
    forward = _engine(_popular_star_network(), top_n=1, weights=weights)
    backward = _engine(_popular_star_network(), top_n=1, weights=weights)

    a = forward.matches_for(mentors, NOW)
    b = backward.matches_for(list(reversed(mentors)), NOW)

    assert {m: [s.member_id for s in a[m]] for m in mentors} == {
        m: [s.member_id for s in b[m]] for m in mentors
    }


def test_without_a_cap_everyone_gets_the_star() -> None:
    engine = _engine(
        _popular_star_network(), top_n=1, weights=RankingWeights(reciprocal=FIT, exposure_cap=0)
    )

    lists = engine.matches_for([f"mentor-{i}" for i in range(5)], NOW)

    assert {s[0].member_id for s in lists.values()} == {"star"}
    assert len(engine.listed_in["star"]) == 5


def test_the_matcher_spreads_organisations_and_boosts_across_regions() -> None:
    events = [
        _mentor_event("me", country="KE"),
        *(_mentee_event(f"acme-{i}", 0.95 - 0.01 * i, organisation_name="Acme") for i in range(4)),
        _mentee_event("beta", 0.85, organisation_name="Beta"),
        _mentee_event("ghana", 0.85, country="GH"),
    ]
    engine = _engine(events, top_n=4, weights=DEFAULTS)

    listed = engine.matches_for(["me"], NOW)["me"]

    assert [s.member_id for s in listed] == ["acme-0", "acme-1", "ghana", "beta"]
    ghana, beta = listed[2], listed[3]
    assert ghana.score == pytest.approx(_times(beta.score, 1.05), abs=ROUNDED)
    assert "cross_region" in {r.kind for r in ghana.reasons}
    assert all("cross_region" not in {r.kind for r in s.reasons} for s in listed if s is not ghana)


def test_a_boosted_newcomer_reaches_the_list_it_now_tops_by_reverse_update() -> None:
    events = [_mentor_event("me", country="KE"), _mentee_event("local", 0.9, country="KE")]
    engine = _engine(events, top_n=1, weights=DEFAULTS)
    assert [s.member_id for s in engine.matches_for(["me"], NOW)["me"]] == ["local"]

    # Fits a little less than `local`, but across countries: the boost lifts it above.
    engine.apply(_mentee_event("abroad", 0.88, country="GH"), LogPosition(0, 10))

    assert "me" in engine.affected_by(["abroad"], [])
    assert [s.member_id for s in engine.matches_for(["me"], NOW)["me"]] == ["abroad"]


def test_the_service_ranks_with_the_weights_its_variables_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_engine(MatchingSettings()).weights == RankingWeights()

    monkeypatch.setenv("NNMATCH_RANKING_COUNTRY_PENALTY", "0.5")
    monkeypatch.setenv("NNMATCH_RANKING_EXPOSURE_CAP", "7")
    tuned = build_engine(MatchingSettings()).weights

    assert tuned == RankingWeights(country_penalty=0.5, exposure_cap=7)
