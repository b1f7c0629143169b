"""Lists held back until they settle (quiet imports): the `HeldLists` seam, Redis and memory.

Redis holds `import-sources` (times of profile events a bulk import wrote, to recognise the
matches updates they cause by `source_occurred_at`), `import-pending` (imported members by
import time, until a list of theirs of the imported profile version or later arrives: while any
is left, the import is still going through the embedder and the matcher) with
`import-version` (the version each pending member was imported at), `listed-version` (per
member, the newest profile version of their lists, so a list that arrived before its profile
event was read still counts), `import-activity` (when the last matches update caused by an
import arrived),
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

    async def record_imports(self, imports: Sequence[tuple[str, datetime, int]]) -> None:
        """(member, when, profile version) of profiles a bulk import wrote."""

    async def imported(self, sources: Sequence[datetime]) -> set[datetime]: ...

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None: ...

    async def pending_imports(self, since: datetime) -> int: ...

    async def awaiting_list(self, member_ids: Sequence[str]) -> set[str]:
        """Those of `member_ids` imported and still without a list of that version."""

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


# KEYS: import-sources, import-pending, import-version, listed-version. ARGV: forget_before_ms,
# then (member, ms, profile version) triples. A member is pending unless a list of theirs of
# that profile version or later already came.
_RECORD_IMPORTS = """
for i = 2, #ARGV, 3 do
  local member, at, version = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  redis.call('ZADD', KEYS[1], at, ARGV[i + 1])
  local listed = tonumber(redis.call('HGET', KEYS[4], member) or '0')
  if listed < version then
    redis.call('ZADD', KEYS[2], at, member)
    redis.call('HSET', KEYS[3], member, version)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return 0
"""

# KEYS: listed-version, import-pending, import-version. ARGV: (member, profile version) pairs.
# Any list counts, whatever caused it: the matcher ranks many of an import's lists in its
# background queue, where no profile event's time goes with them.
_NOTE_LISTS = """
for i = 1, #ARGV, 2 do
  local member, version = ARGV[i], tonumber(ARGV[i + 1])
  if version > tonumber(redis.call('HGET', KEYS[1], member) or '0') then
    redis.call('HSET', KEYS[1], member, version)
  end
  local imported = redis.call('HGET', KEYS[3], member)
  if imported and tonumber(imported) <= version then
    redis.call('ZREM', KEYS[2], member)
    redis.call('HDEL', KEYS[3], member)
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

    async def record_imports(self, imports: Sequence[tuple[str, datetime, int]]) -> None:
        if not imports:
            return
        newest = max(_ms(at) for _, at, _ in imports)
        args: list[str | int] = [newest - IMPORT_SOURCES_KEPT_MS]
        for member_id, at, version in imports:
            args += [member_id, _ms(at), version]
        names = ("import-sources", "import-pending", "import-version", "listed-version")
        await self._record_imports(keys=[self._key(k) for k in names], args=args)

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None:
        args: list[str | int] = []
        for update in updates:
            args += [update.member_id, update.profile_version]
        if args:
            names = ("listed-version", "import-pending", "import-version")
            await self._note_lists(keys=[self._key(k) for k in names], args=args)

    async def pending_imports(self, since: datetime) -> int:
        return int(await self._redis.zcount(self._key("import-pending"), _ms(since), "+inf"))

    async def awaiting_list(self, member_ids: Sequence[str]) -> set[str]:
        if not member_ids:
            return set()
        scores = await self._redis.zmscore(self._key("import-pending"), list(member_ids))
        return {m for m, score in zip(member_ids, scores, strict=True) if score is not None}

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
            pipe.hdel(self._key("import-version"), member_id)
            pipe.hdel(self._key("listed-version"), member_id)
            await pipe.execute()


@dataclass
class MemoryHeldLists:
    """The same contract in dicts, for the handlers' unit tests."""

    sources: set[int] = field(default_factory=set)
    pending: dict[str, tuple[int, int]] = field(default_factory=dict)  # (import ms, version)
    listed_version: dict[str, int] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    due_at: dict[str, int] = field(default_factory=dict)
    activity: datetime | None = None

    async def record_imports(self, imports: Sequence[tuple[str, datetime, int]]) -> None:
        for member_id, at, version in imports:
            self.sources.add(_ms(at))
            if self.listed_version.get(member_id, 0) < version:
                self.pending[member_id] = (_ms(at), version)

    async def note_lists(self, updates: Sequence[MatchesComputed]) -> None:
        for update in updates:
            member, version = update.member_id, update.profile_version
            self.listed_version[member] = max(version, self.listed_version.get(member, 0))
            pending = self.pending.get(member)
            if pending is not None and pending[1] <= version:
                del self.pending[member]

    async def pending_imports(self, since: datetime) -> int:
        return sum(1 for at, _ in self.pending.values() if at >= _ms(since))

    async def awaiting_list(self, member_ids: Sequence[str]) -> set[str]:
        return {m for m in member_ids if m in self.pending}

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
        self.listed_version.pop(member_id, None)
