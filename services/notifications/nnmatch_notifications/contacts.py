"""Members' contact details and preferences: the Redis read model of `contacts.v1`.

The topic is the durable copy (the API publishes first, acks=all); this is what deliveries read.
A member who never set anything gets the defaults (in-app only, instant).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from nnmatch.contact import DeliverySettings


class RedisContacts:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, member_id: str) -> str:
        return f"{self._prefix}contact:{member_id}"

    async def get(self, member_id: str) -> DeliverySettings:
        raw = await self._redis.get(self._key(member_id))
        return DeliverySettings.model_validate_json(raw) if raw else DeliverySettings()

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, DeliverySettings]:
        if not member_ids:
            return {}
        raws = await self._redis.mget([self._key(m) for m in member_ids])
        return {
            m: DeliverySettings.model_validate_json(raw) if raw else DeliverySettings()
            for m, raw in zip(member_ids, raws, strict=True)
        }

    async def put(self, member_id: str, settings: DeliverySettings) -> None:
        await self._redis.set(self._key(member_id), settings.model_dump_json())

    async def delete(self, member_id: str) -> None:
        await self._redis.delete(self._key(member_id))
