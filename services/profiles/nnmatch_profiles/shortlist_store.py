"""Each hub's shared shortlist of members, kept on the server so every leader of the hub sees
the same one, with an index of the shortlists a member is on (for that member's erasure).
The `ShortlistStore` seam, its Redis adapter and an in-memory fake;
tests/integration/test_hub_shortlist.py runs one set of contract tests on both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, cast

from pydantic import AwareDatetime, BaseModel
from redis.asyncio import Redis

MAX_SHORTLIST = 50


class ShortlistFull(ValueError):
    """A new member past `MAX_SHORTLIST`: remove one first."""


class Shortlisted(BaseModel):
    """One member on a hub's shortlist, and since when."""

    member_id: str
    added_at: AwareDatetime


class ShortlistStore(Protocol):
    """Adding is idempotent (a member already listed keeps their place and time) and never
    goes past `limit`. The member index never misses an entry: it is written with the list,
    in one step, and removed only with the member's last shortlist entry or their erasure."""

    async def add(self, hub_id: str, member_id: str, at: datetime, limit: int) -> None: ...
    async def remove(self, hub_id: str, member_id: str) -> bool: ...
    async def members(self, hub_id: str) -> list[Shortlisted]: ...
    async def forget_member(self, member_id: str) -> list[str]: ...
    async def forget_hub(self, hub_id: str) -> None: ...


# KEYS: the hub's list, the member's index. ARGV: member, hub, time (ms), limit.
# 1 added, 0 already there, -1 full.
_ADD = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _at(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RedisShortlistStore:
    """`<prefix>hub-shortlist:<hub>` sorted set (member → time added, ms) and
    `<prefix>shortlisted-in:<member>` set of hub ids."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._add = redis.register_script(_ADD)

    def _list(self, hub_id: str) -> str:
        return f"{self._prefix}hub-shortlist:{hub_id}"

    def _index(self, member_id: str) -> str:
        return f"{self._prefix}shortlisted-in:{member_id}"

    async def add(self, hub_id: str, member_id: str, at: datetime, limit: int) -> None:
        ms = int(at.timestamp() * 1000)
        keys = [self._list(hub_id), self._index(member_id)]
        if int(await self._add(keys=keys, args=[member_id, hub_id, ms, limit])) < 0:
            raise ShortlistFull(f"hub {hub_id!r} has {limit} members shortlisted; remove one first")

    async def remove(self, hub_id: str, member_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._list(hub_id), member_id)
            pipe.srem(self._index(member_id), hub_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def members(self, hub_id: str) -> list[Shortlisted]:
        found = await self._redis.zrange(self._list(hub_id), 0, -1, withscores=True)
        pairs = cast(list[tuple[bytes, float]], found)
        return [Shortlisted(member_id=_text(m), added_at=_at(score)) for m, score in pairs]

    async def forget_member(self, member_id: str) -> list[str]:
        hubs = sorted(_text(h) for h in await self._redis.smembers(self._index(member_id)))
        async with self._redis.pipeline(transaction=True) as pipe:
            for hub_id in hubs:
                pipe.zrem(self._list(hub_id), member_id)
            pipe.delete(self._index(member_id))
            await pipe.execute()
        return hubs

    async def forget_hub(self, hub_id: str) -> None:
        listed = cast(list[bytes], await self._redis.zrange(self._list(hub_id), 0, -1))
        async with self._redis.pipeline(transaction=True) as pipe:
            for member_id in listed:
                pipe.srem(self._index(_text(member_id)), hub_id)
            pipe.delete(self._list(hub_id))
            await pipe.execute()


@dataclass
class MemoryShortlistStore:
    """The same contract in dicts."""

    lists: dict[str, dict[str, datetime]] = field(default_factory=dict)

    async def add(self, hub_id: str, member_id: str, at: datetime, limit: int) -> None:
        listed = self.lists.setdefault(hub_id, {})
        if member_id in listed:
            return
        if len(listed) >= limit:
            raise ShortlistFull(f"hub {hub_id!r} has {limit} members shortlisted; remove one first")
        listed[member_id] = at.replace(microsecond=at.microsecond // 1000 * 1000)

    async def remove(self, hub_id: str, member_id: str) -> bool:
        return self.lists.get(hub_id, {}).pop(member_id, None) is not None

    async def members(self, hub_id: str) -> list[Shortlisted]:
        listed = sorted(self.lists.get(hub_id, {}).items(), key=lambda item: (item[1], item[0]))
        return [Shortlisted(member_id=m, added_at=at) for m, at in listed]

    async def forget_member(self, member_id: str) -> list[str]:
        hubs = sorted(h for h, listed in self.lists.items() if member_id in listed)
        for hub_id in hubs:
            del self.lists[hub_id][member_id]
        return hubs

    async def forget_hub(self, hub_id: str) -> None:
        self.lists.pop(hub_id, None)
