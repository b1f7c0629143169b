"""Pure inbox rules: which suggestions are worth sending, and what an inbox item looks like.

The at-most-once-per-pair rule itself is enforced atomically in Redis (store.py); here is what
is decided before that: order, threshold and how many new ones one update may add.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from nnmatch.events import MatchesComputed, Suggestion


class ItemKind(StrEnum):
    SUGGESTION = "suggestion"
    INTRODUCTION = "introduction"
    REPORT_OUTCOME = "report_outcome"
    PROJECT_INVITATION = "project_invitation"


class InvitationRef(BaseModel):
    """What an invitation item is about: the hub, its project and the invitation's id (which
    the accept and decline routes take); invitations.py makes them."""

    model_config = ConfigDict(frozen=True)

    invitation_id: str
    hub_id: str
    hub_name: str
    project_id: str
    project_title: str
    status: str | None = None
    """pending, accepted or declined, filled when the inbox is read (None: withdrawn)."""


class InboxItem(BaseModel):
    """One entry of a member's in-app inbox."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    kind: ItemKind
    created_at: AwareDatetime
    read: bool = False
    suggestion: Suggestion
    # Introductions only: the contact details the other member chose to share.
    shared_email: str | None = None
    # Project invitations only: the hub and project (the suggestion card shows them too).
    invitation: InvitationRef | None = None


class NewItem(BaseModel):
    """An item to add, keyed by the pair it is about (the dedupe key)."""

    model_config = ConfigDict(frozen=True)

    candidate_id: str
    kind: ItemKind
    created_at: AwareDatetime
    suggestion: Suggestion
    shared_email: str | None = None
    invitation: InvitationRef | None = None


def candidates_to_send(
    update: MatchesComputed, min_score: float, limit: int, now: datetime
) -> list[NewItem]:
    """The update's best suggestions above the threshold, best first, at most four times
    `limit`: the store adds at most `limit` of them and skips pairs already suggested, so the
    spares fill the places of repeats.
    """
    eligible: Sequence[Suggestion] = [
        s for s in update.suggestions if s.score >= min_score and s.member_id != update.member_id
    ]
    ranked = sorted(eligible, key=lambda s: (-s.score, s.member_id))
    return [
        NewItem(candidate_id=s.member_id, kind=ItemKind.SUGGESTION, created_at=now, suggestion=s)
        for s in ranked[: limit * 4]
    ]
