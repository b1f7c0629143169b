"""What the hub and project routes do, apart from HTTP: version, publish (acks=all), then the
read model; and a member's erasure taken out of every hub's leader list and shortlist."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from nnmatch.events import Event, HubDeleted, HubUpserted, ProjectDeleted, ProjectUpserted
from nnmatch.hub import (
    MAX_PROJECTS_PER_HUB,
    HubProfile,
    ProjectProfile,
    StoredHub,
    StoredProject,
    project_key,
)
from nnmatch.publishing import EventPublisher
from nnmatch.topics import HUBS, PROJECTS, TopicSpec
from nnmatch_profiles.hub_store import HubStore
from nnmatch_profiles.service import BrokerUnavailable
from nnmatch_profiles.shortlist_store import ShortlistStore

log = logging.getLogger(__name__)


class UnknownHub(LookupError):
    """A project was written for a hub that has no profile yet."""


class TooManyProjects(ValueError):
    """A new project past `MAX_PROJECTS_PER_HUB`: delete one first."""


class HubService:
    """Kafka first, then the read model, as for member profiles: an acknowledged hub survives
    Redis, and one Kafka refused is never shown."""

    def __init__(
        self,
        store: HubStore,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
        *,
        shortlists: ShortlistStore,
    ) -> None:
        self._store = store
        self._shortlists = shortlists
        self._publisher = publisher
        self._clock = clock

    # --- hubs -------------------------------------------------------------------------------

    async def upsert_hub(self, hub_id: str, hub: HubProfile) -> StoredHub:
        # Indexed before publishing: a leader's erasure must find every hub Kafka has.
        await self._store.index_leaders(hub_id, [leader.member_id for leader in hub.leaders])
        version = await self._store.next_hub_version(hub_id)
        now = self._clock()
        stored = StoredHub(
            hub_id=hub_id, version=version, updated_at=now, region=hub.region, hub=hub
        )
        event = HubUpserted(
            producer=self._publisher.service,
            occurred_at=now,
            hub_id=hub_id,
            version=version,
            hub=hub,
        )
        await self._publish(HUBS, [(hub_id, event)])
        await self._after_ack(self._store.put_hub(stored))
        return stored

    async def get_hub(self, hub_id: str) -> StoredHub | None:
        return await self._store.get_hub(hub_id)

    async def delete_hub(self, hub_id: str) -> bool:
        """Delete the hub's projects, then the hub (each an event and a tombstone); False if
        the hub is unknown."""
        if await self._store.get_hub(hub_id) is None:
            return False
        for project_id in await self._store.project_ids(hub_id):
            await self.delete_project(hub_id, project_id)
        now = self._clock()
        deleted = HubDeleted(producer=self._publisher.service, occurred_at=now, hub_id=hub_id)
        await self._publish(HUBS, [(hub_id, deleted), (hub_id, None)])
        await self._store.delete_hub(hub_id)
        await self._shortlists.forget_hub(hub_id)
        return True

    async def remove_leader(self, member_id: str) -> list[str]:
        """A member is being erased: every hub listing them as a leader is republished
        without them (the hub itself stays), and they leave every hub's shortlist. Returns the
        hubs whose profile changed.

        Called before the member's own deletion is published, so a crash in between leaves a
        member who still exists, and repeating the erasure finishes the job."""
        changed: list[str] = []
        for hub_id in await self._store.hubs_led_by(member_id):
            stored = await self._store.get_hub(hub_id)
            if stored is None or not stored.hub.led_by(member_id):
                continue  # a stale index entry: that hub no longer lists them
            await self.upsert_hub(hub_id, stored.hub.without_leader(member_id))
            changed.append(hub_id)
        await self._store.forget_leader(member_id)
        await self._shortlists.forget_member(member_id)
        return changed

    # --- projects ---------------------------------------------------------------------------

    async def upsert_project(
        self, hub_id: str, project_id: str, project: ProjectProfile
    ) -> StoredProject:
        if await self._store.get_hub(hub_id) is None:
            raise UnknownHub(hub_id)
        is_new = await self._store.get_project(hub_id, project_id) is None
        if is_new and len(await self._store.project_ids(hub_id)) >= MAX_PROJECTS_PER_HUB:
            raise TooManyProjects(
                f"hub {hub_id!r} has {MAX_PROJECTS_PER_HUB} projects already; delete one first"
            )
        version = await self._store.next_project_version(hub_id, project_id)
        now = self._clock()
        stored = StoredProject(
            hub_id=hub_id, project_id=project_id, version=version, updated_at=now, project=project
        )
        event = ProjectUpserted(
            producer=self._publisher.service,
            occurred_at=now,
            hub_id=hub_id,
            project_id=project_id,
            version=version,
            project=project,
        )
        await self._publish(PROJECTS, [(project_key(hub_id, project_id), event)])
        await self._after_ack(self._store.put_project(stored))
        return stored

    async def get_project(self, hub_id: str, project_id: str) -> StoredProject | None:
        return await self._store.get_project(hub_id, project_id)

    async def projects_of(self, hub_id: str) -> list[StoredProject]:
        """The hub's projects, by id (a hub has at most `MAX_PROJECTS_PER_HUB`)."""
        ids = await self._store.project_ids(hub_id)
        found = [await self._store.get_project(hub_id, p) for p in ids]
        return [p for p in found if p is not None]

    async def delete_project(self, hub_id: str, project_id: str) -> bool:
        if await self._store.get_project(hub_id, project_id) is None:
            return False
        key = project_key(hub_id, project_id)
        deleted = ProjectDeleted(
            producer=self._publisher.service,
            occurred_at=self._clock(),
            hub_id=hub_id,
            project_id=project_id,
        )
        await self._publish(PROJECTS, [(key, deleted), (key, None)])
        await self._store.delete_project(hub_id, project_id)
        return True

    # --- shell ------------------------------------------------------------------------------

    async def _publish(self, spec: TopicSpec, events: Sequence[tuple[str, Event | None]]) -> None:
        try:
            await self._publisher.publish_many(spec, events)
        except Exception as exc:
            log.error("kafka did not acknowledge hub writes", extra={"error": repr(exc)})
            raise BrokerUnavailable(str(exc)) from exc

    async def _after_ack(self, write: Awaitable[None]) -> None:
        # Already in Kafka: a read-model failure must not turn an accepted write into an error.
        try:
            await write
        except Exception as exc:
            log.error("hub read model update failed after kafka ack", extra={"error": repr(exc)})
