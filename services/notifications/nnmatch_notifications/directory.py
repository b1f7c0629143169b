"""What notifications knows of hubs, projects and members, to check and word invitations:
the read model of `hubs.v1`, `projects.v1`, `profiles.v1` and suspensions on
`moderation.v1` (the `Directory` seam, its Redis adapter and an in-memory fake).

Only what an invitation needs: a hub's name, country, leaders and visibility; a project's
title and whether it is open; a member's card (name, headline, country) and whether others
may find them. An erasure or deletion removes the entry; the topics are compacted, so a new
consumer group rebuilds all of it by reading them from the start.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from nnmatch.hub import project_key
from nnmatch_notifications.invitations import KnownHub, KnownMember, KnownProject


class Directory(Protocol):
    async def put_hub(self, hub_id: str, hub: KnownHub) -> None: ...

    async def hub(self, hub_id: str) -> KnownHub | None: ...

    async def delete_hub(self, hub_id: str) -> None: ...

    async def put_project(self, hub_id: str, project_id: str, project: KnownProject) -> None: ...

    async def project(self, hub_id: str, project_id: str) -> KnownProject | None: ...

    async def delete_project(self, hub_id: str, project_id: str) -> None: ...

    async def put_member(self, member_id: str, member: KnownMember) -> None:
        """Store the member's card; a suspension already recorded stays."""
        ...

    async def member(self, member_id: str) -> KnownMember | None: ...

    async def set_suspended(self, member_id: str, suspended: bool) -> None: ...

    async def delete_member(self, member_id: str) -> None: ...


M = TypeVar("M", bound=BaseModel)


class RedisDirectory:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, name: str, ident: str) -> str:
        return f"{self._prefix}{name}:{ident}"

    async def _get(self, key: str, model: type[M]) -> M | None:
        raw = await self._redis.get(key)
        return model.model_validate_json(raw) if raw else None

    async def put_hub(self, hub_id: str, hub: KnownHub) -> None:
        await self._redis.set(self._key("dir-hub", hub_id), hub.model_dump_json())

    async def hub(self, hub_id: str) -> KnownHub | None:
        return await self._get(self._key("dir-hub", hub_id), KnownHub)

    async def delete_hub(self, hub_id: str) -> None:
        await self._redis.delete(self._key("dir-hub", hub_id))

    async def put_project(self, hub_id: str, project_id: str, project: KnownProject) -> None:
        key = self._key("dir-project", project_key(hub_id, project_id))
        await self._redis.set(key, project.model_dump_json())

    async def project(self, hub_id: str, project_id: str) -> KnownProject | None:
        key = self._key("dir-project", project_key(hub_id, project_id))
        return await self._get(key, KnownProject)

    async def delete_project(self, hub_id: str, project_id: str) -> None:
        await self._redis.delete(self._key("dir-project", project_key(hub_id, project_id)))

    async def put_member(self, member_id: str, member: KnownMember) -> None:
        suspended = await self._redis.exists(self._key("dir-suspended", member_id))
        stored = member.model_copy(update={"suspended": bool(suspended)})
        await self._redis.set(self._key("dir-member", member_id), stored.model_dump_json())

    async def member(self, member_id: str) -> KnownMember | None:
        known = await self._get(self._key("dir-member", member_id), KnownMember)
        if known is None:
            return None
        suspended = await self._redis.exists(self._key("dir-suspended", member_id))
        return known.model_copy(update={"suspended": bool(suspended)})

    async def set_suspended(self, member_id: str, suspended: bool) -> None:
        key = self._key("dir-suspended", member_id)
        if suspended:
            await self._redis.set(key, "1")
        else:
            await self._redis.delete(key)

    async def delete_member(self, member_id: str) -> None:
        await self._redis.delete(
            self._key("dir-member", member_id), self._key("dir-suspended", member_id)
        )


class MemoryDirectory:
    """The directory contract in dicts, for tests of the logic around it."""

    def __init__(self) -> None:
        self.hubs: dict[str, KnownHub] = {}
        self.projects: dict[str, KnownProject] = {}
        self.members: dict[str, KnownMember] = {}
        self.suspended: set[str] = set()

    async def put_hub(self, hub_id: str, hub: KnownHub) -> None:
        self.hubs[hub_id] = hub

    async def hub(self, hub_id: str) -> KnownHub | None:
        return self.hubs.get(hub_id)

    async def delete_hub(self, hub_id: str) -> None:
        self.hubs.pop(hub_id, None)

    async def put_project(self, hub_id: str, project_id: str, project: KnownProject) -> None:
        self.projects[project_key(hub_id, project_id)] = project

    async def project(self, hub_id: str, project_id: str) -> KnownProject | None:
        return self.projects.get(project_key(hub_id, project_id))

    async def delete_project(self, hub_id: str, project_id: str) -> None:
        self.projects.pop(project_key(hub_id, project_id), None)

    async def put_member(self, member_id: str, member: KnownMember) -> None:
        self.members[member_id] = member

    async def member(self, member_id: str) -> KnownMember | None:
        known = self.members.get(member_id)
        if known is None:
            return None
        return known.model_copy(update={"suspended": member_id in self.suspended})

    async def set_suspended(self, member_id: str, suspended: bool) -> None:
        if suspended:
            self.suspended.add(member_id)
        else:
            self.suspended.discard(member_id)

    async def delete_member(self, member_id: str) -> None:
        self.members.pop(member_id, None)
        self.suspended.discard(member_id)
