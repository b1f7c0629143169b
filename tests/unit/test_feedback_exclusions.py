"""The exclusion state built from feedback: pure, no I/O."""

from __future__ import annotations

import pytest

from nnmatch.events import FeedbackAction
from nnmatch_matching.matcher.exclusions import Exclusions, PairFeedback, SelfFeedback

ACCEPT, DISMISS, BLOCK = FeedbackAction.ACCEPT, FeedbackAction.DISMISS, FeedbackAction.BLOCK


@pytest.mark.parametrize("action", list(FeedbackAction))
def test_every_action_excludes_the_candidate_from_the_givers_list(action: FeedbackAction) -> None:
    state = Exclusions()

    pair = state.record("a", "b", action)

    assert pair == PairFeedback("a", "b", action)
    assert state.excludes("a", "b")
    assert state.excluded_for("a") == {"b"}


@pytest.mark.parametrize("action", [ACCEPT, DISMISS])
def test_accept_and_dismiss_leave_the_candidates_own_list_alone(action: FeedbackAction) -> None:
    state = Exclusions()

    state.record("a", "b", action)

    assert not state.excludes("b", "a")
    assert state.excluded_for("b") == frozenset()


def test_block_works_both_ways() -> None:
    state = Exclusions()

    state.record("a", "b", BLOCK)

    assert state.excludes("a", "b")
    assert state.excludes("b", "a")
    assert state.excluded_for("b") == {"a"}


@pytest.mark.parametrize("later", [ACCEPT, DISMISS])
def test_a_block_is_not_undone_by_later_feedback(later: FeedbackAction) -> None:
    state = Exclusions()
    state.record("a", "b", BLOCK)

    pair = state.record("a", "b", later)

    assert pair.action is BLOCK
    assert state.excludes("b", "a")


def test_the_latest_of_accept_and_dismiss_is_in_force() -> None:
    state = Exclusions()
    state.record("a", "b", DISMISS)

    assert state.record("a", "b", ACCEPT).action is ACCEPT
    assert state.record("a", "b", DISMISS).action is DISMISS
    assert state.record("a", "b", BLOCK).action is BLOCK


def test_recording_the_same_feedback_twice_changes_nothing() -> None:
    state = Exclusions()
    state.record("a", "b", DISMISS)
    state.record("a", "b", DISMISS)

    assert len(state) == 1
    assert list(state.pairs()) == [PairFeedback("a", "b", DISMISS)]


def test_feedback_on_oneself_is_refused() -> None:
    with pytest.raises(SelfFeedback):
        Exclusions().record("a", "a", BLOCK)


def test_forgetting_an_erased_member_leaves_no_mention_of_them() -> None:
    state = Exclusions()
    state.record("gone", "b", BLOCK)
    state.record("gone", "c", ACCEPT)
    state.record("d", "gone", BLOCK)
    state.record("e", "gone", DISMISS)
    state.record("d", "b", DISMISS)

    touched = state.forget("gone")

    assert touched == {"d", "e"}
    assert not state.mentions("gone")
    assert list(state.pairs()) == [PairFeedback("d", "b", DISMISS)]
    assert state.excluded_for("b") == frozenset(), "gone's block of b is gone too"
    assert state.excluded_for("d") == {"b"}
    assert state.excluded_for("e") == frozenset()


def test_state_saved_as_pairs_loads_back_the_same() -> None:
    state = Exclusions()
    state.record("a", "b", BLOCK)
    state.record("a", "c", ACCEPT)
    state.record("c", "a", DISMISS)

    copy = Exclusions()
    copy.load(state.pairs())

    assert sorted(copy.pairs(), key=str) == sorted(state.pairs(), key=str)
    assert copy.excludes("b", "a")
    assert not copy.excludes("b", "c")
