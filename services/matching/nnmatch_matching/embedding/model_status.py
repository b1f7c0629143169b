"""Which embedding model the vectors are made with, and whether every member has moved to it.

The embedder announces its model (`id@version`) at start in one Redis hash,
`{prefix}embedding-model`; the matcher reads it to know which vectors it compares and whether a
model change is still under way (then it holds back ranking, see matcher/handlers.py).
Fields:

- `current`: the model the embedder runs; `replacing`: the one a re-embed is moving members
  away from ("" on a first start); `retired`: JSON list of models used before (their vectors
  are skipped, not dead-lettered); `state`: `reembedding` or `complete`;
- `ranked`: the model a matcher last re-ranked everyone with after a change;
- progress for operators: `started_at`, `finished_at`, `reembedded`, `remaining`.

While a change runs, `{prefix}embedding-model:erased` holds the sha256 of each member erased
meanwhile (by any embedder replica), so the re-embed never revives one from an older record;
it is deleted when the change completes. No member id is ever stored in plain.

`ModelStatusStore` is the seam; `RedisModelStatus` the adapter described above and
`MemoryModelStatus` its in-memory fake.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from redis.asyncio import Redis

MAX_RETIRED = 20
ERASED_TTL_MS = 7 * 24 * 3600 * 1000  # a change cut short and never resumed cleans up anyway


@dataclass(frozen=True)
class ModelStatus:
    current: str
    replacing: str = ""
    retired: tuple[str, ...] = ()
    complete: bool = True
    ranked: str = ""

    @property
    def switching(self) -> bool:
        """Members are being moved from another model to `current` and some are not yet."""
        return bool(self.replacing) and not self.complete

    @property
    def rerank_owed(self) -> bool:
        """A change finished, but no matcher has re-ranked everyone with the new model yet."""
        return bool(self.replacing) and self.complete and self.ranked != self.current


def announce(previous: ModelStatus | None, model: str) -> ModelStatus:
    """The status once an embedder with `model` starts (pure).

    A first start (no status) is complete at once: the vectors on the topic, if any, are taken
    to be of this model (the cache fills as members change). The same model again keeps the
    status (a re-embed cut short resumes). Another model starts a re-embed.
    """
    if previous is None:
        return ModelStatus(current=model, ranked=model)
    if previous.current == model:
        return previous
    retired = tuple(m for m in previous.retired if m != model)
    if previous.current not in retired:
        retired = (*retired, previous.current)
    return ModelStatus(
        current=model,
        replacing=previous.current,
        retired=retired[-MAX_RETIRED:],
        complete=False,
        ranked=previous.ranked,
    )


class ModelStatusStore(Protocol):
    """The announced model and the progress of a change, shared by every replica."""

    async def get(self) -> ModelStatus | None: ...

    async def put(self, status: ModelStatus, now: datetime) -> None: ...

    async def progress(self, reembedded: int, remaining: int) -> None: ...

    async def complete(self, model: str, now: datetime) -> bool: ...

    async def note_erased(self, member_ids: Sequence[str]) -> None: ...

    async def erased_among(self, member_ids: Sequence[str]) -> set[str]: ...

    async def ranked(self, model: str) -> None: ...

    async def take_lead(self, owner: str, ttl_ms: int) -> bool: ...

    async def give_up_lead(self, owner: str) -> None: ...


class RedisModelStatus:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis: Any = redis  # redis-py's types do not narrow by command
        self.key = f"{prefix}embedding-model"
        self.lock_key = f"{prefix}embedding-model:reembed-lock"
        self.erased_key = f"{prefix}embedding-model:erased"

    async def get(self) -> ModelStatus | None:
        raw = await self._redis.hgetall(self.key)
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if not fields.get("current"):
            return None
        return ModelStatus(
            current=fields["current"],
            replacing=fields.get("replacing", ""),
            retired=tuple(json.loads(fields.get("retired") or "[]")),
            complete=fields.get("state", "complete") == "complete",
            ranked=fields.get("ranked", ""),
        )

    async def put(self, status: ModelStatus, now: datetime) -> None:
        mapping = {
            "current": status.current,
            "replacing": status.replacing,
            "retired": json.dumps(list(status.retired)),
            "state": "complete" if status.complete else "reembedding",
            "ranked": status.ranked,
        }
        if status.switching:
            mapping |= {"started_at": now.isoformat(), "reembedded": "0", "finished_at": ""}
        await self._redis.hset(self.key, mapping=mapping)

    async def progress(self, reembedded: int, remaining: int) -> None:
        await self._redis.hset(
            self.key, mapping={"reembedded": str(reembedded), "remaining": str(remaining)}
        )

    async def complete(self, model: str, now: datetime) -> bool:
        """Mark the change to `model` done, unless another model was announced since."""
        status = await self.get()
        if status is None or status.current != model:
            return False
        await self._redis.hset(
            self.key,
            mapping={"state": "complete", "finished_at": now.isoformat(), "remaining": "0"},
        )
        await self._redis.delete(self.erased_key)
        return True

    async def note_erased(self, member_ids: Sequence[str]) -> None:
        """Record erasures while a change runs (called before the tombstones are published)."""
        if member_ids and _text(await self._redis.hget(self.key, "state") or b"") == "reembedding":
            await self._redis.sadd(self.erased_key, *[_digest(m) for m in member_ids])
            await self._redis.pexpire(self.erased_key, ERASED_TTL_MS)

    async def erased_among(self, member_ids: Sequence[str]) -> set[str]:
        if not member_ids:
            return set()
        flags = await self._redis.smismember(self.erased_key, [_digest(m) for m in member_ids])
        return {m for m, flag in zip(member_ids, flags, strict=True) if flag}

    async def ranked(self, model: str) -> None:
        """A matcher re-ranked everyone with `model`."""
        status = await self.get()
        if status is not None and status.current == model:
            await self._redis.hset(self.key, "ranked", model)

    async def take_lead(self, owner: str, ttl_ms: int) -> bool:
        """One embedder replica re-embeds at a time: take or renew the lease."""
        if await self._redis.set(self.lock_key, owner, nx=True, px=ttl_ms):
            return True
        if _text(await self._redis.get(self.lock_key) or b"") == owner:
            await self._redis.pexpire(self.lock_key, ttl_ms)
            return True
        return False

    async def give_up_lead(self, owner: str) -> None:
        if _text(await self._redis.get(self.lock_key) or b"") == owner:
            await self._redis.delete(self.lock_key)


class MemoryModelStatus:
    """The same contract in memory (the lease expires by `clock`), for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.status: ModelStatus | None = None
        self.counts = (0, 0)  # (reembedded, remaining) as last reported
        self.erased: set[str] = set()
        self._clock = clock
        self._lead: tuple[str, float] | None = None  # owner, expiry

    async def get(self) -> ModelStatus | None:
        return self.status

    async def put(self, status: ModelStatus, now: datetime) -> None:
        self.status = status

    async def progress(self, reembedded: int, remaining: int) -> None:
        self.counts = (reembedded, remaining)

    async def complete(self, model: str, now: datetime) -> bool:
        if self.status is None or self.status.current != model:
            return False
        self.status = replace(self.status, complete=True)
        self.erased.clear()
        return True

    async def note_erased(self, member_ids: Sequence[str]) -> None:
        if self.status is not None and self.status.switching:
            self.erased.update(member_ids)

    async def erased_among(self, member_ids: Sequence[str]) -> set[str]:
        return self.erased.intersection(member_ids)

    async def ranked(self, model: str) -> None:
        if self.status is not None and self.status.current == model:
            self.status = replace(self.status, ranked=model)

    async def take_lead(self, owner: str, ttl_ms: int) -> bool:
        now = self._clock()
        if self._lead is None or self._lead[1] <= now or self._lead[0] == owner:
            self._lead = (owner, now + ttl_ms / 1000)
            return True
        return False

    async def give_up_lead(self, owner: str) -> None:
        if self._lead is not None and self._lead[0] == owner:
            self._lead = None


class ModelWatch:
    """The matcher's view of the status, re-read at most every `interval_s` (or when forced).

    `holding` is true while a model change this matcher compares the new model of is under
    way: the index then holds only the members already re-embedded, so ranking waits (the
    stored lists keep being served) and everyone is re-ranked once it is complete.
    """

    def __init__(
        self,
        store: ModelStatusStore,
        model: Callable[[], str | None],
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._model = model
        self._interval_s = interval_s
        self._clock = clock
        self._read_at: float | None = None
        self.status: ModelStatus | None = None
        self.owed = False  # this matcher held back ranking: everyone is to be re-ranked

    async def refresh(self, force: bool = False) -> ModelStatus | None:
        now = self._clock()
        if force or self._read_at is None or now - self._read_at >= self._interval_s:
            self.status = await self.store.get()
            self._read_at = now
        return self.status

    @property
    def holding(self) -> bool:
        status = self.status
        return status is not None and status.switching and status.current == self._model()

    def retired(self, model: str) -> bool:
        """Vectors of `model` are from before a change: skipped, not dead-lettered."""
        return self.status is not None and model in self.status.retired

    def ahead(self, model: str) -> bool:
        """The embedder announced `model`, which this matcher does not compare: restart it."""
        return self.status is not None and self.status.current == model != self._model()


def _digest(member_id: str) -> str:
    return hashlib.sha256(member_id.encode("utf-8")).hexdigest()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
