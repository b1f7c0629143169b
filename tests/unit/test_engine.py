"""The matcher's state on 4-d vectors carried in real `ProfileVectorsComputed` events.

Axes: E0 "mentoring", E1 "being a mentee", E2 / E3 a second market (investment offered/sought).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from nnmatch.events import FeedbackAction, ProfileVectorsComputed, VectorKind
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine, ModelMismatch
from nnmatch_matching.matcher.ranking import (
    LOGISTIC_SCALE,
    PROFILE_CALIBRATION,
    RECIPROCAL_CALIBRATION,
    shown_score,
    words_z,
)
from tests.unit.builders import E0, E1, E2, E3, card, unit, vectors_event

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _mentor(member_id: str) -> ProfileVectorsComputed:
    member = card(f"Mentor {member_id}", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,))
    return vectors_event(member_id, member, profile=E0, offers=E0, seeks=E1)


def _mentee(member_id: str) -> ProfileVectorsComputed:
    member = card(f"Mentee {member_id}", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,))
    return vectors_event(member_id, member, profile=E0, offers=E1, seeks=E0)


def _founder(member_id: str) -> ProfileVectorsComputed:
    member = card(f"Founder {member_id}", offers=(Kind.CO_FOUNDER,), seeks=(Kind.INVESTOR,))
    return vectors_event(member_id, member, profile=E2, offers=E2, seeks=E3)


def _investor(member_id: str) -> ProfileVectorsComputed:
    member = card(f"Investor {member_id}", offers=(Kind.INVESTOR,), seeks=(Kind.CO_FOUNDER,))
    return vectors_event(member_id, member, profile=E2, offers=E3, seeks=E2)


def _engine(*events: ProfileVectorsComputed, top_n: int = 20) -> MatchEngine:
    engine = MatchEngine(dimensions=4, top_n=top_n)
    for offset, event in enumerate(events):
        engine.apply(event, LogPosition(0, offset))
    return engine


def test_applied_events_index_each_member_with_its_vectors_and_version() -> None:
    event = _mentor("a")

    engine = _engine(event, _mentee("b"))

    assert len(engine) == 2
    assert "a" in engine
    assert "b" in engine
    assert "c" not in engine
    assert engine.profile_version("a") == event.profile_version
    assert set(engine.indexes) == {VectorKind.PROFILE, VectorKind.OFFERS}  # the fit is off
    for kind, index in engine.indexes.items():
        assert np.array_equal(index.vectors(["a"])[0], event.vector(kind))


def test_reapplying_a_member_replaces_it() -> None:
    engine = _engine(_mentor("a"))
    newer = _mentee("a").model_copy(update={"profile_version": 2})

    engine.apply(newer, LogPosition(0, 5))

    assert len(engine) == 1
    assert engine.profile_version("a") == 2
    assert np.array_equal(engine.indexes[VectorKind.OFFERS].vectors(["a"])[0], E1)


def test_older_offset_on_the_same_partition_is_stale() -> None:
    engine = MatchEngine(dimensions=4)
    engine.apply(_mentor("a"), LogPosition(2, 100))

    assert engine.is_stale("a", LogPosition(2, 99)) is True
    assert engine.is_stale("a", LogPosition(2, 100)) is False
    assert engine.is_stale("a", LogPosition(2, 101)) is False


def test_other_partition_or_unknown_member_is_not_stale() -> None:
    engine = MatchEngine(dimensions=4)
    engine.apply(_mentor("a"), LogPosition(2, 100))

    assert engine.is_stale("a", LogPosition(1, 5)) is False
    assert engine.is_stale("b", LogPosition(2, 0)) is False


def test_record_older_than_a_removal_is_stale() -> None:
    engine = MatchEngine(dimensions=4)
    engine.apply(_mentor("a"), LogPosition(0, 10))
    engine.remove("a", LogPosition(0, 20))

    assert engine.is_stale("a", LogPosition(0, 15)) is True
    assert engine.is_stale("a", LogPosition(0, 21)) is False


def test_removed_member_is_never_listed() -> None:
    engine = _engine(_mentor("a"), _mentee("b"), _mentee("c"), _mentor("d"))
    assert "b" in {s.member_id for s in engine.matches_for(["a"], NOW)["a"]}

    engine.remove("b", LogPosition(0, 99))
    results = engine.matches_for(["a", "b", "c", "d"], NOW)

    assert "b" not in engine
    assert set(results) == {"a", "c", "d"}
    assert all(s.member_id != "b" for suggestions in results.values() for s in suggestions)
    assert [s.member_id for s in results["a"]] == ["c", "d"]


def test_new_complementary_member_affects_the_existing_member_it_fits() -> None:
    engine = _engine(_mentor("mentor"), _investor("investor"), _founder("founder"), top_n=1)
    engine.matches_for(["mentor", "investor", "founder"], NOW)  # full lists of one
    engine.apply(_mentee("newcomer"), LogPosition(0, 10))

    affected = engine.affected_by(["newcomer"], [])

    assert affected == {"newcomer", "mentor"}


def test_removed_members_are_never_affected() -> None:
    engine = _engine(_mentor("mentor"), _mentor("gone"), _founder("founder"))
    engine.matches_for(["mentor", "gone", "founder"], NOW)
    engine.remove("gone", LogPosition(0, 10))
    engine.apply(_mentee("newcomer"), LogPosition(0, 11))

    affected = engine.affected_by(["newcomer", "gone"], [])

    assert "mentor" in affected
    assert "newcomer" in affected
    assert "gone" not in affected
    assert engine.affected_by(["gone"], []) == set()


def test_members_who_listed_a_removed_member_are_affected_by_its_removal() -> None:
    engine = _engine(
        _mentor("mentor"), _mentee("mentee"), _founder("founder"), _investor("investor"), top_n=1
    )
    listed = engine.matches_for(["mentor", "founder"], NOW)
    assert [s.member_id for s in listed["mentor"]] == ["mentee"]
    assert [s.member_id for s in listed["founder"]] == ["investor"]

    engine.remove("mentee", LogPosition(0, 50))

    assert engine.affected_by([], ["mentee"]) == {"mentor"}


def test_matches_respect_top_n_and_carry_display_names_and_reasons() -> None:
    engine = _engine(
        _mentor("me"), *(_mentee(f"mentee-{i}") for i in range(5)), _founder("founder"), top_n=3
    )

    suggestions = engine.matches_for(["me"], NOW)["me"]

    assert len(suggestions) == 3
    assert all(s.member_id.startswith("mentee-") for s in suggestions)
    assert all(s.display_name == f"Mentee {s.member_id}" for s in suggestions)
    assert all(s.country == "KE" and s.computed_at == NOW for s in suggestions)
    assert all("offer_meets_seek" in {r.kind for r in s.reasons} for s in suggestions)
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)
    # Shown as the logistic of the calibrated blend: a perfect two-way fit (harmonic mean 1),
    # the same profile vector (cosine 1), no words at all (read as sharing none) and kinds
    # that fit both ways.
    w = engine.weights
    blend = (
        w.reciprocal * (1.0 - RECIPROCAL_CALIBRATION.mean) / RECIPROCAL_CALIBRATION.spread
        + w.profile * (1.0 - PROFILE_CALIBRATION.mean) / PROFILE_CALIBRATION.spread
        + w.lexical * float(words_z(0.0))
        + w.kinds
    )
    expected = shown_score(math.exp(blend / LOGISTIC_SCALE))
    assert suggestions[0].score == pytest.approx(expected, abs=1e-4)
    assert all(0 < s.score < 1 for s in suggestions)


def test_matches_for_unknown_members_are_empty() -> None:
    engine = _engine(_mentor("a"), _mentee("b"))

    assert engine.matches_for(["nobody"], NOW) == {}


def test_vectors_of_another_model_are_refused() -> None:
    engine = _engine(_mentor("a"))
    other = vectors_event("b", card("B"), profile=E0, offers=E1, seeks=E0, model_id="other")

    with pytest.raises(ModelMismatch, match="other@1"):
        engine.apply(other, LogPosition(0, 5))

    assert "b" not in engine
    assert len(engine.indexes[VectorKind.PROFILE]) == 1


def test_vectors_of_another_version_of_the_same_model_are_refused() -> None:
    engine = MatchEngine(dimensions=4, model_id="test-model@1")
    newer = vectors_event("b", card("B"), profile=E0, offers=E1, seeks=E0, model_version="2")

    with pytest.raises(ModelMismatch):
        engine.apply(newer, LogPosition(0, 5))

    assert len(engine) == 0


# --------------------------------------------------------------------------- feedback


def _ranked_mentee(member_id: str, rank: int) -> ProfileVectorsComputed:
    """A mentee who fits the mentors less the higher `rank` is, in every search alike."""
    member = card(f"Mentee {member_id}", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,))
    drift = 0.2 * rank
    return vectors_event(
        member_id,
        member,
        profile=unit(1, 0, drift, 0),
        offers=unit(0, 1, drift, 0),
        seeks=unit(1, 0, drift, 0),
    )


def _listed(engine: MatchEngine, member_id: str) -> list[str]:
    return [s.member_id for s in engine.matches_for([member_id], NOW).get(member_id, [])]


def _mentees_engine(count: int, *, top_n: int, candidate_k: int = 100) -> MatchEngine:
    engine = MatchEngine(dimensions=4, top_n=top_n, candidate_k=candidate_k)
    engine.apply(_mentor("me"), LogPosition(0, 0))
    for i in range(count):
        engine.apply(_ranked_mentee(f"m{i}", i), LogPosition(0, i + 1))
    return engine


@pytest.mark.parametrize("action", [FeedbackAction.DISMISS, FeedbackAction.BLOCK])
def test_dismissed_or_blocked_candidate_never_returns_and_the_list_refills(
    action: FeedbackAction,
) -> None:
    engine = _mentees_engine(4, top_n=2)
    assert _listed(engine, "me") == ["m0", "m1"]

    engine.record_feedback("me", "m0", action)

    assert _listed(engine, "me") == ["m1", "m2"]
    engine.apply(_ranked_mentee("m0", 0), LogPosition(0, 50))  # m0 changes its profile
    assert "m0" not in _listed(engine, "me")


def test_the_list_refills_past_the_candidate_pool_when_the_best_were_dismissed() -> None:
    engine = _mentees_engine(4, top_n=2, candidate_k=2)
    assert _listed(engine, "me") == ["m0", "m1"]

    engine.record_feedback("me", "m0", FeedbackAction.DISMISS)
    engine.record_feedback("me", "m1", FeedbackAction.DISMISS)

    assert _listed(engine, "me") == ["m2", "m3"]


def test_accepted_candidate_is_not_suggested_again_but_still_sees_who_accepted() -> None:
    engine = _engine(_mentor("me"), _mentee("kofi"), _mentee("ada"))

    engine.record_feedback("me", "kofi", FeedbackAction.ACCEPT)

    assert _listed(engine, "me") == ["ada"]
    assert "me" in _listed(engine, "kofi"), "kofi must still be able to accept in turn"


def test_block_is_symmetric_neither_sees_the_other_again() -> None:
    engine = _engine(_mentor("me"), _mentee("kofi"), _mentee("ada"))
    assert "me" in _listed(engine, "kofi")

    pair = engine.record_feedback("kofi", "me", FeedbackAction.BLOCK)

    assert engine.members_to_rerank(pair) == {"kofi", "me"}
    assert "me" not in _listed(engine, "kofi")
    assert _listed(engine, "me") == ["ada"]


def test_dismissal_reranks_only_the_member_who_gave_it() -> None:
    engine = _engine(_mentor("me"), _mentee("kofi"))

    pair = engine.record_feedback("me", "kofi", FeedbackAction.DISMISS)

    assert engine.members_to_rerank(pair) == {"me"}


def test_a_blocked_member_who_changes_does_not_reach_the_blocker_by_reverse_update() -> None:
    engine = _engine(_mentor("me"), _mentee("kofi"))
    engine.matches_for(["me", "kofi"], NOW)
    engine.record_feedback("me", "kofi", FeedbackAction.BLOCK)
    engine.matches_for(["me", "kofi"], NOW)

    engine.apply(_mentee("kofi"), LogPosition(0, 10))

    assert engine.affected_by(["kofi"], []) == {"kofi"}


def test_erasure_drops_the_members_feedback_and_every_mention_of_them() -> None:
    engine = _engine(_mentor("me"), _mentee("gone"), _mentee("ada"))
    engine.record_feedback("gone", "me", FeedbackAction.BLOCK)
    engine.record_feedback("me", "gone", FeedbackAction.DISMISS)
    engine.record_feedback("ada", "me", FeedbackAction.ACCEPT)

    engine.remove("gone", LogPosition(0, 10))

    assert not engine.exclusions.mentions("gone")
    assert engine.exclusions.excluded_for("me") == frozenset()
    assert engine.excludes("ada", "me")
