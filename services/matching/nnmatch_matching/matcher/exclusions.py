"""Who must never be suggested to whom, and who is connected, from members' feedback: pure
state, no I/O.

Accept and dismiss take the candidate out of the giver's own list (the candidate may still be
shown the giver: an introduction needs both to accept). Block works both ways: neither sees
the other again. A block is never undone by a later accept or dismiss (there is no unblock).

Two members are *connected* once either accepted the other and neither blocked the other.
Connections in common are a ranking signal (`ranking.py`): people who already work with the
same people are likely to work together, as the real evaluation set shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nnmatch.events import FeedbackAction


@dataclass(frozen=True)
class PairFeedback:
    """The action in force for one (member, candidate) pair."""

    member_id: str
    candidate_id: str
    action: FeedbackAction


class SelfFeedback(ValueError):
    """Feedback on oneself: never produced by the API, so a record carrying it is refused."""


def stronger(current: FeedbackAction | None, new: FeedbackAction) -> FeedbackAction:
    """The action in force after `new`: a block stays; otherwise the latest word wins."""
    return FeedbackAction.BLOCK if current is FeedbackAction.BLOCK else new


class Exclusions:
    """Per member, the candidates they gave feedback on, and who blocked them."""

    def __init__(self) -> None:
        self._given: dict[str, dict[str, FeedbackAction]] = {}
        # candidate -> members who gave feedback on them (to erase a candidate everywhere)
        self._about: dict[str, set[str]] = {}
        # member -> members who blocked them (the symmetric half of a block)
        self._blocked_by: dict[str, set[str]] = {}

    def __len__(self) -> int:
        """Pairs held."""
        return sum(len(given) for given in self._given.values())

    def record(self, member_id: str, candidate_id: str, action: FeedbackAction) -> PairFeedback:
        """Apply one piece of feedback (idempotent); returns the action now in force."""
        if member_id == candidate_id:
            raise SelfFeedback(f"member {member_id} gave feedback on themself")
        given = self._given.setdefault(member_id, {})
        effective = stronger(given.get(candidate_id), action)
        given[candidate_id] = effective
        self._about.setdefault(candidate_id, set()).add(member_id)
        if effective is FeedbackAction.BLOCK:
            self._blocked_by.setdefault(candidate_id, set()).add(member_id)
        return PairFeedback(member_id, candidate_id, effective)

    def action(self, member_id: str, candidate_id: str) -> FeedbackAction | None:
        return self._given.get(member_id, {}).get(candidate_id)

    def excluded_for(self, member_id: str) -> frozenset[str]:
        """Everyone `member_id` must not be shown: their own feedback plus who blocked them."""
        own = self._given.get(member_id, {})
        return frozenset(own).union(self._blocked_by.get(member_id, ()))

    def excludes(self, member_id: str, candidate_id: str) -> bool:
        """True if `candidate_id` must not be shown to `member_id`."""
        own = self._given.get(member_id, {})
        return candidate_id in own or candidate_id in self._blocked_by.get(member_id, ())

    def connections(self, member_id: str) -> set[str]:
        """Who `member_id` is connected to: an accept either way, no block either way."""
        own = self._given.get(member_id, {})
        out = {c for c, action in own.items() if action is FeedbackAction.ACCEPT}
        for giver in self._about.get(member_id, ()):
            if self._given.get(giver, {}).get(member_id) is FeedbackAction.ACCEPT:
                out.add(giver)
        blocked = {c for c, action in own.items() if action is FeedbackAction.BLOCK}
        return out - blocked - self._blocked_by.get(member_id, set())

    def common_connections(self, member_id: str) -> dict[str, int]:
        """For each member two steps away, how many connections they share with `member_id`."""
        counts: dict[str, int] = {}
        for friend in self.connections(member_id):
            for other in self.connections(friend):
                if other != member_id:
                    counts[other] = counts.get(other, 0) + 1
        return counts

    def forget(self, member_id: str) -> set[str]:
        """Drop everything about an erased member; returns the members whose state held them."""
        touched: set[str] = set()
        for candidate in self._given.pop(member_id, {}):
            self._about.get(candidate, set()).discard(member_id)
            self._blocked_by.get(candidate, set()).discard(member_id)
            self._drop_empty(candidate)
        for giver in self._about.pop(member_id, set()):
            given = self._given.get(giver)
            if given is not None:
                given.pop(member_id, None)
                if not given:
                    del self._given[giver]
            touched.add(giver)
        self._blocked_by.pop(member_id, None)
        return touched

    def _drop_empty(self, candidate_id: str) -> None:
        if not self._about.get(candidate_id, True):
            del self._about[candidate_id]
        if not self._blocked_by.get(candidate_id, True):
            del self._blocked_by[candidate_id]

    def mentions(self, member_id: str) -> bool:
        """True if any state still names `member_id` (erasure must leave none)."""
        return (
            member_id in self._given
            or member_id in self._about
            or member_id in self._blocked_by
            or any(member_id in given for given in self._given.values())
            or any(member_id in who for who in self._blocked_by.values())
        )

    def pairs(self) -> Iterator[PairFeedback]:
        for member_id, given in self._given.items():
            for candidate_id, action in given.items():
                yield PairFeedback(member_id, candidate_id, action)

    def load(self, pairs: Iterable[PairFeedback]) -> None:
        """Restore state saved as pairs (each already the action in force)."""
        for pair in pairs:
            self.record(pair.member_id, pair.candidate_id, pair.action)
