"""hubs.v1, projects.v1, profiles.v1 and moderation.v1 → the directory invitations are
checked against (directory.py); a deleted project withdraws its pending invitations and an
erased member's invitations are forgotten.

hubs.v1 and projects.v1 get consumer groups of their own (reading the compacted topics from
the start). profiles.v1 and moderation.v1 already have one here (the eraser, the reporters'
outcomes): `Together` runs the learning in the same group after the handler it joins, so a
bad record is dead-lettered once by notifications, not once per job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from nnmatch.events import (
    Event,
    HubDeleted,
    HubUpserted,
    MemberSuspended,
    MemberUnsuspended,
    ProfileDeleted,
    ProfileUpserted,
    ProjectDeleted,
    ProjectUpserted,
    ReportResolved,
)
from nnmatch.messaging import BatchHandler, Inbound, Rejection
from nnmatch_notifications.directory import Directory
from nnmatch_notifications.invitation_desk import InvitationDesk
from nnmatch_notifications.invitations import KnownHub, KnownMember, KnownProject

E = TypeVar("E", bound=Event)


class Together(Generic[E]):
    """Several handlers of one topic's batches under one consumer group, in order; their
    rejections together (the batch is committed once all are done). A record one handler
    refuses is dead-lettered once and not passed to the handlers after it."""

    def __init__(self, *handlers: BatchHandler[E]) -> None:
        self._handlers = handlers

    async def __call__(self, batch: list[Inbound[E]]) -> Sequence[Rejection]:
        rejected: dict[tuple[str, int, int], Rejection] = {}
        for handler in self._handlers:
            remaining = [r for r in batch if _place(r) not in rejected]
            for rejection in await handler(remaining) or ():
                rejected.setdefault(_place(rejection.record), rejection)
        return list(rejected.values())


def _place(record: Inbound[Any]) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


class LearnHubs:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def __call__(self, batch: list[Inbound[HubUpserted | HubDeleted]]) -> Sequence[Rejection]:
        for record in batch:
            if isinstance(record.event, HubUpserted):
                await self._directory.put_hub(record.event.hub_id, KnownHub.of(record.event.hub))
            elif record.key:  # deleted, or its tombstone (its projects' deletions follow)
                await self._directory.delete_hub(record.key)
        return []


class LearnProjects:
    def __init__(self, directory: Directory, desk: InvitationDesk) -> None:
        self._directory = directory
        self._desk = desk

    async def __call__(
        self, batch: list[Inbound[ProjectUpserted | ProjectDeleted]]
    ) -> Sequence[Rejection]:
        for record in batch:
            event = record.event
            if isinstance(event, ProjectUpserted):
                known = KnownProject.of(event.project)
                await self._directory.put_project(event.hub_id, event.project_id, known)
                continue
            if isinstance(event, ProjectDeleted):
                hub_id, project_id = event.hub_id, event.project_id
            elif record.key and "/" in record.key:  # a tombstone: `<hub id>/<project id>`
                hub_id, _, project_id = record.key.partition("/")
            else:
                continue
            await self._directory.delete_project(hub_id, project_id)
            await self._desk.withdraw_project(hub_id, project_id)
        return []


class LearnMembers:
    def __init__(self, directory: Directory, desk: InvitationDesk) -> None:
        self._directory = directory
        self._desk = desk

    async def __call__(
        self, batch: list[Inbound[ProfileUpserted | ProfileDeleted]]
    ) -> Sequence[Rejection]:
        for record in batch:
            if isinstance(record.event, ProfileUpserted):
                known = KnownMember.of(record.event.profile)
                await self._directory.put_member(record.event.member_id, known)
            elif record.key:  # erased (the event, then its tombstone)
                await self._directory.delete_member(record.key)
                await self._desk.erase_member(record.key)
        return []


class LearnSuspensions:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def __call__(
        self, batch: list[Inbound[MemberSuspended | MemberUnsuspended | ReportResolved]]
    ) -> Sequence[Rejection]:
        for record in batch:
            event = record.event
            if isinstance(event, MemberSuspended | MemberUnsuspended):
                await self._directory.set_suspended(
                    event.member_id, isinstance(event, MemberSuspended)
                )
        return []
