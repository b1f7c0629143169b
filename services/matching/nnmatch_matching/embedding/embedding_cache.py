"""The embedder's memory of what it last embedded per member, in Redis: unchanged text is reused.

One hash per member, `{prefix}embedding:{member}`: `model` (`id@version` of the model that made
the vectors), `version` (the profile version they came from), and per vector kind
`hash:<kind>` (sha256 of the text) and `vector:<kind>` (little-endian float32 bytes, exactly
what the event carried). The embedder reads the entries of a whole batch in one round trip and
writes them only after Kafka acknowledged the vectors, so a crash in between re-embeds rather
than remembers vectors nobody received. An erasure deletes the member's entry.

At 384 dimensions an entry is about 4.7 KB (three vectors of 1,536 bytes): 55,000 members take
about 260 MB of Redis, the price of never recomputing a vector whose text did not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from nnmatch.events import EmbeddingModel, VectorKind


def model_key(model: EmbeddingModel) -> str:
    """`id@version`: the name under which the matcher compares vectors (engine.py uses it too)."""
    return f"{model.id}@{model.version}"


@dataclass(frozen=True)
class CachedEmbedding:
    """What one member's vectors were made from, and the vectors."""

    model: str
    profile_version: int
    hashes: Mapping[VectorKind, str]
    vectors: Mapping[VectorKind, bytes]


class EmbeddingCache(Protocol):
    async def get_many(self, member_ids: Sequence[str]) -> dict[str, CachedEmbedding]: ...

    async def put_many(self, entries: Sequence[tuple[str, CachedEmbedding]]) -> None: ...

    async def delete_many(self, member_ids: Sequence[str]) -> None: ...


_KINDS = list(VectorKind)
_FIELDS = ["model", "version"] + [f"hash:{k.value}" for k in _KINDS]
_FIELDS += [f"vector:{k.value}" for k in _KINDS]


class RedisEmbeddingCache:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis: Any = redis  # redis-py's types do not narrow by command
        self._prefix = prefix

    def key(self, member_id: str) -> str:
        return f"{self._prefix}embedding:{member_id}"

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, CachedEmbedding]:
        """The entries of `member_ids` that exist and are whole, in one round trip."""
        if not member_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in member_ids:
                pipe.hmget(self.key(member_id), _FIELDS)
            rows = await pipe.execute()
        found: dict[str, CachedEmbedding] = {}
        for member_id, row in zip(member_ids, rows, strict=True):
            entry = _entry(row)
            if entry is not None:
                found[member_id] = entry
        return found

    async def put_many(self, entries: Sequence[tuple[str, CachedEmbedding]]) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id, entry in entries:
                mapping: dict[str, str | bytes] = {
                    "model": entry.model,
                    "version": str(entry.profile_version),
                }
                for kind in _KINDS:
                    mapping[f"hash:{kind.value}"] = entry.hashes[kind]
                    mapping[f"vector:{kind.value}"] = entry.vectors[kind]
                pipe.hset(self.key(member_id), mapping=mapping)
            await pipe.execute()

    async def delete_many(self, member_ids: Sequence[str]) -> None:
        if member_ids:
            await self._redis.delete(*[self.key(m) for m in member_ids])


def _entry(row: Sequence[bytes | str | None]) -> CachedEmbedding | None:
    """An entry from its HMGET row; None if absent or partial (then everything is re-embedded)."""
    if any(value is None for value in row):
        return None
    model, version, *rest = row
    hashes, vectors = rest[: len(_KINDS)], rest[len(_KINDS) :]
    return CachedEmbedding(
        model=_text(model),
        profile_version=int(_text(version)),
        hashes={k: _text(h) for k, h in zip(_KINDS, hashes, strict=True)},
        vectors={k: _bytes(v) for k, v in zip(_KINDS, vectors, strict=True)},
    )


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: bytes | str | None) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


class MemoryEmbeddingCache:
    """The same contract in a dict, for tests of the logic around it."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedEmbedding] = {}

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, CachedEmbedding]:
        return {m: self.entries[m] for m in member_ids if m in self.entries}

    async def put_many(self, entries: Sequence[tuple[str, CachedEmbedding]]) -> None:
        self.entries.update(entries)

    async def delete_many(self, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.entries.pop(member_id, None)
