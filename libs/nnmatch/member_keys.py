"""Per-member data keys: the store that makes erasure reach every Kafka record at once.

Personal fields on the topics are sealed under their member's key (`nnmatch.shredding`);
erasure deletes the key, so every record ever written for that member becomes unreadable,
whatever the broker's compaction does. One Redis string per member,
`{prefix}member-key:{digest of the id}` (the id itself appears in no key name), holding base64
of 32 random bytes; created on a member's first sealed record (SET NX, so replicas racing agree
on one), read in one MGET per batch.

Erasure replaces the key by an `erased` marker kept for `ERASED_MARKER_TTL_S`: a derived record
still in flight (a list computed before the matcher saw the erasure) then finds no key and is
not written, instead of creating a fresh key and leaving a readable copy. Only the member's own
write (`revive`, a new profile or contact details) replaces the marker by a new key. Records
written before sealing existed carry no seal; their members get a key with their next record.

Losing this Redis loses every key, hence every sealed field: the start-up check in
`nnmatch.redis_durability` refuses a Redis that keeps nothing on disk or may evict keys, and
the README says to back it up with the rest. A key's id (`key_id`) travels with each sealed
field, so a member who is erased and joins again never opens the old records.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

KEY_BYTES = 32
ERASED = b"erased"
ERASED_MARKER_TTL_S = 30 * 86_400
"""Longer than any derived work in flight or any redelivery backoff takes."""


@dataclass(frozen=True, slots=True)
class MemberKey:
    """A member's data key and its short public id (a digest: says nothing about the key).

    The id is made with the key object and the cipher on first use, each once: sealing a
    batch of lists reads both for every member it names, and following the other replicas'
    list heads compares most keys' ids only. Plain slots, not `functools.cached_property`
    (its lock, on Python 3.11); `bench/bench_seal.py` times both. A damaged secret (the wrong
    length) still makes a key object, whose id matches no seal: opening (`open_events`,
    `open_list_heads`) reads the member's records as erased and the batch goes on. Sealing
    for the member raises `ValueError` at `cipher`, so a publish naming them fails and is
    retried; the key store's backups are the remedy (README)."""

    secret: bytes = field(repr=False)
    key_id: str = field(init=False, repr=False, compare=False)
    _cipher: AESGCM | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(b"nnmatch-member-key:" + self.secret).hexdigest()[:16]
        object.__setattr__(self, "key_id", digest)

    @property
    def cipher(self) -> AESGCM:
        """AES-256-GCM under the key, made on first use."""
        cipher = self._cipher
        if cipher is None:
            cipher = AESGCM(self.secret)
            object.__setattr__(self, "_cipher", cipher)
        return cipher


class MemberKeys(Protocol):
    """Where members' data keys live; shared by every service of a deployment."""

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        """The keys that exist; an erased (or never seen) member is absent."""
        ...

    async def get_or_create_many(
        self, member_ids: Iterable[str], *, revive: Iterable[str] = ()
    ) -> dict[str, MemberKey]:
        """Keys of the members given, creating missing ones; an erased member gets none unless
        in `revive` (their own new profile or contact details: a new key)."""
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
    """Keys in Redis, one string each; a batch costs one MGET (plus one pipeline to create)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, member_id: str) -> str:
        digest = hashlib.sha256(member_id.encode("utf-8")).hexdigest()[:32]
        return f"{self._prefix}member-key:{digest}"

    async def _values(self, ids: list[str]) -> dict[str, bytes | str | None]:
        values: Sequence[bytes | str | None] = await self._redis.mget([self.key(m) for m in ids])
        return dict(zip(ids, values, strict=True))

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        ids = list(dict.fromkeys(member_ids))
        if not ids:
            return {}
        return {m: _decode(v) for m, v in (await self._values(ids)).items() if _live(v)}

    async def get_or_create_many(
        self, member_ids: Iterable[str], *, revive: Iterable[str] = ()
    ) -> dict[str, MemberKey]:
        again = set(revive)
        ids = list(dict.fromkeys([*member_ids, *again]))
        if not ids:
            return {}
        values = await self._values(ids)
        missing = [m for m, v in values.items() if v is None]
        revived = [m for m, v in values.items() if v is not None and not _live(v) and m in again]
        if missing or revived:
            async with self._redis.pipeline(transaction=False) as pipe:
                for member_id in missing:
                    pipe.set(self.key(member_id), _encode(new_key()), nx=True)
                for member_id in revived:
                    pipe.set(self.key(member_id), _encode(new_key()))
                await pipe.execute()
            values |= await self._values(missing + revived)  # whoever won SET NX
        return {m: _decode(v) for m, v in values.items() if _live(v)}

    async def delete(self, member_id: str) -> None:
        await self._redis.set(self.key(member_id), ERASED, ex=ERASED_MARKER_TTL_S)


def _live(value: bytes | str | None) -> TypeGuard[bytes | str]:
    return value is not None and value not in (ERASED, ERASED.decode())


class MemoryMemberKeys:
    """In-process keys for unit tests and tools that run without Redis (markers never expire)."""

    def __init__(self) -> None:
        self.keys: dict[str, MemberKey] = {}
        self.erased: set[str] = set()

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        return {m: self.keys[m] for m in member_ids if m in self.keys}

    async def get_or_create_many(
        self, member_ids: Iterable[str], *, revive: Iterable[str] = ()
    ) -> dict[str, MemberKey]:
        again = set(revive)
        ids = list(dict.fromkeys([*member_ids, *again]))
        for member_id in ids:
            if member_id not in self.erased or member_id in again:
                self.erased.discard(member_id)
                self.keys.setdefault(member_id, new_key())
        return {m: self.keys[m] for m in ids if m in self.keys}

    async def delete(self, member_id: str) -> None:
        self.keys.pop(member_id, None)
        self.erased.add(member_id)
