"""moderation.v1 → the reporter learns what became of their report: one in-app item.

The item sits under the pair key `report:<report id>` in the inbox's never-twice rule, so a
redelivered or re-published outcome adds nothing. It names the reported member by id only
(notifications holds no one's name for it) and goes to the in-app inbox alone: no e-mail or
webhook carries it. Suspension events on the topic are the profiles service's record and need
nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence

from nnmatch.events import (
    MemberSuspended,
    MemberUnsuspended,
    Reason,
    ReportOutcome,
    ReportResolved,
    Suggestion,
)
from nnmatch.messaging import Inbound, Rejection
from nnmatch_notifications.handlers import Adapters
from nnmatch_notifications.inbox import ItemKind, NewItem

OUTCOME_TEXT = {
    ReportOutcome.SUSPENDED: "Thank you for your report. An operator reviewed it and "
    "suspended this member: they no longer appear in anyone's suggestions or searches.",
    ReportOutcome.DISMISSED: "Thank you for your report. An operator reviewed it and took no "
    "action this time. You can still block this member from your suggestions.",
}

ModerationEvent = MemberSuspended | MemberUnsuspended | ReportResolved


def outcome_item(event: ReportResolved) -> NewItem:
    note = Suggestion(
        member_id=event.target_id,
        display_name=event.target_id,
        country="",
        score=0.0,
        reasons=[
            Reason(
                kind=f"report_{event.outcome}",
                text=OUTCOME_TEXT[event.outcome],
                params={"outcome": str(event.outcome)},
            )
        ],
        computed_at=event.occurred_at,
    )
    return NewItem(
        candidate_id=f"report:{event.report_id}",
        kind=ItemKind.REPORT_OUTCOME,
        created_at=event.occurred_at,
        suggestion=note,
    )


class TellReporters:
    def __init__(self, adapters: Adapters) -> None:
        self._inbox = adapters.inbox

    async def __call__(self, batch: list[Inbound[ModerationEvent]]) -> Sequence[Rejection]:
        updates = [
            (record.event.reporter_id, [outcome_item(record.event)])
            for record in batch
            if isinstance(record.event, ReportResolved)
        ]
        if updates:
            await self._inbox.add_new_many(updates, limit=1)
        return []
