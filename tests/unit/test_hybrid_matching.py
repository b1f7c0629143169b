"""Member-to-member matching with the lexical side: words find what vectors miss, both ways.

Vectors are 4-d toys (E0 "mentoring", E1 "being a mentee", E2 / E3 elsewhere); the words are
the members' own offers and seeks texts, as on the wire. Each member's whole profile (the
vectors event's `terms`) is a bio of its own that shares no word with anyone's: the likeness
of whole profiles is then the same (none) for every pair, and what the words add is the
offers↔seeks fit alone (`test_calibrated_scoring.py` tests the likeness).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from nnmatch.events import ProfileVectorsComputed
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.factory import build_engine
from nnmatch_matching.matcher.lexical_fit import LexicalFit
from nnmatch_matching.matcher.ranking import (
    PROFILE_CALIBRATION,
    RECIPROCAL_CALIBRATION,
    Calibration,
    RankingWeights,
    blend_of,
    reciprocal_scores,
    words_z,
)
from nnmatch_matching.settings import MatchingSettings
from tests.unit.builders import E0, E1, E2, E3, card, unit, vectors_event

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
# Fixed weights (not the defaults, which the evals may move), so the margins below hold.
HYBRID = RankingWeights(reciprocal=0.5, lexical=0.5)
DENSE = RankingWeights(reciprocal=0.5, lexical=0.0)

SEEKER_WORDS: dict[str, Any] = {
    "seeks_text": "A mentor for cassava mosaic disease detection on phones",
    "offers_text": "Labelled cassava leaf images from smallholder plots",
}
# Offers what the seeker seeks and seeks what the seeker offers, in words only.
FAR_FIT_WORDS: dict[str, Any] = {
    "offers_text": "Mentoring on cassava mosaic disease detection on phones",
    "seeks_text": "Partners holding labelled cassava leaf images",
}


def _bio(member_id: str) -> dict[str, int]:
    """A whole profile of one word no one else writes."""
    return {f"bio{member_id.replace('-', '')}": 1}


def seeker_event(**words: Any) -> ProfileVectorsComputed:
    member = card("Seeker", offers=(Kind.PARTNER,), seeks=(Kind.MENTOR,), **words)
    return vectors_event("seeker", member, profile=E0, offers=E1, seeks=E0, terms=_bio("seeker"))


def far_fit_event(member_id: str = "far-fit", **words: Any) -> ProfileVectorsComputed:
    """Vectors orthogonal to the seeker's every search: only the words can bring it."""
    member = card("Far fit", offers=(Kind.MENTOR,), seeks=(Kind.PARTNER,), **words)
    return vectors_event(member_id, member, profile=E3, offers=E2, seeks=E3, terms=_bio(member_id))


def close_event(member_id: str, **words: Any) -> ProfileVectorsComputed:
    """A mentor whose vectors fit the seeker perfectly."""
    member = card(f"Close {member_id}", offers=(Kind.MENTOR,), seeks=(Kind.PARTNER,), **words)
    return vectors_event(member_id, member, profile=E0, offers=E0, seeks=E1, terms=_bio(member_id))


def _engine(
    *events: ProfileVectorsComputed,
    weights: RankingWeights = HYBRID,
    lexical_k: int = 5,
    candidate_k: int = 2,
    top_n: int = 20,
) -> MatchEngine:
    engine = MatchEngine(
        dimensions=4,
        top_n=top_n,
        candidate_k=candidate_k,
        weights=weights,
        lexical_k=lexical_k,
    )
    for offset, event in enumerate(events):
        engine.apply(event, LogPosition(0, offset))
    return engine


def _community() -> list[ProfileVectorsComputed]:
    decoys = [
        close_event(f"close-{i}", offers_text="Fintech payments", seeks_text="Fintech")
        for i in range(3)
    ]
    return [seeker_event(**SEEKER_WORDS), far_fit_event(**FAR_FIT_WORDS), *decoys]


def _listed(engine: MatchEngine, member_id: str = "seeker") -> dict[str, float]:
    """Each suggestion's blend, read back from its shown score (all pairs here are in one
    country: no shaping), best first."""
    listed = engine.matches_for([member_id], NOW)[member_id]
    assert all(0 < s.score < 1 for s in listed), "a score at 0 or 1 cannot be read back"
    return {s.member_id: blend_of(s.score) for s in listed}


# A blend read back from a score rounded to 4 decimals is off by up to
# LOGISTIC_SCALE * 5e-5 / (s (1 - s)): 0.005 for the best pairs here (s = 0.98), so 1e-4
# cannot hold; 0.02 still tells apart every difference the tests look at.
READ_BACK = 0.02


def _z(calibration: Calibration, value: float) -> float:
    return (value - calibration.mean) / calibration.spread


def _blend(weights: RankingWeights, *, harmonic: float, profile: float, kinds: float) -> float:
    """A pair's blend: the two-way fit, the profile cosine and the kinds fit; with a lexical
    weight, whole profiles sharing no word."""
    blend = (
        weights.reciprocal * _z(RECIPROCAL_CALIBRATION, harmonic)
        + weights.profile * _z(PROFILE_CALIBRATION, profile)
        + weights.kinds * kinds
    )
    return blend + weights.lexical * float(words_z(0.0))


def _harmonic(wanted: float, wanting: float) -> float:
    fit = reciprocal_scores(np.asarray([wanted]), np.asarray([wanting]))
    return float(fit[0])


def test_the_lexical_side_lifts_a_candidate_whose_words_meet_the_seek() -> None:
    hybrid = _listed(_engine(*_community()))
    dense = _listed(_engine(*_community(), weights=DENSE, lexical_k=0))

    assert dense["far-fit"] < min(dense[m] for m in ("close-0", "close-1", "close-2"))
    lift = hybrid["far-fit"] - dense["far-fit"]
    assert lift > max(hybrid[m] - dense[m] for m in ("close-0", "close-1", "close-2"))


def test_the_words_fit_counts_in_the_reciprocal_score() -> None:
    candidates_only = _listed(_engine(*_community(), weights=DENSE))
    hybrid = _listed(_engine(*_community()))

    # Lexical candidates with the lexical weight at 0: found, but only the kinds fit counts
    # (orthogonal vectors: no two-way fit, profile cosine 0).
    no_fit = _blend(DENSE, harmonic=0.0, profile=0.0, kinds=1.0)
    assert candidates_only["far-fit"] == pytest.approx(no_fit, abs=READ_BACK)
    # With it, each direction's fit is the lexical weight times its words' cosine.
    engine = _engine(*_community())
    assert engine.lexical is not None
    [fit] = engine.lexical.fits(["seeker"])
    words = engine.lexical.sides(fit, ["far-fit"])
    assert words.wanted is not None
    assert words.wanting is not None
    fit_in_words = _harmonic(HYBRID.lexical * words.wanted[0], HYBRID.lexical * words.wanting[0])
    assert fit_in_words > 0.3
    expected = _blend(HYBRID, harmonic=fit_in_words, profile=0.0, kinds=1.0)
    assert hybrid["far-fit"] == pytest.approx(expected, abs=READ_BACK)


def test_weights_at_zero_reproduce_the_dense_only_lists_whatever_the_words() -> None:
    plain = _engine(*_community(), weights=DENSE, lexical_k=0)
    reworded = _engine(
        seeker_event(**FAR_FIT_WORDS),
        far_fit_event(**SEEKER_WORDS),
        *(close_event(f"close-{i}", offers_text=SEEKER_WORDS["seeks_text"]) for i in range(3)),
        weights=DENSE,
        lexical_k=0,
    )

    assert plain.lexical is None  # no words indexed at all
    assert _listed(plain) == _listed(reworded)  # same members, same scores


def test_the_lexical_weight_changes_nothing_for_pairs_whose_words_do_not_meet() -> None:
    events = [seeker_event(**SEEKER_WORDS), *(close_event(f"close-{i}") for i in range(3))]

    hybrid = _listed(_engine(*events))
    dense = _listed(_engine(*events, weights=DENSE, lexical_k=0))

    # Same members in the same order; each blend is only lowered by whole profiles sharing
    # no word, the same for every pair.
    assert list(hybrid) == list(dense)
    no_words = HYBRID.lexical * float(words_z(0.0))
    for member_id, blend in dense.items():
        assert hybrid[member_id] == pytest.approx(blend + no_words, abs=READ_BACK)


def test_two_mentors_with_alike_profiles_get_no_fit_from_their_words() -> None:
    # Their words meet both ways (each seeks mentees in what the other mentors in), but
    # neither offers a kind the other seeks: the words are the same topic, not a fit.
    alike: dict[str, Any] = {
        "headline": "Computer vision for crop disease",
        "expertise": ["computer vision", "crop disease detection"],
        "offers_text": "Mentoring on computer vision models for crop disease detection",
        "seeks_text": "Mentees eager to learn computer vision for crop disease detection",
    }
    mentor = card("Mentor", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **alike)
    twin = card("Twin", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **alike)
    mentee = card(
        "Mentee",
        offers=(Kind.MENTEE,),
        seeks=(Kind.MENTOR,),
        offers_text="Students eager to learn and grow",
        seeks_text="A mentor in computer vision models for crop disease detection",
    )
    # The twin's profile is like the mentor's (cosine 0.6), the mentee's not (0).
    events = [
        vectors_event("mentor", mentor, profile=E2, offers=E0, seeks=E1, terms=_bio("mentor")),
        vectors_event(
            "twin", twin, profile=unit(0, 0, 0.6, 0.8), offers=E0, seeks=E1, terms=_bio("twin")
        ),
        vectors_event("mentee", mentee, profile=E3, offers=E1, seeks=E0, terms=_bio("mentee")),
    ]

    engine = _engine(*events)
    hybrid = _listed(engine, "mentor")
    dense = _listed(_engine(*events, weights=DENSE, lexical_k=0), "mentor")

    assert engine.lexical is not None
    [fit] = engine.lexical.fits(["mentor"])
    words = engine.lexical.sides(fit, ["twin"])
    assert words.wanted is not None
    assert words.wanting is not None
    assert words.wanted[0] > 0.1
    assert words.wanting[0] > 0.1

    no_words = HYBRID.lexical * float(words_z(0.0))  # whole profiles share no word
    assert list(hybrid) == ["mentee", "twin"]
    # Alike words, but neither seeks what the other offers: the twin's fit stays none.
    assert hybrid["twin"] == pytest.approx(dense["twin"] + no_words, abs=READ_BACK)
    assert hybrid["twin"] == pytest.approx(
        _blend(HYBRID, harmonic=0.0, profile=0.6, kinds=0.0), abs=READ_BACK
    )
    assert hybrid["mentee"] > dense["mentee"] + no_words + 0.5


def test_words_meeting_in_one_direction_only_add_no_reciprocal_fit() -> None:
    # They offer what the seeker seeks in words, but seek nothing the seeker offers.
    one_way = far_fit_event(
        "one-way",
        offers_text=FAR_FIT_WORDS["offers_text"],
        seeks_text="Fintech payments in Lagos",
    )
    engine = _engine(seeker_event(**SEEKER_WORDS), far_fit_event(**FAR_FIT_WORDS), one_way)

    listed = _listed(engine)

    assert engine.lexical is not None
    [fit] = engine.lexical.fits(["seeker"])
    words = engine.lexical.sides(fit, ["one-way"])
    assert words.wanted is not None
    assert words.wanting is not None
    assert words.wanted[0] > 0.1
    assert words.wanting[0] == 0.0
    # The kinds fit, nothing two-way.
    no_fit = _blend(HYBRID, harmonic=0.0, profile=0.0, kinds=1.0)
    assert listed["one-way"] == pytest.approx(no_fit, abs=READ_BACK)
    assert listed["far-fit"] > listed["one-way"] + 1.0


def test_words_count_only_in_a_direction_whose_kinds_fit() -> None:
    # Same words both ways as far-fit, but seeks mentees: nothing the seeker offers.
    member = card("Mentor", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), **FAR_FIT_WORDS)
    half_kinds = vectors_event(
        "half-kinds", member, profile=E3, offers=E2, seeks=E3, terms=_bio("half-kinds")
    )
    engine = _engine(seeker_event(**SEEKER_WORDS), far_fit_event(**FAR_FIT_WORDS), half_kinds)

    listed = _listed(engine)

    # One kind direction of two, and no two-way fit.
    no_fit = _blend(HYBRID, harmonic=0.0, profile=0.0, kinds=0.5)
    assert listed["half-kinds"] == pytest.approx(no_fit, abs=READ_BACK)
    assert listed["far-fit"] > _blend(HYBRID, harmonic=0.0, profile=0.0, kinds=1.0) + 0.5


def _weak(member_id: str) -> ProfileVectorsComputed:
    """A mentor who offers what the seeker seeks but wants something else (E2)."""
    member = card(f"Weak {member_id}", offers=(Kind.MENTOR,), seeks=(Kind.PARTNER,))
    return vectors_event(
        member_id, member, profile=unit(1, 3, 0, 0), offers=E0, seeks=E2, terms=_bio(member_id)
    )


def test_a_newcomer_whose_words_fit_an_existing_member_re_ranks_them() -> None:
    events = [seeker_event(**SEEKER_WORDS), *(_weak(f"weak-{i}") for i in range(3))]
    hybrid = _engine(*events, top_n=3, candidate_k=5)
    dense = _engine(*events, weights=DENSE, lexical_k=0, top_n=3, candidate_k=5)
    for engine in (hybrid, dense):
        assert len(engine.matches_for(["seeker"], NOW)["seeker"]) == 3  # a full list
        engine.apply(far_fit_event(**FAR_FIT_WORDS), LogPosition(0, 100))

    assert "seeker" in hybrid.affected_by(["far-fit"], [])
    assert "seeker" not in dense.affected_by(["far-fit"], [])


def test_lexical_candidates_are_never_me_the_excluded_or_the_hidden() -> None:
    fit = LexicalFit()
    fit.upsert("me", card("Me", seeks_text="cassava disease", offers_text="cassava disease"))
    fit.upsert("dismissed", card("Dismissed", offers_text="cassava disease"))
    fit.upsert("hidden", card("Hidden", offers_text="cassava disease", discoverable=False))
    fit.upsert("shown", card("Shown", offers_text="cassava disease detection"))
    fit.upsert("unrelated", card("Unrelated", offers_text="fintech payments"))

    [mine] = fit.fits(["me"])

    assert fit.candidates(mine, 10, excluded={"dismissed"}) == {"shown"}
    sides = fit.sides(mine, ["shown", "unrelated", "unknown"])
    assert sides.wanted is not None
    assert sides.wanting is not None
    assert sides.wanted[0] > 0
    assert sides.wanted[1:].tolist() == [0.0, 0.0]


def test_shared_words_read_the_same_whatever_order_the_members_arrived_in() -> None:
    # Two replicas replay the same members in different orders: if the first form to arrive
    # were shown, a list taken over by the other replica would read as changed.
    words = {
        "a": {"students": 2, "reaching": 1, "cassava": 1},
        "b": {"student": 1, "reach": 3, "cassava": 2},
        "c": {"students": 1, "reaching": 2, "cassava": 1},
    }
    shown = []
    for order in (["a", "b", "c"], ["c", "b", "a"], ["b", "c", "a"]):
        fit = LexicalFit(directions=False)
        for member_id in order:
            fit.upsert(member_id, card(member_id.upper()), words[member_id])
        shown.append((fit.shared_words("a", ["b", "c"]), fit.profile_words("c")))

    assert shown[0] == shown[1] == shown[2]
    by_b, by_c = shown[0][0]
    assert sorted(by_b) == ["cassava", "reach", "student"], "the shortest form as written"
    assert sorted(by_c) == ["cassava", "reach", "student"]
    assert shown[0][1] == {"students": 1, "reaching": 2, "cassava": 1}, "as c wrote them"


def test_shared_words_never_show_a_form_only_a_past_profile_held() -> None:
    # b wrote "reach", then rewrote their profile without it; d wrote "reach" and left. A
    # replica that saw all of it, one rebuilt from the latest profiles alone and one restored
    # from the first's snapshot words must show the same words, none of them "reach".
    a, c = {"reaching": 1, "okra": 1}, {"reaching": 2, "okra": 1}
    lived = LexicalFit(directions=False)
    lived.upsert("a", card("A"), a)
    lived.upsert("b", card("B"), {"reach": 1, "okra": 1})
    lived.upsert("d", card("D"), {"reach": 1})
    lived.upsert("c", card("C"), c)
    assert lived.shared_words("a", ["c"]) == [["okra", "reach"]], "held by b and d now"
    lived.upsert("b", card("B"), {"okra": 1})
    lived.remove("d")
    rebuilt = LexicalFit(directions=False)
    for member_id, words in (("c", c), ("b", {"okra": 1}), ("a", a)):
        rebuilt.upsert(member_id, card(member_id.upper()), words)
    restored = LexicalFit(directions=False)
    for member_id in ("a", "b", "c"):
        restored.upsert(member_id, card(member_id.upper()), lived.profile_words(member_id))

    assert lived.shared_words("a", ["c"]) == [["reaching", "okra"]], "now rarer than okra"
    assert rebuilt.shared_words("a", ["c"]) == [["reaching", "okra"]]
    assert restored.shared_words("a", ["c"]) == [["reaching", "okra"]]


def test_words_as_rare_as_each_other_are_listed_in_the_same_order_whatever_came_first() -> None:
    # okra and zebu are each in three documents; whichever document came first gave its word
    # the lower term id, so ordering ties by id would depend on arrival order.
    words = {
        "w": {"zebu": 1, "yam": 1},
        "v": {"okra": 1, "yam": 1},
        "x": {"okra": 1, "zebu": 1},
        "z": {"okra": 1, "zebu": 1},
    }
    shown = []
    for order in (["w", "v", "x", "z"], ["v", "w", "z", "x"]):
        fit = LexicalFit(directions=False)
        for member_id in order:
            fit.upsert(member_id, card(member_id.upper()), words[member_id])
        shown.append(fit.shared_words("x", ["z"]))

    assert shown[0] == shown[1] == [["okra", "zebu"]]


def test_a_pair_gets_the_same_word_fit_from_either_side() -> None:
    fit = LexicalFit()
    fit.upsert("seeker", card("Seeker", **SEEKER_WORDS))
    fit.upsert("far-fit", card("Far fit", **FAR_FIT_WORDS))
    fit.upsert("other", card("Other", offers_text="cassava images", seeks_text="mentor"))

    seeker, far = fit.fits(["seeker", "far-fit"])
    from_seeker = fit.sides(seeker, ["far-fit"])
    assert from_seeker.wanted is not None
    assert from_seeker.wanting is not None
    from_far = fit.sides(far, ["seeker"])
    assert from_far.wanted is not None
    assert from_far.wanting is not None

    assert from_seeker.wanted[0] == pytest.approx(from_far.wanting[0])
    assert from_seeker.wanting[0] == pytest.approx(from_far.wanted[0])
    assert np.all(from_seeker.wanted > 0)


def test_a_removed_member_leaves_no_words_behind() -> None:
    engine = _engine(*_community())
    engine.remove("far-fit", LogPosition(0, 100))

    assert "far-fit" not in _listed(engine)
    assert engine.lexical is not None
    assert "far-fit" not in engine.lexical


def test_import_state_indexes_the_words_too() -> None:
    engine = _engine(*_community())
    restored = MatchEngine(dimensions=4, candidate_k=2, weights=HYBRID, lexical_k=5)
    restored.import_state(engine.export_state())

    assert _listed(restored) == _listed(engine)


def test_the_service_engine_has_the_default_lexical_weight_and_candidates() -> None:
    engine = build_engine(MatchingSettings())

    assert engine.weights.lexical == HYBRID.lexical > 0
    assert engine.lexical_k == MatchEngine(dimensions=4).lexical_k > 0
    assert engine.lexical is not None
