"""Which suggestions of a matches update are worth sending, in which order."""

from __future__ import annotations

from datetime import UTC, datetime

from nnmatch.events import MatchesComputed, Suggestion
from nnmatch_notifications.inbox import ItemKind, candidates_to_send

COMPUTED = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)


def _update(member_id: str, scores: dict[str, float]) -> MatchesComputed:
    return MatchesComputed(
        producer="matching",
        member_id=member_id,
        profile_version=1,
        model_id="mini@1",
        suggestions=[
            Suggestion(
                member_id=candidate,
                display_name=f"Member {candidate}",
                country="KE",
                score=score,
                computed_at=COMPUTED,
            )
            for candidate, score in scores.items()
        ],
    )


def test_the_member_themself_is_never_sent() -> None:
    update = _update("me", {"me": 0.99, "kofi": 0.8})

    items = candidates_to_send(update, min_score=0.3, limit=10, now=NOW)

    assert [item.candidate_id for item in items] == ["kofi"]


def test_scores_below_the_threshold_are_dropped_and_the_threshold_itself_kept() -> None:
    update = _update("me", {"low": 0.29, "edge": 0.3, "high": 0.7})

    items = candidates_to_send(update, min_score=0.3, limit=10, now=NOW)

    assert [item.candidate_id for item in items] == ["high", "edge"]


def test_best_suggestions_come_first_ties_by_member_id() -> None:
    update = _update("me", {"c": 0.5, "b": 0.9, "a": 0.5, "d": 0.95})

    items = candidates_to_send(update, min_score=0.0, limit=10, now=NOW)

    assert [item.candidate_id for item in items] == ["d", "b", "a", "c"]


def test_items_are_suggestions_stamped_now_carrying_the_suggestion() -> None:
    update = _update("me", {"kofi": 0.8})

    (item,) = candidates_to_send(update, min_score=0.3, limit=10, now=NOW)

    assert item.kind is ItemKind.SUGGESTION
    assert item.created_at == NOW
    assert item.suggestion == update.suggestions[0]


def test_nothing_above_the_threshold_sends_nothing() -> None:
    update = _update("me", {"a": 0.1, "b": 0.2})

    assert candidates_to_send(update, min_score=0.5, limit=10, now=NOW) == []


def test_an_update_offers_four_times_the_limit_so_the_store_can_skip_repeats() -> None:
    update = _update("me", {f"c-{i:02}": 0.5 for i in range(30)})

    items = candidates_to_send(update, min_score=0.0, limit=5, now=NOW)

    assert [item.candidate_id for item in items] == [f"c-{i:02}" for i in range(20)]
