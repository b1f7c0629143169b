"""The matcher's state on 4-d vectors carried in real `ProfileVectorsComputed` events.

Axes: E0 "mentoring", E1 "being a mentee", E2 / E3 a second market (investment offered/sought).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from nnmatch.events import ProfileVectorsComputed, VectorKind
from nnmatch.profile import Kind
from nnmatch_matching.engine import LogPosition, MatchEngine, ModelMismatch
from tests.unit.builders import E0, E1, E2, E3, card, vectors_event

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


def _engine(*events: ProfileVectorsComputed, top_n: int = 20, reverse_k: int = 20) -> MatchEngine:
    engine = MatchEngine(dimensions=4, top_n=top_n, reverse_k=reverse_k)
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
    for kind in VectorKind:
        assert np.array_equal(engine.indexes[kind].vectors(["a"])[0], event.vector(kind))


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
    engine = _engine(_mentor("mentor"), _investor("investor"), reverse_k=1)
    engine.apply(_mentee("newcomer"), LogPosition(0, 10))

    affected = engine.affected_by(["newcomer"], [])

    assert affected == {"newcomer", "mentor"}


def test_removed_members_are_never_affected() -> None:
    engine = _engine(_mentor("mentor"), _mentor("gone"), _founder("founder"))
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
    assert suggestions[0].score == pytest.approx(0.6 + 0.25 + 0.05, abs=1e-4)


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
