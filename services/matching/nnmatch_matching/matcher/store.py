"""The matches read model: each member's latest `MatchesComputed`, served by the HTTP API.

`MatchesStore` is the seam; `RedisMatchesStore` keeps one key per member,
`{prefix}matches:{member}` (the event as JSON), and `MemoryMatchesStore` keeps a dict for
tests of the handlers around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.events import MatchesComputed

GET_MANY_CHUNK = 500


class MatchesStore(Protocol):
    """Each member's latest list; written after Kafka acknowledged it, deleted on erasure."""

    async def put_many(self, computed: Sequence[MatchesComputed]) -> None: ...

    async def get(self, member_id: str) -> MatchesComputed | None: ...

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, MatchesComputed]:
        """The stored lists of those of `member_ids` that have one."""
        ...

    async def delete_many(self, member_ids: Sequence[str]) -> None: ...


class RedisMatchesStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, member_id: str) -> str:
        return f"{self._prefix}matches:{member_id}"

    async def put_many(self, computed: Sequence[MatchesComputed]) -> None:
        if not computed:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in computed:
                pipe.set(self._key(event.member_id), event.model_dump_json())
            await pipe.execute()

    async def get(self, member_id: str) -> MatchesComputed | None:
        raw = await self._redis.get(self._key(member_id))
        return MatchesComputed.model_validate_json(raw) if raw is not None else None

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, MatchesComputed]:
        found: dict[str, MatchesComputed] = {}
        for start in range(0, len(member_ids), GET_MANY_CHUNK):
            chunk = member_ids[start : start + GET_MANY_CHUNK]
            values = await self._redis.mget([self._key(m) for m in chunk])
            for member_id, raw in zip(chunk, values, strict=True):
                if raw is not None:
                    found[member_id] = MatchesComputed.model_validate_json(raw)
        return found

    async def delete_many(self, member_ids: Sequence[str]) -> None:
        if member_ids:
            await self._redis.delete(*[self._key(m) for m in member_ids])


class MemoryMatchesStore:
    """The same contract in a dict, for tests of the logic around it."""

    def __init__(self) -> None:
        self.lists: dict[str, MatchesComputed] = {}

    async def put_many(self, computed: Sequence[MatchesComputed]) -> None:
        self.lists.update((event.member_id, event) for event in computed)

    async def get(self, member_id: str) -> MatchesComputed | None:
        return self.lists.get(member_id)

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, MatchesComputed]:
        return {m: self.lists[m] for m in member_ids if m in self.lists}

    async def delete_many(self, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.lists.pop(member_id, None)
