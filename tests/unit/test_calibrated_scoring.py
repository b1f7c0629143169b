"""The calibrated score as the matcher serves it: signals in spreads, whole-profile words,
connections in common, symmetry and the snapshot round trip.

Vectors are 4-d toys; whole profiles are the vectors events' counted words (`terms`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from nnmatch.events import FeedbackAction, ProfileVectorsComputed, Suggestion
from nnmatch.profile import Kind
from nnmatch_matching.matcher import ranking
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.ranking import (
    PROFILE_CALIBRATION,
    RECIPROCAL_CALIBRATION,
    Calibration,
    RankingWeights,
    blend_of,
    words_z,
)
from tests.unit.builders import E0, E1, E2, E3, Vector, card, unit, vectors_event

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
NOTHING = unit(0, 0, 0, 0)  # the vector of an empty text
# Words count a tenth of the default here, so that pairs sharing words are not all shown as
# 1.0 (a BM25 cosine of 0.3 is ten spreads above the mean) and scores can be read back.
# Fixed weights (not the defaults, which the evals may move): light words, a firm two-way fit.
LIGHT_WORDS = RankingWeights(lexical=0.1, reciprocal=0.5)
# A blend read back from a score rounded to 4 decimals is off by up to
# LOGISTIC_SCALE * 5e-5 / (s (1 - s)): 1e-4 cannot hold, 0.01 does for the scores here.
READ_BACK = 0.01


def _z(calibration: Calibration, value: float) -> float:
    return (value - calibration.mean) / calibration.spread


def _member(
    member_id: str,
    *,
    profile: Vector,
    offers: Vector = E0,
    seeks: Vector = E1,
    terms: dict[str, int] | None = None,
    mentee: bool = False,
    **fields: Any,
) -> ProfileVectorsComputed:
    """A mentor (or a mentee); with neither offers nor seeks vectors, no kinds either."""
    kinds: dict[str, Any] = {"offers": (Kind.MENTOR,), "seeks": (Kind.MENTEE,)}
    if mentee:
        kinds = {"offers": (Kind.MENTEE,), "seeks": (Kind.MENTOR,)}
    if not np.any(offers) and not np.any(seeks):
        kinds = {}
    member = card(member_id, **kinds, **fields)
    return vectors_event(
        member_id, member, profile=profile, offers=offers, seeks=seeks, terms=terms
    )


def _engine(
    *events: ProfileVectorsComputed, weights: RankingWeights = LIGHT_WORDS, **options: Any
) -> MatchEngine:
    engine = MatchEngine(dimensions=4, weights=weights, **options)
    for offset, event in enumerate(events):
        engine.apply(event, LogPosition(0, offset))
    return engine


def _lists(engine: MatchEngine, *member_ids: str) -> dict[str, dict[str, Suggestion]]:
    lists = engine.matches_for(member_ids, NOW)
    return {m: {s.member_id: s for s in listed} for m, listed in lists.items()}


def _reasons(suggestion: Suggestion) -> dict[str, str]:
    return {r.kind: r.text for r in suggestion.reasons}


def _likeness(engine: MatchEngine, member_id: str, other_id: str) -> float:
    """The BM25 cosine of two members' whole profiles."""
    assert engine.lexical is not None
    [fit] = engine.lexical.fits([member_id])
    return float(engine.lexical.sides(fit, [other_id]).likeness[0])


# --------------------------------------------------------------------------- symmetry


def _community() -> list[ProfileVectorsComputed]:
    return [
        _member(
            "ada",
            profile=unit(1, 1, 0, 0),
            offers=E0,
            seeks=E1,
            terms={"treebank": 2, "parsing": 1, "kisumu": 1, "swahili": 3},
            offers_text="mentoring in parsing",
            seeks_text="annotators for a swahili treebank",
        ),
        _member(
            "bo",
            profile=unit(1, 0, 1, 0),
            offers=unit(0, 1, 0, 1),
            seeks=unit(1, 0, 1, 0),
            terms={"treebank": 1, "annotation": 2, "lagos": 1, "yoruba": 1},
            offers_text="treebank annotation",
            seeks_text="a mentor in parsing",
            country="NG",
            mentee=True,
        ),
        _member("cy", profile=E3, terms={"soil": 1, "treebank": 1}, discoverable=False),
        _member("di", profile=E2, terms={"fintech": 2, "payments": 1}),
    ]


def test_a_pair_scores_the_same_from_either_side_with_words_and_connections() -> None:
    engine = _engine(*_community())
    engine.record_feedback("ada", "cy", FeedbackAction.ACCEPT)
    engine.record_feedback("cy", "bo", FeedbackAction.ACCEPT)

    lists = _lists(engine, "ada", "bo")

    ada_sees_bo, bo_sees_ada = lists["ada"]["bo"], lists["bo"]["ada"]
    assert 0.05 < ada_sees_bo.score < 0.99, "a score off the ends, where it can differ"
    assert ada_sees_bo.score == bo_sees_ada.score
    # Every signal is in play: words, the connection in common, the cross-region boost.
    for seen in (ada_sees_bo, bo_sees_ada):
        assert {"shared_words", "shared_connections", "cross_region"} <= set(_reasons(seen))
    alone = _lists(_engine(*_community()), "ada")["ada"]["bo"]
    assert ada_sees_bo.score > alone.score, "the connection in common counts"


# --------------------------------------------------------------------------- no offers or seeks


def test_a_member_with_no_offers_or_seeks_is_matched_by_likeness_and_words() -> None:
    quiet = _member(
        "quiet",
        profile=unit(1, 1, 0, 0),
        offers=NOTHING,
        seeks=NOTHING,
        terms={"treebank": 2, "parsing": 1},
    )
    wordy = _member(
        "wordy", profile=unit(1, 0, 0, 0), terms={"treebank": 1, "parsing": 2, "corpus": 1}
    )
    silent = _member("silent", profile=unit(1, 0, 0, 0), terms={"fintech": 1})
    engine = _engine(quiet, wordy, silent)

    listed = engine.matches_for(["quiet"], NOW)["quiet"]

    assert [s.member_id for s in listed] == ["wordy", "silent"], "the shared words decide"
    best = listed[0]
    assert _reasons(best)["shared_words"] in {
        "you both write about parsing and treebank",
        "you both write about treebank and parsing",
    }, "words as written, not their stems"
    # No two-way fit to speak of: the reciprocal signal counts as average (0 spreads), not as
    # a fit of 0; profile likeness (cosine 1/√2) and the words make the score.
    w = engine.weights
    likeness = _likeness(engine, "quiet", "wordy")
    assert likeness > 0.2
    expected = w.profile * _z(PROFILE_CALIBRATION, math.sqrt(0.5)) + w.lexical * float(
        words_z(likeness)
    )
    assert blend_of(best.score) == pytest.approx(expected, abs=READ_BACK)
    as_no_fit = expected + w.reciprocal * _z(RECIPROCAL_CALIBRATION, 0.0)
    assert blend_of(best.score) > as_no_fit + 1.0


# --------------------------------------------------------------------------- connections


HALF_LIKE_E2 = unit(0, 0, 0.5, math.sqrt(0.75))  # profile cosine 0.5 with E2


def _twins_and_connector() -> MatchEngine:
    """`me` and two candidates equal in every signal, and `link` (hidden) to connect through."""
    return _engine(
        _member("me", profile=E2, offers=E0, seeks=E1),
        *(
            _member(m, profile=HALF_LIKE_E2, offers=E1, seeks=E0, mentee=True)
            for m in ("ann", "bob")
        ),
        _member("link", profile=E3, discoverable=False),
        _member("link-2", profile=E3, discoverable=False),
        top_n=2,
    )


def test_connections_in_common_lift_a_candidate_and_say_how_many() -> None:
    engine = _twins_and_connector()
    before = engine.matches_for(["me"], NOW)["me"]
    assert [s.member_id for s in before] == ["ann", "bob"], "equal: by member id"
    assert before[0].score == before[1].score

    engine.record_feedback("me", "link", FeedbackAction.ACCEPT)
    engine.record_feedback("bob", "link", FeedbackAction.ACCEPT)
    after = engine.matches_for(["me"], NOW)["me"]

    assert [s.member_id for s in after] == ["bob", "ann"]
    lift = blend_of(after[0].score) - blend_of(after[1].score)
    assert lift == pytest.approx(engine.weights.connections * math.log(2), abs=READ_BACK)
    assert _reasons(after[0])["shared_connections"] == "you are both connected to 1 person"
    assert "shared_connections" not in _reasons(after[1])

    engine.record_feedback("link-2", "me", FeedbackAction.ACCEPT)
    engine.record_feedback("link-2", "bob", FeedbackAction.ACCEPT)
    (top, _) = engine.matches_for(["me"], NOW)["me"]
    assert _reasons(top)["shared_connections"] == "you are both connected to 2 people"
    # The reasons' order: what is offered and sought first, then shared words/connections.
    kinds = [r.kind for r in top.reasons]
    assert kinds.index("seek_meets_offer") < kinds.index("shared_connections")
    assert kinds.index("shared_connections") < kinds.index("same_country")


def test_an_accept_re_ranks_both_sides_and_their_connections() -> None:
    engine = _twins_and_connector()
    engine.record_feedback("bob", "link", FeedbackAction.ACCEPT)
    engine.record_feedback("ann", "link-2", FeedbackAction.ACCEPT)

    pair = engine.record_feedback("me", "link", FeedbackAction.ACCEPT)

    # bob now shares a connection with me: his list changes too.
    assert engine.members_to_rerank(pair) == {"me", "link", "bob"}
    dismissal = engine.record_feedback("me", "ann", FeedbackAction.DISMISS)
    assert engine.members_to_rerank(dismissal) == {"me"}


def test_a_block_removes_the_connection() -> None:
    engine = _twins_and_connector()
    engine.record_feedback("me", "link", FeedbackAction.ACCEPT)
    engine.record_feedback("bob", "link", FeedbackAction.ACCEPT)
    assert [s.member_id for s in engine.matches_for(["me"], NOW)["me"]] == ["bob", "ann"]

    engine.record_feedback("link", "bob", FeedbackAction.BLOCK)

    assert engine.exclusions.connections("link") == {"me"}
    listed = engine.matches_for(["me"], NOW)["me"]
    assert [s.member_id for s in listed] == ["ann", "bob"]
    assert listed[0].score == listed[1].score
    assert all("shared_connections" not in _reasons(s) for s in listed)


def test_a_connection_in_common_lifts_a_far_member_above_a_near_one() -> None:
    """Every member is a candidate (lists rank over everyone): a friend of a friend needs no
    search to find them, the connection in common lifts them."""
    engine = _engine(
        _member("me", profile=E2, offers=E0, seeks=E1),
        _member("near", profile=E2, offers=E1, seeks=E0),
        _member("far", profile=E3, offers=E3, seeks=E3),
        _member("link", profile=E3, discoverable=False),
        candidate_k=1,
        lexical_k=1,
    )
    before = {s.member_id: s.score for s in engine.matches_for(["me"], NOW)["me"]}
    assert list(before) == ["near", "far"]

    engine.record_feedback("me", "link", FeedbackAction.ACCEPT)
    engine.record_feedback("link", "far", FeedbackAction.ACCEPT)

    after = {s.member_id: s for s in engine.matches_for(["me"], NOW)["me"]}
    assert after["far"].score > before["far"]
    assert "shared_connections" in _reasons(after["far"])


def test_erasing_a_member_re_ranks_those_connected_to_them() -> None:
    engine = _twins_and_connector()
    engine.record_feedback("me", "link", FeedbackAction.ACCEPT)
    engine.record_feedback("link", "bob", FeedbackAction.ACCEPT)
    engine.matches_for(["me", "ann", "bob"], NOW)  # link is hidden: in no one's list

    engine.remove("link", LogPosition(0, 99))

    assert engine.affected_by([], ["link"]) == {"me", "bob"}
    assert engine.affected_by([], ["link"]) == set(), "told once"
    listed = engine.matches_for(["me"], NOW)["me"]
    assert [s.member_id for s in listed] == ["ann", "bob"], "the connection went with them"


# --------------------------------------------------------------------------- snapshot


def test_the_snapshot_round_trip_keeps_whole_profile_words() -> None:
    # "parsing" stems to "pars", and "pars" to "par": a snapshot holding stems would not
    # index the same terms again.
    events = [
        _member("me", profile=E2, terms={"parsing": 2, "treebanks": 1, "kisumu": 1}),
        _member(
            "you", profile=E2, offers=E1, seeks=E0, terms={"parsing": 1, "treebanks": 2, "lagos": 1}
        ),
        _member("other", profile=E3, offers=E1, seeks=E0, headline="Parsing soil data"),
    ]
    engine = _engine(*events)
    restored = MatchEngine(dimensions=4, weights=LIGHT_WORDS)

    state = engine.export_state()
    restored.import_state(state)

    assert state.terms[0] == {"parsing": 2, "treebanks": 1, "kisumu": 1}
    ids = ["me", "you", "other"]
    before, after = engine.matches_for(ids, NOW), restored.matches_for(ids, NOW)
    assert after == before
    you = next(s for s in after["me"] if s.member_id == "you")
    assert "parsing" in _reasons(you)["shared_words"]
    assert restored.export_state().terms == state.terms


# --------------------------------------------------------------------------- spreads


def test_weights_count_in_spreads_doubling_a_spread_halves_the_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights = RankingWeights(lexical=0.0, connections=0.0, cross_region_boost=0.0)
    events = [
        _member("me", profile=E2, offers=E0, seeks=E1),
        _member("close", profile=unit(0, 0, 0.9, math.sqrt(0.19)), offers=E1, seeks=E0),
        _member("apart", profile=unit(0, 0, 0.3, math.sqrt(0.91)), offers=E1, seeks=E0),
    ]

    def gap() -> float:
        listed = _lists(_engine(*events, weights=weights), "me")["me"]
        return blend_of(listed["close"].score) - blend_of(listed["apart"].score)

    measured = gap()
    calibration = ranking.PROFILE_CALIBRATION
    wider = Calibration(mean=calibration.mean, spread=2 * calibration.spread)
    monkeypatch.setattr(ranking, "PROFILE_CALIBRATION", wider)
    halved = gap()

    # Profile cosines 0.9 and 0.3: (0.9 - 0.3) / spread spreads apart, times the weight.
    assert measured == pytest.approx(weights.profile * 0.6 / calibration.spread, abs=READ_BACK)
    assert halved == pytest.approx(measured / 2, abs=READ_BACK)
