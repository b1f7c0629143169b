"""Reports and suspensions as the profiles service keeps them: the `ReportStore` seam, its Redis
adapter and an in-memory fake (tests/unit/test_reports.py runs one contract on both).

Redis: `<prefix>report:<id>` (the report's JSON), `<prefix>reports:open` (sorted set of open
report ids by filing time), `<prefix>reports:about:<target>` (open reports about a member),
`<prefix>report-pair:<reporter>:<target>` (the pair's open report: one at a time),
`<prefix>reports:of:<member>` (every report the member filed or is named in, so an erasure
finds them) and `<prefix>suspended` (suspended member ids). Lua keeps them consistent, so
two operators deciding the same report at once resolve it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.reports import Report

# KEYS: pair, report, open, about, of reporter, of target. ARGV: id, json, score. The open
# report's id if the pair has one (nothing written), else '' after filing it.
_FILE = """
local open = redis.call('GET', KEYS[1])
if open then return open end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
return ''
"""

# KEYS: report, open, about, pair. ARGV: id, resolved json. 1 if this call resolved it.
_RESOLVE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
"""


class ReportStore(Protocol):
    """Open reports in filing order; at most one open report per reporter and target."""

    async def file(self, report: Report) -> str | None:
        """None once filed; the open report's id if the pair already has one."""
        ...

    async def get(self, report_id: str) -> Report | None: ...
    async def open_count(self) -> int: ...
    async def open_page(self, start: int, end: int) -> list[Report]: ...
    async def open_about(self, target_id: str) -> list[Report]: ...

    async def resolve(self, resolved: Report) -> bool:
        """Store the decided report; False if it was no longer open (decided already)."""
        ...

    async def set_suspended(self, member_id: str, suspended: bool) -> None: ...
    async def suspended_among(self, member_ids: Sequence[str]) -> set[str]: ...

    async def forget(self, member_id: str) -> int:
        """Erasure: every report the member filed or is named in, and their suspension;
        how many reports went."""
        ...


class RedisReportStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._open = f"{prefix}reports:open"
        self._suspended = f"{prefix}suspended"
        self._file = redis.register_script(_FILE)
        self._resolve = redis.register_script(_RESOLVE)

    def _report(self, report_id: str) -> str:
        return f"{self._prefix}report:{report_id}"

    def _about(self, target_id: str) -> str:
        return f"{self._prefix}reports:about:{target_id}"

    def _of(self, member_id: str) -> str:
        return f"{self._prefix}reports:of:{member_id}"

    def _pair(self, reporter_id: str, target_id: str) -> str:
        return f"{self._prefix}report-pair:{reporter_id}:{target_id}"

    async def file(self, report: Report) -> str | None:
        keys = [
            self._pair(report.reporter_id, report.target_id),
            self._report(report.report_id),
            self._open,
            self._about(report.target_id),
            self._of(report.reporter_id),
            self._of(report.target_id),
        ]
        score = int(report.created_at.timestamp() * 1000)
        found = await self._file(
            keys=keys, args=[report.report_id, report.model_dump_json(), score]
        )
        found = found.decode() if isinstance(found, bytes) else str(found)
        return found or None

    async def get(self, report_id: str) -> Report | None:
        raw = await self._redis.get(self._report(report_id))
        return Report.model_validate_json(raw) if raw is not None else None

    async def _many(self, ids: Sequence[bytes | str]) -> list[Report]:
        if not ids:
            return []
        raws = await self._redis.mget([self._report(_text(i)) for i in ids])
        return [Report.model_validate_json(raw) for raw in raws if raw is not None]

    async def open_count(self) -> int:
        return int(await self._redis.zcard(self._open))

    async def open_page(self, start: int, end: int) -> list[Report]:
        if end <= start:
            return []
        ids: list[bytes] = await self._redis.zrange(self._open, start, end - 1)  # type: ignore[assignment]
        return await self._many(ids)

    async def open_about(self, target_id: str) -> list[Report]:
        ids = sorted(await self._redis.smembers(self._about(target_id)))
        return await self._many(ids)

    async def resolve(self, resolved: Report) -> bool:
        keys = [
            self._report(resolved.report_id),
            self._open,
            self._about(resolved.target_id),
            self._pair(resolved.reporter_id, resolved.target_id),
        ]
        done = await self._resolve(keys=keys, args=[resolved.report_id, resolved.model_dump_json()])
        return bool(int(done))

    async def set_suspended(self, member_id: str, suspended: bool) -> None:
        if suspended:
            await self._redis.sadd(self._suspended, member_id)
        else:
            await self._redis.srem(self._suspended, member_id)

    async def suspended_among(self, member_ids: Sequence[str]) -> set[str]:
        if not member_ids:
            return set()
        flags = await self._redis.smismember(self._suspended, list(member_ids))
        return {m for m, flag in zip(member_ids, flags, strict=True) if flag}

    async def forget(self, member_id: str) -> int:
        ids = [_text(i) for i in await self._redis.smembers(self._of(member_id))]
        reports = await self._many(ids)
        async with self._redis.pipeline(transaction=True) as pipe:
            for r in reports:
                pipe.delete(self._report(r.report_id), self._pair(r.reporter_id, r.target_id))
                pipe.zrem(self._open, r.report_id)
                pipe.srem(self._about(r.target_id), r.report_id)
                pipe.srem(self._of(r.reporter_id), r.report_id)
                pipe.srem(self._of(r.target_id), r.report_id)
            pipe.delete(self._of(member_id), self._about(member_id))
            pipe.srem(self._suspended, member_id)
            await pipe.execute()
        return len(reports)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class MemoryReportStore:
    """The same contract in dicts."""

    reports: dict[str, Report] = field(default_factory=dict)
    open: list[str] = field(default_factory=list)
    pairs: dict[tuple[str, str], str] = field(default_factory=dict)
    suspended: set[str] = field(default_factory=set)

    async def file(self, report: Report) -> str | None:
        pair = (report.reporter_id, report.target_id)
        if pair in self.pairs:
            return self.pairs[pair]
        self.pairs[pair] = report.report_id
        self.reports[report.report_id] = report
        self.open.append(report.report_id)
        return None

    async def get(self, report_id: str) -> Report | None:
        return self.reports.get(report_id)

    async def open_count(self) -> int:
        return len(self.open)

    async def open_page(self, start: int, end: int) -> list[Report]:
        return [self.reports[i] for i in self.open[start:end]]

    async def open_about(self, target_id: str) -> list[Report]:
        return sorted(
            (self.reports[i] for i in self.open if self.reports[i].target_id == target_id),
            key=lambda r: r.report_id,
        )

    async def resolve(self, resolved: Report) -> bool:
        if resolved.report_id not in self.open:
            return False
        self.open.remove(resolved.report_id)
        self.reports[resolved.report_id] = resolved
        pair = (resolved.reporter_id, resolved.target_id)
        if self.pairs.get(pair) == resolved.report_id:
            del self.pairs[pair]
        return True

    async def set_suspended(self, member_id: str, suspended: bool) -> None:
        if suspended:
            self.suspended.add(member_id)
        else:
            self.suspended.discard(member_id)

    async def suspended_among(self, member_ids: Sequence[str]) -> set[str]:
        return {m for m in member_ids if m in self.suspended}

    async def forget(self, member_id: str) -> int:
        doomed = [r for r in self.reports.values() if member_id in (r.reporter_id, r.target_id)]
        for r in doomed:
            del self.reports[r.report_id]
            if r.report_id in self.open:
                self.open.remove(r.report_id)
            if self.pairs.get((r.reporter_id, r.target_id)) == r.report_id:
                del self.pairs[(r.reporter_id, r.target_id)]
        self.suspended.discard(member_id)
        return len(doomed)
