"""The hubs read model: the latest accepted hub and project profiles, their versions, and two
indexes (a hub's projects; the hubs a member is listed as leading, for that member's erasure).
The `HubStore` seam, its Redis adapter and an in-memory fake; tests/unit/test_hubs_service.py
and tests/integration/test_hubs_api.py run the service on each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.hub import StoredHub, StoredProject, project_key
from nnmatch_profiles.store import PUT_IF_NEWER


class HubStore(Protocol):
    """Versions are handed out once each; a write never replaces a newer version.

    The leader index may hold stale entries (a member who no longer leads that hub): readers
    check the hub itself. It never misses one: entries are added before the hub is published,
    and removed only at the member's erasure."""

    async def next_hub_version(self, hub_id: str) -> int: ...
    async def index_leaders(self, hub_id: str, member_ids: Sequence[str]) -> None: ...
    async def put_hub(self, stored: StoredHub) -> None: ...
    async def get_hub(self, hub_id: str) -> StoredHub | None: ...
    async def delete_hub(self, hub_id: str) -> None: ...
    async def hubs_led_by(self, member_id: str) -> list[str]: ...
    async def forget_leader(self, member_id: str) -> None: ...
    async def next_project_version(self, hub_id: str, project_id: str) -> int: ...
    async def put_project(self, stored: StoredProject) -> None: ...
    async def get_project(self, hub_id: str, project_id: str) -> StoredProject | None: ...
    async def delete_project(self, hub_id: str, project_id: str) -> None: ...
    async def project_ids(self, hub_id: str) -> list[str]: ...


class RedisHubStore:
    """`<prefix>hub:<id>` and `<prefix>project:<hub>/<project>` hashes (version, json), their
    `-version:` counters, `<prefix>hub-projects:<hub>` and `<prefix>hub-leader:<member>` sets."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(PUT_IF_NEWER)

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}:{ident}"

    async def next_hub_version(self, hub_id: str) -> int:
        return int(await self._redis.incr(self._key("hub-version", hub_id)))

    async def index_leaders(self, hub_id: str, member_ids: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in member_ids:
                pipe.sadd(self._key("hub-leader", member_id), hub_id)
            await pipe.execute()

    async def put_hub(self, stored: StoredHub) -> None:
        await self._put(
            keys=[self._key("hub", stored.hub_id)], args=[stored.version, stored.model_dump_json()]
        )

    async def get_hub(self, hub_id: str) -> StoredHub | None:
        raw = await self._redis.hget(self._key("hub", hub_id), "json")
        return StoredHub.model_validate_json(raw) if raw is not None else None

    async def delete_hub(self, hub_id: str) -> None:
        await self._redis.delete(
            self._key("hub", hub_id),
            self._key("hub-version", hub_id),
            self._key("hub-projects", hub_id),
        )

    async def hubs_led_by(self, member_id: str) -> list[str]:
        members = await self._redis.smembers(self._key("hub-leader", member_id))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def forget_leader(self, member_id: str) -> None:
        await self._redis.delete(self._key("hub-leader", member_id))

    async def next_project_version(self, hub_id: str, project_id: str) -> int:
        key = self._key("project-version", project_key(hub_id, project_id))
        return int(await self._redis.incr(key))

    async def put_project(self, stored: StoredProject) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._put(
                keys=[self._key("project", project_key(stored.hub_id, stored.project_id))],
                args=[stored.version, stored.model_dump_json()],
                client=pipe,
            )
            pipe.sadd(self._key("hub-projects", stored.hub_id), stored.project_id)
            await pipe.execute()

    async def get_project(self, hub_id: str, project_id: str) -> StoredProject | None:
        raw = await self._redis.hget(self._key("project", project_key(hub_id, project_id)), "json")
        return StoredProject.model_validate_json(raw) if raw is not None else None

    async def delete_project(self, hub_id: str, project_id: str) -> None:
        key = project_key(hub_id, project_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(self._key("project", key), self._key("project-version", key))
            pipe.srem(self._key("hub-projects", hub_id), project_id)
            await pipe.execute()

    async def project_ids(self, hub_id: str) -> list[str]:
        members = await self._redis.smembers(self._key("hub-projects", hub_id))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)


@dataclass
class MemoryHubStore:
    """The same contract in dicts (kept as JSON, as Redis keeps them)."""

    hubs: dict[str, tuple[int, str]] = field(default_factory=dict)
    projects: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    leaders: dict[str, set[str]] = field(default_factory=dict)

    def _next(self, key: str) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]

    async def next_hub_version(self, hub_id: str) -> int:
        return self._next(f"hub:{hub_id}")

    async def index_leaders(self, hub_id: str, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.leaders.setdefault(member_id, set()).add(hub_id)

    async def put_hub(self, stored: StoredHub) -> None:
        current = self.hubs.get(stored.hub_id)
        if current is None or current[0] <= stored.version:
            self.hubs[stored.hub_id] = (stored.version, stored.model_dump_json())

    async def get_hub(self, hub_id: str) -> StoredHub | None:
        current = self.hubs.get(hub_id)
        return StoredHub.model_validate_json(current[1]) if current is not None else None

    async def delete_hub(self, hub_id: str) -> None:
        self.hubs.pop(hub_id, None)
        self.versions.pop(f"hub:{hub_id}", None)

    async def hubs_led_by(self, member_id: str) -> list[str]:
        return sorted(self.leaders.get(member_id, set()))

    async def forget_leader(self, member_id: str) -> None:
        self.leaders.pop(member_id, None)

    async def next_project_version(self, hub_id: str, project_id: str) -> int:
        return self._next(f"project:{project_key(hub_id, project_id)}")

    async def put_project(self, stored: StoredProject) -> None:
        key = (stored.hub_id, stored.project_id)
        current = self.projects.get(key)
        if current is None or current[0] <= stored.version:
            self.projects[key] = (stored.version, stored.model_dump_json())

    async def get_project(self, hub_id: str, project_id: str) -> StoredProject | None:
        current = self.projects.get((hub_id, project_id))
        return StoredProject.model_validate_json(current[1]) if current is not None else None

    async def delete_project(self, hub_id: str, project_id: str) -> None:
        self.projects.pop((hub_id, project_id), None)
        self.versions.pop(f"project:{project_key(hub_id, project_id)}", None)

    async def project_ids(self, hub_id: str) -> list[str]:
        return sorted(p for h, p in self.projects if h == hub_id)
