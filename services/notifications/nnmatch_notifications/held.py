"""Lists held back until they settle (quiet imports): the `HeldLists` seam, Redis and memory.

Redis holds `import-sources` (times of profile events a bulk import wrote, to recognise the
matches updates they cause by `source_occurred_at`), `import-pending` (imported members by
import time, until a list of theirs computed after it arrives: while any is left, the import is
still going through the embedder and the matcher), `last-source` (per member, the newest
`source_occurred_at` of their lists, so a list that arrived before its profile event was read
still counts), `import-activity` (when the last matches update caused by an import arrived),
`held:M` (member M's latest held list, as the event's JSON) and `settle-due` (members by when
their list will have been still for the window).
A held list is forgotten only if it is still the one that was released, so a newer list that
arrives during a release is kept for the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.events import MatchesComputed

IMPORT_SOURCES_KEPT_MS = 7 * 86_400_000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class HeldLists(Protocol):
    """Which updates an import caused, and the lists held until they settle."""

    async def record_imports(self, imports: Sequence[tuple[str, datetime]]) -> None: ...

    async def imported(self, sources: Sequence[datetime]) -> set[datetime]: ...

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None: ...

    async def pending_imports(self, since: datetime) -> int: ...

    async def holding(self, member_ids: Sequence[str]) -> set[str]: ...

    async def hold(
        self, updates: Sequence[MatchesComputed], due: datetime, import_activity: datetime | None
    ) -> None: ...

    async def last_import_activity(self) -> datetime | None: ...

    async def due(self, now: datetime, limit: int) -> list[tuple[MatchesComputed, str]]: ...

    async def release(self, member_id: str, held: str) -> bool: ...

    async def forget(self, member_id: str) -> None: ...


# KEYS: held, settle-due. ARGV: the held JSON that was released, member. Forget it only if no
# newer list replaced it meanwhile.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


# KEYS: import-sources, import-pending, last-source. ARGV: forget_before_ms, then (member, ms)
# pairs. A member is pending unless a list of theirs from this import or later already came.
_RECORD_IMPORTS = """
for i = 2, #ARGV, 2 do
  local member, at = ARGV[i], tonumber(ARGV[i + 1])
  redis.call('ZADD', KEYS[1], at, ARGV[i + 1])
  local last = tonumber(redis.call('HGET', KEYS[3], member) or '0')
  if last < at then
    redis.call('ZADD', KEYS[2], at, member)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return 0
"""

# KEYS: last-source, import-pending, import-sources. ARGV: (member, source ms) pairs. A list
# caused by an import counts too: the matcher stamps a batch with its oldest source, so an
# imported member's own first list may carry the time of an earlier chunk of the import.
_NOTE_LISTS = """
for i = 1, #ARGV, 2 do
  local member, at = ARGV[i], tonumber(ARGV[i + 1])
  local last = tonumber(redis.call('HGET', KEYS[1], member) or '0')
  if at > last then
    redis.call('HSET', KEYS[1], member, at)
  end
  local pending = redis.call('ZSCORE', KEYS[2], member)
  if pending and (tonumber(pending) <= at or redis.call('ZSCORE', KEYS[3], ARGV[i + 1])) then
    redis.call('ZREM', KEYS[2], member)
  end
end
return 0
"""


class RedisHeldLists:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE)
        self._record_imports = redis.register_script(_RECORD_IMPORTS)
        self._note_lists = redis.register_script(_NOTE_LISTS)

    def _key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def record_imports(self, imports: Sequence[tuple[str, datetime]]) -> None:
        if not imports:
            return
        newest = max(_ms(at) for _, at in imports)
        args: list[str | int] = [newest - IMPORT_SOURCES_KEPT_MS]
        for member_id, at in imports:
            args += [member_id, _ms(at)]
        keys = [self._key(k) for k in ("import-sources", "import-pending", "last-source")]
        await self._record_imports(keys=keys, args=args)

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None:
        args: list[str | int] = []
        for update in updates:
            if update.source_occurred_at is not None:
                args += [update.member_id, _ms(update.source_occurred_at)]
        if args:
            keys = [self._key(k) for k in ("last-source", "import-pending", "import-sources")]
            await self._note_lists(keys=keys, args=args)

    async def pending_imports(self, since: datetime) -> int:
        return int(await self._redis.zcount(self._key("import-pending"), _ms(since), "+inf"))

    async def imported(self, sources: Sequence[datetime]) -> set[datetime]:
        unique = list(dict.fromkeys(sources))
        if not unique:
            return set()
        scores = await self._redis.zmscore(
            self._key("import-sources"), [str(_ms(s)) for s in unique]
        )
        return {s for s, score in zip(unique, scores, strict=True) if score is not None}

    async def holding(self, member_ids: Sequence[str]) -> set[str]:
        if not member_ids:
            return set()
        values = await self._redis.mget([self._key(f"held:{m}") for m in member_ids])
        return {m for m, v in zip(member_ids, values, strict=True) if v is not None}

    async def hold(
        self, updates: Sequence[MatchesComputed], due: datetime, import_activity: datetime | None
    ) -> None:
        latest = {u.member_id: u for u in updates}  # in log order: the last one is current
        if not latest and import_activity is None:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for member_id, update in latest.items():
                pipe.set(self._key(f"held:{member_id}"), update.model_dump_json())
            if latest:
                pipe.zadd(self._key("settle-due"), dict.fromkeys(latest, _ms(due)))
            if import_activity is not None:
                pipe.set(self._key("import-activity"), _ms(import_activity))
            await pipe.execute()

    async def last_import_activity(self) -> datetime | None:
        raw = await self._redis.get(self._key("import-activity"))
        return None if raw is None else datetime.fromtimestamp(int(raw) / 1000, UTC)

    async def due(self, now: datetime, limit: int) -> list[tuple[MatchesComputed, str]]:
        members = await self._redis.zrangebyscore(
            self._key("settle-due"), "-inf", _ms(now), start=0, num=limit
        )
        if not members:
            return []
        names = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        values = await self._redis.mget([self._key(f"held:{m}") for m in names])
        found: list[tuple[MatchesComputed, str]] = []
        for member_id, value in zip(names, values, strict=True):
            if value is None:  # forgotten (erased) since: drop the schedule entry
                await self._redis.zrem(self._key("settle-due"), member_id)
                continue
            raw = value.decode() if isinstance(value, bytes) else str(value)
            found.append((MatchesComputed.model_validate_json(raw), raw))
        return found

    async def release(self, member_id: str, held: str) -> bool:
        keys = [self._key(f"held:{member_id}"), self._key("settle-due")]
        return bool(await self._release(keys=keys, args=[held, member_id]))

    async def forget(self, member_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(f"held:{member_id}"))
            pipe.zrem(self._key("settle-due"), member_id)
            pipe.zrem(self._key("import-pending"), member_id)
            pipe.hdel(self._key("last-source"), member_id)
            await pipe.execute()


@dataclass
class MemoryHeldLists:
    """The same contract in dicts, for the handlers' unit tests."""

    sources: set[int] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)
    last_source: dict[str, int] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    due_at: dict[str, int] = field(default_factory=dict)
    activity: datetime | None = None

    async def record_imports(self, imports: Sequence[tuple[str, datetime]]) -> None:
        for member_id, at in imports:
            self.sources.add(_ms(at))
            if self.last_source.get(member_id, 0) < _ms(at):
                self.pending[member_id] = _ms(at)

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None:
        for update in updates:
            if update.source_occurred_at is None:
                continue
            at = _ms(update.source_occurred_at)
            self.last_source[update.member_id] = max(at, self.last_source.get(update.member_id, 0))
            pending = self.pending.get(update.member_id)
            if pending is not None and (pending <= at or at in self.sources):
                del self.pending[update.member_id]

    async def pending_imports(self, since: datetime) -> int:
        return sum(1 for at in self.pending.values() if at >= _ms(since))

    async def imported(self, sources: Sequence[datetime]) -> set[datetime]:
        return {s for s in sources if _ms(s) in self.sources}

    async def holding(self, member_ids: Sequence[str]) -> set[str]:
        return {m for m in member_ids if m in self.held}

    async def hold(
        self, updates: Sequence[MatchesComputed], due: datetime, import_activity: datetime | None
    ) -> None:
        for update in updates:
            self.held[update.member_id] = update.model_dump_json()
            self.due_at[update.member_id] = _ms(due)
        if import_activity is not None:
            self.activity = import_activity

    async def last_import_activity(self) -> datetime | None:
        return self.activity

    async def due(self, now: datetime, limit: int) -> list[tuple[MatchesComputed, str]]:
        ready = sorted((at, m) for m, at in self.due_at.items() if at <= _ms(now))[:limit]
        return [(MatchesComputed.model_validate_json(self.held[m]), self.held[m]) for _, m in ready]

    async def release(self, member_id: str, held: str) -> bool:
        if self.held.get(member_id) != held:
            return False
        await self.forget(member_id)
        return True

    async def forget(self, member_id: str) -> None:
        self.held.pop(member_id, None)
        self.due_at.pop(member_id, None)
        self.pending.pop(member_id, None)
        self.last_source.pop(member_id, None)
