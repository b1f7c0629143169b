"""The matches read model in Redis: each member's latest `MatchesComputed`, for the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from nnmatch.events import MatchesComputed


class RedisMatchesStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, member_id: str) -> str:
        return f"{self._prefix}matches:{member_id}"

    async def put_many(self, computed: Sequence[MatchesComputed]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in computed:
                pipe.set(self._key(event.member_id), event.model_dump_json())
            await pipe.execute()

    async def get(self, member_id: str) -> MatchesComputed | None:
        raw = await self._redis.get(self._key(member_id))
        return MatchesComputed.model_validate_json(raw) if raw is not None else None

    async def delete_many(self, member_ids: Sequence[str]) -> None:
        if member_ids:
            await self._redis.delete(*[self._key(m) for m in member_ids])

    async def ping(self) -> None:
        await self._redis.ping()
