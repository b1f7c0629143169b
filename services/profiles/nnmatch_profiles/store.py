"""The profiles read model: the latest accepted profile per member and its version. The
`ProfileStore` seam, its Redis adapter and an in-memory fake; tests/unit/test_profiles_service.py
runs one set of contract tests on both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.profile import StoredProfile

# Write only if the stored version is not newer, so a slow writer never rolls a profile back.
PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'json', ARGV[2])
return 1
"""


class ProfileStore(Protocol):
    """Versions are handed out once each; a write never replaces a newer version."""

    async def next_versions(self, member_ids: Sequence[str]) -> list[int]: ...
    async def put_many(self, profiles: Sequence[StoredProfile]) -> None: ...
    async def get(self, member_id: str) -> StoredProfile | None: ...
    async def delete(self, member_id: str) -> bool: ...


class RedisProfileStore:
    """`<prefix>profile:<id>` hash (version, json) and `<prefix>profile-version:<id>` counter."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(PUT_IF_NEWER)

    def _profile_key(self, member_id: str) -> str:
        return f"{self._prefix}profile:{member_id}"

    def _version_key(self, member_id: str) -> str:
        return f"{self._prefix}profile-version:{member_id}"

    async def next_versions(self, member_ids: Sequence[str]) -> list[int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in member_ids:
                pipe.incr(self._version_key(member_id))
            return [int(v) for v in await pipe.execute()]

    async def put_many(self, profiles: Sequence[StoredProfile]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for stored in profiles:
                await self._put(
                    keys=[self._profile_key(stored.member_id)],
                    args=[stored.version, stored.model_dump_json()],
                    client=pipe,
                )
            await pipe.execute()

    async def get(self, member_id: str) -> StoredProfile | None:
        raw = await self._redis.hget(self._profile_key(member_id), "json")
        return StoredProfile.model_validate_json(raw) if raw is not None else None

    async def delete(self, member_id: str) -> bool:
        removed = await self._redis.delete(
            self._profile_key(member_id), self._version_key(member_id)
        )
        return bool(removed)


@dataclass
class MemoryProfileStore:
    """The same contract in dicts (profiles kept as JSON, as Redis keeps them)."""

    profiles: dict[str, tuple[int, str]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    async def next_versions(self, member_ids: Sequence[str]) -> list[int]:
        handed: list[int] = []
        for member_id in member_ids:
            self.versions[member_id] = self.versions.get(member_id, 0) + 1
            handed.append(self.versions[member_id])
        return handed

    async def put_many(self, profiles: Sequence[StoredProfile]) -> None:
        for stored in profiles:
            current = self.profiles.get(stored.member_id)
            if current is None or current[0] <= stored.version:
                self.profiles[stored.member_id] = (stored.version, stored.model_dump_json())

    async def get(self, member_id: str) -> StoredProfile | None:
        current = self.profiles.get(member_id)
        return StoredProfile.model_validate_json(current[1]) if current is not None else None

    async def delete(self, member_id: str) -> bool:
        found = self.profiles.pop(member_id, None) is not None
        return self.versions.pop(member_id, None) is not None or found
