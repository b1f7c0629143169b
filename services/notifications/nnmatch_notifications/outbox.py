"""The delivery outbox: what must still go out by e-mail or webhook, and when. The `Outbox`
seam, its Redis adapter and an in-memory fake (over the inbox fake's `MemoryKeyspace`).

Items enter atomically with the inbox (store.py): `pending:M` holds them, the sorted set `due`
says when member M is next due. A sender claims a due member with a lease, which moves
`pending:M` to `sending:M`; after sending it finishes (clears `sending:M`, puts back what the
daily cap or quiet hours held, releases the lease). A sender that dies leaves `sending:M`
behind: the lease expires and the next claim sends the same items again under the same
idempotency keys, and channels already done are skipped (`delivered:<key>`). Nothing accepted
is lost; a repeat reaches a receiver at most with the same idempotency key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.events import DeliveryItem
from nnmatch_notifications.inbox import InboxItem, ItemKind, NewItem
from nnmatch_notifications.store import MemoryKeyspace

LEASE_MS = 300_000
SENT_COUNT_TTL_S = 3 * 86_400

# ARGV: prefix, member, lease_ms. Returns the items to send, or nil when someone holds it.
_CLAIM = """
local prefix, member = ARGV[1], ARGV[2]
if not redis.call('SET', prefix .. 'lease:' .. member, '1', 'NX', 'PX', ARGV[3]) then
  return false
end
local pending, sending = prefix .. 'pending:' .. member, prefix .. 'sending:' .. member
if redis.call('EXISTS', sending) == 0 and redis.call('EXISTS', pending) == 1 then
  redis.call('RENAME', pending, sending)
end
if redis.call('EXISTS', pending) == 0 then
  redis.call('ZREM', prefix .. 'due', member)
end
return redis.call('HGETALL', sending)
"""

# ARGV: prefix, member, later_ms (0: nothing held back), then (candidate, entry) pairs to hold.
_FINISH = """
local prefix, member = ARGV[1], ARGV[2]
redis.call('DEL', prefix .. 'sending:' .. member)
if redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(member)) == 1 then
  redis.call('DEL', prefix .. 'lease:' .. member)  -- erased while sending: keep nothing
  return 0
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', prefix .. 'pending:' .. member, ARGV[i], ARGV[i + 1])
end
if #ARGV >= 4 then
  redis.call('ZADD', prefix .. 'due', 'LT', tonumber(ARGV[3]), member)
end
redis.call('DEL', prefix .. 'lease:' .. member)
return 1
"""


@dataclass(frozen=True)
class Claimed:
    member_id: str
    items: list[InboxItem]
    raw: dict[str, str]  # candidate → stored entry, to put back what is held

    @classmethod
    def of(cls, member_id: str, raw: Mapping[str, str]) -> Claimed:
        """A claim of the stored entries (`<item id> <item json>`), best suggestion first."""
        items = []
        for entry in raw.values():
            item_id, _, item_json = entry.partition(" ")
            new = NewItem.model_validate_json(item_json)
            items.append(
                InboxItem(
                    item_id=item_id,
                    kind=new.kind,
                    created_at=new.created_at,
                    suggestion=new.suggestion,
                    shared_email=new.shared_email,
                    invitation=new.invitation,
                )
            )
        items.sort(key=lambda i: (-i.suggestion.score, i.suggestion.member_id))
        return cls(member_id, items, dict(raw))


class Outbox(Protocol):
    """Deliveries waiting to go out, claimed by one sender at a time under a lease."""

    async def due_members(self, now: datetime, limit: int) -> list[str]: ...

    async def backlog(self) -> int: ...

    async def claim(self, member_id: str) -> Claimed | None: ...

    async def finish(
        self, claimed: Claimed, hold: Sequence[InboxItem] = (), until: datetime | None = None
    ) -> None: ...

    async def requeue(
        self, member_id: str, items: Sequence[DeliveryItem], due: datetime
    ) -> None: ...

    async def was_delivered(self, key: str) -> bool: ...

    async def mark_delivered(self, key: str, ttl_s: int) -> None: ...

    async def count_sent(self, member_id: str, day: str, sent: int) -> int: ...

    async def sent_on(self, member_id: str, day: str) -> int: ...


def _requeued(item: DeliveryItem, due: datetime) -> tuple[str, str]:
    """A re-driven item as its candidate and stored entry."""
    new = NewItem(
        candidate_id=item.suggestion.member_id,
        kind=ItemKind(item.kind),
        created_at=due,
        suggestion=item.suggestion,
        shared_email=item.shared_email,
    )
    return new.candidate_id, f"{item.item_id} {new.model_dump_json()}"


class RedisOutbox:
    def __init__(self, redis: Redis, prefix: str, lease_ms: int = LEASE_MS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = lease_ms
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)

    async def due_members(self, now: datetime, limit: int) -> list[str]:
        raw: list[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
            f"{self._prefix}due", "-inf", int(now.timestamp() * 1000), start=0, num=limit
        )
        return [m.decode() for m in raw]

    async def backlog(self) -> int:
        """Members with something waiting (instant ones briefly, digest ones until send time)."""
        return int(await self._redis.zcard(f"{self._prefix}due"))

    async def claim(self, member_id: str) -> Claimed | None:
        flat = await self._claim(keys=[], args=[self._prefix, member_id, self._lease_ms])
        if flat is None:
            return None
        raw = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        return Claimed.of(member_id, raw)

    async def finish(
        self, claimed: Claimed, hold: Sequence[InboxItem] = (), until: datetime | None = None
    ) -> None:
        """Done with a claim; `hold` goes back to pending, due at `until`."""
        args: list[str | int] = [
            self._prefix,
            claimed.member_id,
            int(until.timestamp() * 1000) if until is not None else 0,
        ]
        for item in hold:
            candidate = item.suggestion.member_id
            args.extend([candidate, claimed.raw[candidate]])
        await self._finish(keys=[], args=args)

    async def requeue(self, member_id: str, items: Sequence[DeliveryItem], due: datetime) -> None:
        """Put re-driven items back in the member's pending deliveries, due at `due`."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for item in items:
                pipe.hset(f"{self._prefix}pending:{member_id}", *_requeued(item, due))
            pipe.zadd(f"{self._prefix}due", {member_id: int(due.timestamp() * 1000)}, lt=True)
            await pipe.execute()

    async def was_delivered(self, key: str) -> bool:
        return bool(await self._redis.exists(f"{self._prefix}delivered:{key}"))

    async def mark_delivered(self, key: str, ttl_s: int) -> None:
        await self._redis.set(f"{self._prefix}delivered:{key}", "1", ex=ttl_s)

    async def count_sent(self, member_id: str, day: str, sent: int) -> int:
        """Add to the member's count for their day; returns the new count."""
        key = f"{self._prefix}sent-count:{member_id}"
        erased = hashlib.sha1(member_id.encode(), usedforsecurity=False).hexdigest()
        if await self._redis.exists(f"{self._prefix}erased:{erased}"):
            return 0  # erased while sending: leave no key naming them
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, day, sent)
            pipe.expire(key, SENT_COUNT_TTL_S)
            total, _ = await pipe.execute()
        return int(total)

    async def sent_on(self, member_id: str, day: str) -> int:
        raw = await self._redis.hget(f"{self._prefix}sent-count:{member_id}", day)
        return int(raw) if raw else 0


class MemoryOutbox:
    """The outbox contract over the inbox fake's `MemoryKeyspace`, for tests of the logic
    around it (the scheduler, the re-drive consumer)."""

    def __init__(self, keyspace: MemoryKeyspace, lease_ms: int = LEASE_MS) -> None:
        self._k = keyspace
        self._lease_ms = lease_ms

    async def due_members(self, now: datetime, limit: int) -> list[str]:
        until = int(now.timestamp() * 1000)
        due = sorted((ms, member) for member, ms in self._k.due.items() if ms <= until)
        return [member for _, member in due[:limit]]

    async def backlog(self) -> int:
        return len(self._k.due)

    async def claim(self, member_id: str) -> Claimed | None:
        k = self._k
        now = k.now_ms()
        if k.leases.get(member_id, 0) > now:
            return None
        k.leases[member_id] = now + self._lease_ms
        if not k.sending.get(member_id) and k.pending.get(member_id):
            k.sending[member_id] = k.pending.pop(member_id)
        if not k.pending.get(member_id):
            k.due.pop(member_id, None)
        return Claimed.of(member_id, k.sending.get(member_id, {}))

    async def finish(
        self, claimed: Claimed, hold: Sequence[InboxItem] = (), until: datetime | None = None
    ) -> None:
        k, member = self._k, claimed.member_id
        k.sending.pop(member, None)
        if not k.is_erased(member):
            for item in hold:
                candidate = item.suggestion.member_id
                k.pending[member][candidate] = claimed.raw[candidate]
            if hold:
                k.schedule(member, int(until.timestamp() * 1000) if until is not None else 0)
        k.leases.pop(member, None)

    async def requeue(self, member_id: str, items: Sequence[DeliveryItem], due: datetime) -> None:
        for item in items:
            candidate, entry = _requeued(item, due)
            self._k.pending[member_id][candidate] = entry
        self._k.schedule(member_id, int(due.timestamp() * 1000))

    async def was_delivered(self, key: str) -> bool:
        return self._k.delivered.get(key, 0) > self._k.now_ms()

    async def mark_delivered(self, key: str, ttl_s: int) -> None:
        self._k.delivered[key] = self._k.now_ms() + ttl_s * 1000

    async def count_sent(self, member_id: str, day: str, sent: int) -> int:
        if self._k.is_erased(member_id):
            return 0
        counts = self._k.sent_counts[member_id]
        counts[day] = counts.get(day, 0) + sent
        return counts[day]

    async def sent_on(self, member_id: str, day: str) -> int:
        return self._k.sent_counts.get(member_id, {}).get(day, 0)
