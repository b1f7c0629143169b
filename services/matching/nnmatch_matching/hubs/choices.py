"""A hub accepts or dismisses a partner hub; accepted both ways → its leaders are introduced.

The introduction goes through the members' double opt-in (`feedback.v1`): the two hubs'
first leaders each accept the other, so notifications introduces them as it introduces
members, once, with only the contact details each chose to share. A hub's acceptance is its
leaders' choice, made with the hub's own token.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnmatch.events import FeedbackAction, FeedbackGiven
from nnmatch.publishing import EventPublisher
from nnmatch.topics import FEEDBACK
from nnmatch_matching.hubs.store import HubStore


@dataclass(frozen=True)
class Choice:
    """What an accept did: whether the pair is mutual and whether it introduced them now."""

    mutual: bool
    introduced: bool
    leaders: tuple[str, str] | None = None


async def choose(
    store: HubStore, publisher: EventPublisher, hub_id: str, other: str, accept: bool
) -> Choice:
    await store.choose(hub_id, other, accept)
    if not accept or not await store.accepted(other, hub_id):
        return Choice(mutual=False, introduced=False)
    leaders_a, leaders_b = await store.leaders(hub_id), await store.leaders(other)
    if not leaders_a or not leaders_b or leaders_a[0] == leaders_b[0]:
        return Choice(mutual=True, introduced=False)  # no one to introduce (yet)
    a, b = leaders_a[0], leaders_b[0]
    if not await store.first_introduction(hub_id, other):
        return Choice(mutual=True, introduced=False, leaders=(a, b))
    events = [
        (
            a,
            FeedbackGiven(
                producer=publisher.service,
                member_id=a,
                candidate_id=b,
                action=FeedbackAction.ACCEPT,
            ),
        ),
        (
            b,
            FeedbackGiven(
                producer=publisher.service,
                member_id=b,
                candidate_id=a,
                action=FeedbackAction.ACCEPT,
            ),
        ),
    ]
    try:
        await publisher.publish_many(FEEDBACK, list(events))
    except Exception:
        await store.undo_introduction(hub_id, other)  # the next accept tries again
        raise
    return Choice(mutual=True, introduced=True, leaders=(a, b))
