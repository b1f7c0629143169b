"""The hubs role's projects.v1 consumer: records into the project keeper (thin)."""

from __future__ import annotations

from collections.abc import Sequence

from nnmatch.events import ProjectDeleted, ProjectUpserted
from nnmatch.hub import project_key
from nnmatch.messaging import Inbound, Rejection, latest_per_key
from nnmatch_matching.projects.keeper import ProjectKeeper

ProjectEvent = ProjectUpserted | ProjectDeleted


def wrong_key(key: str | None, event: ProjectEvent | None) -> str | None:
    """Why a projects.v1 record is refused, or None: a project's events sit under
    `<hub_id>/<project_id>` (else it would outlive its own tombstone)."""
    if event is not None and key != project_key(event.hub_id, event.project_id):
        expected = project_key(event.hub_id, event.project_id)
        return f"key {key!r} is not the event's {expected!r} (projects.v1 is keyed hub/project)"
    return None


class ApplyProjects:
    """projects.v1 → open projects embedded and kept, closed or deleted ones gone. A record
    under another key than its project's is refused (dead-lettered)."""

    def __init__(self, keeper: ProjectKeeper) -> None:
        self._keeper = keeper

    async def __call__(self, batch: list[Inbound[ProjectEvent]]) -> Sequence[Rejection]:
        refused: list[Rejection] = []
        good: list[Inbound[ProjectEvent]] = []
        for record in batch:
            cause = wrong_key(record.key, record.event)
            if cause is None:
                good.append(record)
            else:
                refused.append(Rejection(record, cause))
        latest = {r.key: r.event for r in latest_per_key(good) if r.key is not None}
        upserts = [e for e in latest.values() if isinstance(e, ProjectUpserted)]
        gone = [key for key, e in latest.items() if not isinstance(e, ProjectUpserted)]
        if upserts:
            await self._keeper.put_projects(upserts)
        if gone:
            await self._keeper.drop_projects(gone)
        return refused
