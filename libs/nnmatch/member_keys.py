"""Per-member data keys: the store that makes erasure reach every Kafka record at once.

Personal fields on the topics are sealed under their member's key (`nnmatch.shredding`);
erasure deletes the key, so every record ever written for that member becomes unreadable,
whatever the broker's compaction does. One Redis string per member,
`{prefix}member-key:{member_id}`, holding base64 of 32 random bytes; created once (SET NX,
so two replicas creating at the same time agree on one), read in one MGET per batch, and
deleted on erasure.

Losing this Redis loses every key, hence every sealed field: the start-up check in
`nnmatch.redis_durability` refuses a Redis that keeps nothing on disk or may evict keys, and
the README's backup note covers it. A key's id (`key_id`) travels with each sealed field, so
a member who is erased and then joins again under the same id never opens the old records.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

KEY_BYTES = 32


@dataclass(frozen=True)
class MemberKey:
    """A member's data key and its short public id (a digest: says nothing about the key)."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"nnmatch-member-key:" + self.secret).hexdigest()[:16]


class MemberKeys(Protocol):
    """Where members' data keys live; shared by every service of a deployment."""

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        """The keys that exist; an erased (or never seen) member is absent."""
        ...

    async def get_or_create_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        """Every member's key, creating those missing (first write of a member's data)."""
        ...

    async def delete(self, member_id: str) -> None:
        """Erase: every field ever sealed under the key becomes unreadable."""
        ...


def new_key() -> MemberKey:
    return MemberKey(os.urandom(KEY_BYTES))


def _encode(key: MemberKey) -> bytes:
    return base64.b64encode(key.secret)


def _decode(raw: bytes | str) -> MemberKey:
    return MemberKey(base64.b64decode(raw))


class RedisMemberKeys:
    """Keys in Redis, one string each; batches cost one round trip (MGET, pipelined SET NX)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, member_id: str) -> str:
        return f"{self._prefix}member-key:{member_id}"

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        ids = list(dict.fromkeys(member_ids))
        if not ids:
            return {}
        values: Sequence[bytes | str | None] = await self._redis.mget([self.key(m) for m in ids])
        return {m: _decode(v) for m, v in zip(ids, values, strict=True) if v is not None}

    async def get_or_create_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        ids = list(dict.fromkeys(member_ids))
        found = await self.get_many(ids)
        missing = [m for m in ids if m not in found]
        if missing:
            async with self._redis.pipeline(transaction=False) as pipe:
                for member_id in missing:
                    pipe.set(self.key(member_id), _encode(new_key()), nx=True)
                await pipe.execute()
            found |= await self.get_many(missing)  # whoever won SET NX
        return found

    async def delete(self, member_id: str) -> None:
        await self._redis.delete(self.key(member_id))


class MemoryMemberKeys:
    """In-process keys for unit tests and tools that run without Redis."""

    def __init__(self) -> None:
        self.keys: dict[str, MemberKey] = {}

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        return {m: self.keys[m] for m in member_ids if m in self.keys}

    async def get_or_create_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        ids = list(member_ids)
        for member_id in ids:
            self.keys.setdefault(member_id, new_key())
        return {m: self.keys[m] for m in ids}

    async def delete(self, member_id: str) -> None:
        self.keys.pop(member_id, None)
