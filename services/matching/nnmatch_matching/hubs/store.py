"""The hub partners read model and the hubs' choices, in Redis.

Keys (under the service prefix): `hub-partners:{hub}` the hub's latest `HubPartnersComputed`;
`hub-leaders:{hub}` its leader members, written by the hubs role as hubs.v1 changes (the
accept route may run in a process without that role); `hub-partner-accepted:{hub}` and
`hub-partner-dismissed:{hub}` the partner hubs it chose; `hub-introduced:{a}|{b}` set once
when two hubs accepted each other, so each pair is introduced once. `MemoryHubStore` keeps
the same contract in dicts for unit tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.events import HubPartnersComputed


def pair(a: str, b: str) -> str:
    """The pair's one name, whichever side asks (`|` is outside the hub id alphabet)."""
    return "|".join(sorted((a, b)))


class HubStore(Protocol):
    async def put_partners(self, computed: Sequence[HubPartnersComputed]) -> None: ...

    async def partners(self, hub_id: str) -> HubPartnersComputed | None: ...

    async def put_leaders(self, hub_id: str, leaders: list[str] | None) -> None:
        """The hub's leader members, leaders by role first (None: the hub is gone)."""
        ...

    async def leaders(self, hub_id: str) -> list[str]: ...

    async def choose(self, hub_id: str, other: str, accept: bool) -> None:
        """Record accept (or dismiss) of `other`; the latest choice replaces the earlier."""
        ...

    async def accepted(self, hub_id: str, other: str) -> bool: ...

    async def dismissed(self, hub_id: str) -> set[str]: ...

    async def first_introduction(self, a: str, b: str) -> bool:
        """True once per pair: the caller introduces them."""
        ...

    async def undo_introduction(self, a: str, b: str) -> None: ...


class RedisHubStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, family: str, name: str) -> str:
        return f"{self._prefix}{family}:{name}"

    async def put_partners(self, computed: Sequence[HubPartnersComputed]) -> None:
        if not computed:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in computed:
                pipe.set(self._key("hub-partners", event.hub_id), event.model_dump_json())
            await pipe.execute()

    async def partners(self, hub_id: str) -> HubPartnersComputed | None:
        raw = await self._redis.get(self._key("hub-partners", hub_id))
        return HubPartnersComputed.model_validate_json(raw) if raw is not None else None

    async def put_leaders(self, hub_id: str, leaders: list[str] | None) -> None:
        key = self._key("hub-leaders", hub_id)
        if leaders is None:
            await self._redis.delete(key, self._key("hub-partners", hub_id))
        else:
            await self._redis.set(key, json.dumps(leaders))

    async def leaders(self, hub_id: str) -> list[str]:
        raw = await self._redis.get(self._key("hub-leaders", hub_id))
        return [str(m) for m in json.loads(raw)] if raw is not None else []

    async def choose(self, hub_id: str, other: str, accept: bool) -> None:
        accepted = self._key("hub-partner-accepted", hub_id)
        dismissed = self._key("hub-partner-dismissed", hub_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(accepted if accept else dismissed, other)
            pipe.srem(dismissed if accept else accepted, other)
            await pipe.execute()

    async def accepted(self, hub_id: str, other: str) -> bool:
        return bool(await self._redis.sismember(self._key("hub-partner-accepted", hub_id), other))

    async def dismissed(self, hub_id: str) -> set[str]:
        members = await self._redis.smembers(self._key("hub-partner-dismissed", hub_id))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def first_introduction(self, a: str, b: str) -> bool:
        return bool(await self._redis.set(self._key("hub-introduced", pair(a, b)), "1", nx=True))

    async def undo_introduction(self, a: str, b: str) -> None:
        await self._redis.delete(self._key("hub-introduced", pair(a, b)))


class MemoryHubStore:
    """The same contract in dicts, for unit tests of the logic around it."""

    def __init__(self) -> None:
        self.lists: dict[str, HubPartnersComputed] = {}
        self.leader_ids: dict[str, list[str]] = {}
        self.chosen: dict[tuple[str, str], bool] = {}
        self.introduced: set[str] = set()

    async def put_partners(self, computed: Sequence[HubPartnersComputed]) -> None:
        self.lists.update((event.hub_id, event) for event in computed)

    async def partners(self, hub_id: str) -> HubPartnersComputed | None:
        return self.lists.get(hub_id)

    async def put_leaders(self, hub_id: str, leaders: list[str] | None) -> None:
        if leaders is None:
            self.leader_ids.pop(hub_id, None)
            self.lists.pop(hub_id, None)
        else:
            self.leader_ids[hub_id] = leaders

    async def leaders(self, hub_id: str) -> list[str]:
        return self.leader_ids.get(hub_id, [])

    async def choose(self, hub_id: str, other: str, accept: bool) -> None:
        self.chosen[(hub_id, other)] = accept

    async def accepted(self, hub_id: str, other: str) -> bool:
        return self.chosen.get((hub_id, other)) is True

    async def dismissed(self, hub_id: str) -> set[str]:
        return {o for (h, o), accept in self.chosen.items() if h == hub_id and not accept}

    async def first_introduction(self, a: str, b: str) -> bool:
        if pair(a, b) in self.introduced:
            return False
        self.introduced.add(pair(a, b))
        return True

    async def undo_introduction(self, a: str, b: str) -> None:
        self.introduced.discard(pair(a, b))
