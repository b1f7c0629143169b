"""The delivery outbox in Redis: what must still go out by e-mail or webhook, and when.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from nnmatch.events import DeliveryItem
from nnmatch_notifications.inbox import InboxItem, ItemKind, NewItem

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


class RedisOutbox:
    def __init__(self, redis: Redis, prefix: str, lease_ms: int = 300_000) -> None:
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
                )
            )
        items.sort(key=lambda i: (-i.suggestion.score, i.suggestion.member_id))
        return Claimed(member_id, items, raw)

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
                new = NewItem(
                    candidate_id=item.suggestion.member_id,
                    kind=ItemKind(item.kind),
                    created_at=due,
                    suggestion=item.suggestion,
                    shared_email=item.shared_email,
                )
                pipe.hset(
                    f"{self._prefix}pending:{member_id}",
                    new.candidate_id,
                    f"{item.item_id} {new.model_dump_json()}",
                )
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
            pipe.expire(key, 3 * 86_400)
            total, _ = await pipe.execute()
        return int(total)

    async def sent_on(self, member_id: str, day: str) -> int:
        raw = await self._redis.hget(f"{self._prefix}sent-count:{member_id}", day)
        return int(raw) if raw else 0
