"""The in-app inbox: the `Inbox` seam, its Redis adapter and an in-memory fake.

Per member M, Redis holds `suggested:M` (candidates suggested to M, by when: a pair comes back
only after the cooling-off, if one is set), `inbox:M` (stream, newest last, capped), `read:M`
(read item ids), `inbox-index:M` (candidate → item id), `shown-in:M` (members whose inbox shows
M), `pending:M` (items still to go out by e-mail/webhook, see outbox.py), `applied:M` (the ids
of M's latest updates applied, in order) and, for a day after an erasure, `erased:sha1(M)`
(hashed, so no key names an erased member). Lua scripts keep them consistent: a crash or a
redelivered record can neither lose a suggestion nor add it twice, and erasing a member
removes every item about them without scanning other inboxes.

An update applied twice would add twice: its first items are skipped as already suggested and
its spares take their places. So an update that carries an id (a matches record's event id)
is applied once. What a consumer is handed again after a crash is its last uncommitted batch,
so a member's latest ids, as many as a batch holds records, are enough; they are kept a day
after the member's last update.

`MemoryInbox` keeps the same contract in a `MemoryKeyspace` it shares with the outbox and
contacts fakes, as the Redis adapters share one Redis; tests/unit/test_notifications_stores.py
runs one set of contract tests on both.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from nnmatch_notifications.inbox import InboxItem, NewItem

JOINED_TTL_S = 30 * 86_400
ERASED_MARKER_TTL_S = 86_400
# Per member: how many of the latest update ids applied are kept (at least the records of a
# consumer batch: redelivery hands back one uncommitted batch), and for how long after the last.
APPLIED_UPDATES_KEPT = 256
APPLIED_UPDATES_TTL_S = 86_400


class Inbox(Protocol):
    """Members' in-app inboxes: each pair suggested at most once (per cooling-off)."""

    async def add_new(self, member_id: str, items: Sequence[NewItem], limit: int) -> int: ...

    async def add_new_many(
        self,
        updates: Sequence[tuple[str, Sequence[NewItem]]],
        limit: int,
        due: Mapping[str, datetime] | None = None,
        *,
        update_ids: Sequence[str | None] | None = None,
    ) -> list[int]: ...

    async def page(
        self, member_id: str, limit: int, before: str | None
    ) -> tuple[list[InboxItem], str | None]: ...

    async def unread(self, member_id: str) -> int: ...

    async def erase(self, member_id: str) -> int: ...

    async def item(self, member_id: str, item_id: str) -> InboxItem | None: ...

    async def mark_read(self, member_id: str, item_id: str) -> None: ...

    async def suggestion_of(self, member_id: str, candidate_id: str) -> NewItem | None: ...

    async def accept(
        self,
        member_id: str,
        candidate_id: str,
        items: tuple[NewItem, NewItem],
        due: tuple[datetime | None, datetime | None],
    ) -> bool: ...

    async def withdraw(self, member_id: str, candidate_id: str) -> bool: ...

    async def record_joined(self, members: Sequence[tuple[str, datetime]]) -> None: ...

    async def take_joined(self, member_ids: Sequence[str]) -> dict[str, float]: ...


# KEYS: suggested, inbox, inbox-index, applied. ARGV: prefix, member, max_items, limit, due_ms
# (0: no delivery outside the app), cooling_off_ms (0: never again), now_ms, update_id ('': none),
# applied_kept, applied_ttl_ms, then (candidate_id, item_json) pairs. An update whose id is in
# `applied` was applied before and adds nothing; ids are scored by a sequence, so the newest
# are kept whatever the clock says. Candidates count against `limit` only when
# added. An added item that must also go out by e-mail/webhook joins the member's `pending` hash
# in the same step, and the member's entry in the `due` schedule moves earlier if need be: the
# outbox can never miss an item the inbox got, nor get one it did not.
_ADD_NEW = """
local added = 0
local prefix, member = ARGV[1], ARGV[2]
local limit = tonumber(ARGV[4])
local due = tonumber(ARGV[5])
local cooling, now = tonumber(ARGV[6]), tonumber(ARGV[7])
local update = ARGV[8]
if redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(member)) == 1 then
  return 0  -- a matches record about a member erased since: nothing of theirs comes back
end
if update ~= '' and redis.call('ZSCORE', KEYS[4], update) then
  return 0  -- the same update handed over again (a redelivered record): applied already
end
for i = 11, #ARGV, 2 do
  if added >= limit then break end
  local candidate = ARGV[i]
  local erased = redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(candidate)) == 1
  local last = redis.call('ZSCORE', KEYS[1], candidate)
  local fresh = (not last) or (cooling > 0 and now - tonumber(last) >= cooling)
  if not erased and fresh then
    redis.call('ZADD', KEYS[1], now, candidate)
    local previous = redis.call('HGET', KEYS[3], candidate)
    if previous then  -- suggested again after the cooling-off: the pair shows once, newest
      redis.call('XDEL', KEYS[2], previous)
      redis.call('SREM', prefix .. 'read:' .. member, previous)
    end
    local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'item', ARGV[i + 1])
    redis.call('HSET', KEYS[3], candidate, id)
    redis.call('SADD', prefix .. 'shown-in:' .. candidate, member)
    if due > 0 then
      redis.call('HSET', prefix .. 'pending:' .. member, candidate, id .. ' ' .. ARGV[i + 1])
      redis.call('ZADD', prefix .. 'due', 'LT', due, member)  -- LT still adds a new member
    end
    added = added + 1
  end
end
if update ~= '' then
  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')[2]
  redis.call('ZADD', KEYS[4], (tonumber(last) or 0) + 1, update)
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -1 - tonumber(ARGV[9]))
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
end
return added
"""

# ARGV: prefix, member, marker_ttl_s. Removes the member's own keys and every item about them
# elsewhere, and leaves a short-lived marker (a hash of the id) so that a matches record computed
# before the erasure but consumed after it cannot bring the member back.
_ERASE = """
local prefix, member = ARGV[1], ARGV[2]
redis.call('SET', prefix .. 'erased:' .. redis.sha1hex(member), '1', 'EX', ARGV[3])
local removed = 0
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'shown-in:' .. member)) do
  local id = redis.call('HGET', prefix .. 'inbox-index:' .. other, member)
  if id then
    removed = removed + redis.call('XDEL', prefix .. 'inbox:' .. other, id)
    redis.call('SREM', prefix .. 'read:' .. other, id)
    redis.call('HDEL', prefix .. 'inbox-index:' .. other, member)
  end
  redis.call('ZREM', prefix .. 'suggested:' .. other, member)
  redis.call('HDEL', prefix .. 'pending:' .. other, member)
  redis.call('HDEL', prefix .. 'sending:' .. other, member)
end
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'shown-in:' .. member)) do
  local intro = redis.call('HGET', prefix .. 'intro-index:' .. other, member)
  if intro then
    removed = removed + redis.call('XDEL', prefix .. 'inbox:' .. other, intro)
    redis.call('SREM', prefix .. 'read:' .. other, intro)
    redis.call('HDEL', prefix .. 'intro-index:' .. other, member)
  end
end
for _, index in ipairs({'inbox-index:', 'intro-index:'}) do
  for _, candidate in ipairs(redis.call('HKEYS', prefix .. index .. member)) do
    redis.call('SREM', prefix .. 'shown-in:' .. candidate, member)
  end
end
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'accepted-by:' .. member)) do
  redis.call('SREM', prefix .. 'accepted:' .. other, member)
end
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'accepted:' .. member)) do
  redis.call('SREM', prefix .. 'accepted-by:' .. other, member)
end
for _, name in ipairs({'shown-in:', 'suggested:', 'inbox:', 'read:', 'inbox-index:',
                       'pending:', 'sending:', 'lease:', 'sent-count:', 'contact:',
                       'intro-index:', 'accepted:', 'accepted-by:', 'joined:',
                       'delivery-state:', 'segment:', 'applied:'}) do
  redis.call('DEL', prefix .. name .. member)
end
redis.call('ZREM', prefix .. 'due', member)
redis.call('ZREM', prefix .. 'list-at', member)
redis.call('SREM', prefix .. 'list-empty', member)
return removed
"""


# ARGV: prefix, a, b, pair_hash, item_for_a, item_for_b, due_a_ms, due_b_ms (0: in-app only).
# Records that A accepted B; if B had accepted A and the pair was never introduced, adds an
# introduction to both inboxes (and outboxes) in the same step. Returns 1 when introduced.
_ACCEPT = """
local prefix, a, b = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(a)) == 1
   or redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(b)) == 1 then
  return 0  -- feedback involving an erased member leaves no trace
end
redis.call('SADD', prefix .. 'accepted:' .. a, b)
redis.call('SADD', prefix .. 'accepted-by:' .. b, a)
if redis.call('SISMEMBER', prefix .. 'accepted:' .. b, a) == 0 then return 0 end
if not redis.call('SET', prefix .. 'introduced:' .. ARGV[4], '1', 'NX') then return 0 end
local function introduce(member, other, item, due)
  local id = redis.call('XADD', prefix .. 'inbox:' .. member, '*', 'item', item)
  redis.call('HSET', prefix .. 'intro-index:' .. member, other, id)
  redis.call('SADD', prefix .. 'shown-in:' .. other, member)
  if tonumber(due) > 0 then
    redis.call('HSET', prefix .. 'pending:' .. member, other, id .. ' ' .. item)
    redis.call('ZADD', prefix .. 'due', 'LT', tonumber(due), member)
  end
end
introduce(a, b, ARGV[5], ARGV[7])
introduce(b, a, ARGV[6], ARGV[8])
return 1
"""


# ARGV: prefix, member, candidate. Takes one item back: out of the inbox, the outbox and the
# never-twice set (so the same pair may come again), as if it had never been added.
_WITHDRAW = """
local prefix, member, candidate = ARGV[1], ARGV[2], ARGV[3]
local removed = 0
local id = redis.call('HGET', prefix .. 'inbox-index:' .. member, candidate)
if id then
  removed = redis.call('XDEL', prefix .. 'inbox:' .. member, id)
  redis.call('SREM', prefix .. 'read:' .. member, id)
  redis.call('HDEL', prefix .. 'inbox-index:' .. member, candidate)
end
redis.call('ZREM', prefix .. 'suggested:' .. member, candidate)
redis.call('HDEL', prefix .. 'pending:' .. member, candidate)
redis.call('HDEL', prefix .. 'sending:' .. member, candidate)
redis.call('SREM', prefix .. 'shown-in:' .. candidate, member)
return removed
"""


class RedisInbox:
    """The inbox in Redis; the cooling-off is measured by this process's wall clock."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        max_items: int,
        erased_marker_ttl_s: int = ERASED_MARKER_TTL_S,
        cooling_off_s: int = 0,
        applied_kept: int = APPLIED_UPDATES_KEPT,
    ) -> None:
        self._cooling_off_ms = cooling_off_s * 1000
        self._erased_ttl = erased_marker_ttl_s
        self._applied_kept = applied_kept
        self._redis = redis
        self._prefix = prefix
        self._max_items = max_items
        self._add = redis.register_script(_ADD_NEW)
        self._erase = redis.register_script(_ERASE)
        self._accept = redis.register_script(_ACCEPT)
        self._withdraw = redis.register_script(_WITHDRAW)

    def _key(self, name: str, member_id: str) -> str:
        return f"{self._prefix}{name}:{member_id}"

    async def add_new(self, member_id: str, items: Sequence[NewItem], limit: int) -> int:
        """Append up to `limit` items whose pair was never suggested; returns how many."""
        [added] = await self.add_new_many([(member_id, items)], limit)
        return added

    async def add_new_many(
        self,
        updates: Sequence[tuple[str, Sequence[NewItem]]],
        limit: int,
        due: Mapping[str, datetime] | None = None,
        *,
        update_ids: Sequence[str | None] | None = None,
    ) -> list[int]:
        """`add_new` for many updates in one round trip, applied in order; counts per update.

        A member in `due` also gets the added items queued for delivery outside the app at
        that time (earlier if something is already queued earlier). An update with an id in
        `update_ids` (None: no id) that was applied before adds nothing."""
        ids = _update_ids(updates, update_ids)
        if not any(items for _, items in updates):
            return [0] * len(updates)
        due = due or {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for (member_id, items), update_id in zip(updates, ids, strict=True):
                when = due.get(member_id)
                due_ms = int(when.timestamp() * 1000) if when is not None else 0
                args: list[str | int] = [
                    self._prefix,
                    member_id,
                    self._max_items,
                    limit,
                    due_ms,
                    self._cooling_off_ms,
                    int(time.time() * 1000),
                    update_id or "",
                    self._applied_kept,
                    APPLIED_UPDATES_TTL_S * 1000,
                ]
                for item in items:
                    args.extend([item.candidate_id, item.model_dump_json()])
                await self._add(
                    keys=[
                        self._key("suggested", member_id),
                        self._key("inbox", member_id),
                        self._key("inbox-index", member_id),
                        self._key("applied", member_id),
                    ],
                    args=args,
                    client=pipe,
                )
            return [int(added) for added in await pipe.execute()]

    async def page(
        self, member_id: str, limit: int, before: str | None
    ) -> tuple[list[InboxItem], str | None]:
        """Newest first; `before` is the stream id to continue after (exclusive)."""
        upper = f"({before}" if before else "+"
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrevrange(  # type: ignore[assignment]
            self._key("inbox", member_id), max=upper, min="-", count=limit + 1
        )
        read_ids: set[bytes] = await self._redis.smembers(self._key("read", member_id))  # type: ignore[assignment]
        read = {r.decode() for r in read_ids}
        items = [
            _stored_item(entry_id.decode(), fields[b"item"], entry_id.decode() in read)
            for entry_id, fields in entries[:limit]
        ]
        next_before = items[-1].item_id if len(entries) > limit and items else None
        return items, next_before

    async def unread(self, member_id: str) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self._key("inbox", member_id))
            pipe.scard(self._key("read", member_id))
            total, read = await pipe.execute()
        return max(0, int(total) - int(read))

    async def erase(self, member_id: str) -> int:
        """Forget a member: their inbox and dedupe state, and every item about them elsewhere."""
        removed = await self._erase(keys=[], args=[self._prefix, member_id, self._erased_ttl])
        return int(removed)

    async def item(self, member_id: str, item_id: str) -> InboxItem | None:
        """One item of the member's inbox, or None."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrange(  # type: ignore[assignment]
            self._key("inbox", member_id), min=item_id, max=item_id, count=1
        )
        if not entries:
            return None
        entry_id, fields = entries[0]
        read = await self._redis.sismember(self._key("read", member_id), item_id)
        return _stored_item(entry_id.decode(), fields[b"item"], bool(read))

    async def mark_read(self, member_id: str, item_id: str) -> None:
        await self._redis.sadd(self._key("read", member_id), item_id)

    async def suggestion_of(self, member_id: str, candidate_id: str) -> NewItem | None:
        """The item that suggested `candidate_id` to the member, if it is still in the inbox."""
        item_id = await self._redis.hget(self._key("inbox-index", member_id), candidate_id)
        if item_id is None:
            return None
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrange(  # type: ignore[assignment]
            self._key("inbox", member_id), min=item_id, max=item_id, count=1
        )
        return NewItem.model_validate_json(entries[0][1][b"item"]) if entries else None

    async def accept(
        self,
        member_id: str,
        candidate_id: str,
        items: tuple[NewItem, NewItem],
        due: tuple[datetime | None, datetime | None],
    ) -> bool:
        """Record the acceptance; True when it completed a mutual accept and introduced."""
        pair = "\n".join(sorted((member_id, candidate_id)))
        pair_hash = hashlib.sha256(pair.encode()).hexdigest()[:32]
        due_ms = [int(d.timestamp() * 1000) if d is not None else 0 for d in due]
        introduced = await self._accept(
            keys=[],
            args=[
                self._prefix,
                member_id,
                candidate_id,
                pair_hash,
                items[0].model_dump_json(),
                items[1].model_dump_json(),
                *due_ms,
            ],
        )
        return bool(introduced)

    async def withdraw(self, member_id: str, candidate_id: str) -> bool:
        """Take back the item about `candidate_id` (e.g. an invitation to a deleted project);
        True if the inbox still held it."""
        removed = await self._withdraw(keys=[], args=[self._prefix, member_id, candidate_id])
        return bool(removed)

    async def record_joined(self, members: Sequence[tuple[str, datetime]]) -> None:
        """When members first joined (kept until their first suggestion, 30 days at most)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id, at in members:
                key = self._key("joined", member_id)
                pipe.set(key, at.timestamp(), nx=True, ex=JOINED_TTL_S)
            await pipe.execute()

    async def take_joined(self, member_ids: Sequence[str]) -> dict[str, float]:
        """Join times of members just suggested something for the first time (then forgotten)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in member_ids:
                pipe.getdel(self._key("joined", member_id))
            values = await pipe.execute()
        return {m: float(v) for m, v in zip(member_ids, values, strict=True) if v is not None}


def _stored_item(item_id: str, item_json: str | bytes, read: bool = False) -> InboxItem:
    new = NewItem.model_validate_json(item_json)
    return InboxItem(
        item_id=item_id,
        kind=new.kind,
        created_at=new.created_at,
        read=read,
        suggestion=new.suggestion,
        shared_email=new.shared_email,
        invitation=new.invitation,
    )


def _stream_id(item_id: str) -> tuple[int, int]:
    ms, _, seq = item_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class MemoryKeyspace:
    """What Redis holds for notifications, in dicts: the fakes of the inbox, outbox and
    contacts share it as their Redis adapters share one Redis. `clock` gives seconds (as
    `time.time`); every expiry (lease, erased marker, delivered key) is measured by it."""

    clock: Callable[[], float]
    streams: defaultdict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    last_ids: dict[str, tuple[int, int]] = field(default_factory=dict)
    suggested: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    read: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    inbox_index: defaultdict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    intro_index: defaultdict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    shown_in: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    accepted: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    accepted_by: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    introduced: set[tuple[str, str]] = field(default_factory=set)
    pending: defaultdict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    sending: dict[str, dict[str, str]] = field(default_factory=dict)
    due: dict[str, int] = field(default_factory=dict)
    leases: dict[str, int] = field(default_factory=dict)
    sent_counts: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    delivered: dict[str, int] = field(default_factory=dict)
    contacts: dict[str, tuple[int, str]] = field(default_factory=dict)
    joined: dict[str, tuple[float, int]] = field(default_factory=dict)
    erased: dict[str, int] = field(default_factory=dict)
    applied: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    applied_at: dict[str, int] = field(default_factory=dict)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def is_erased(self, member_id: str) -> bool:
        return self.erased.get(member_id, 0) > self.now_ms()

    def schedule(self, member_id: str, due_ms: int) -> None:
        """`ZADD due LT`: add the member, or move their time earlier, never later."""
        current = self.due.get(member_id)
        if current is None or due_ms < current:
            self.due[member_id] = due_ms

    def append(self, member_id: str, item_json: str, max_items: int | None = None) -> str:
        """`XADD` (with `MAXLEN` when given): the new entry's id, later than any before."""
        now = self.now_ms()
        last_ms, last_seq = self.last_ids.get(member_id, (0, -1))
        new = (now, 0) if now > last_ms else (last_ms, last_seq + 1)
        self.last_ids[member_id] = new
        item_id = f"{new[0]}-{new[1]}"
        stream = self.streams[member_id]
        stream[item_id] = item_json
        while max_items is not None and len(stream) > max_items:
            del stream[next(iter(stream))]
        return item_id

    def queue(self, member_id: str, candidate_id: str, entry: str, due_ms: int) -> None:
        self.pending[member_id][candidate_id] = entry
        self.schedule(member_id, due_ms)


class MemoryInbox:
    """The inbox contract in a `MemoryKeyspace`, for tests of the logic around it."""

    def __init__(
        self,
        keyspace: MemoryKeyspace,
        max_items: int,
        erased_marker_ttl_s: int = ERASED_MARKER_TTL_S,
        cooling_off_s: int = 0,
        applied_kept: int = APPLIED_UPDATES_KEPT,
    ) -> None:
        self._applied_kept = applied_kept
        self._k = keyspace
        self._max_items = max_items
        self._erased_ttl_ms = erased_marker_ttl_s * 1000
        self._cooling_off_ms = cooling_off_s * 1000

    async def add_new(self, member_id: str, items: Sequence[NewItem], limit: int) -> int:
        [added] = await self.add_new_many([(member_id, items)], limit)
        return added

    async def add_new_many(
        self,
        updates: Sequence[tuple[str, Sequence[NewItem]]],
        limit: int,
        due: Mapping[str, datetime] | None = None,
        *,
        update_ids: Sequence[str | None] | None = None,
    ) -> list[int]:
        due = due or {}
        ids = _update_ids(updates, update_ids)
        if not any(items for _, items in updates):
            return [0] * len(updates)  # as the Redis adapter: no round trip, no id recorded
        return [
            self._add(member, items, limit, due.get(member), update_id)
            for (member, items), update_id in zip(updates, ids, strict=True)
        ]

    def _add(
        self,
        member: str,
        items: Sequence[NewItem],
        limit: int,
        due: datetime | None,
        update_id: str | None,
    ) -> int:
        k = self._k
        if k.is_erased(member):
            return 0
        now, cooling = k.now_ms(), self._cooling_off_ms
        applied = k.applied[member]
        if k.applied_at.get(member, now) + APPLIED_UPDATES_TTL_S * 1000 <= now:
            applied.clear()  # the key expired
        if update_id and update_id in applied:
            return 0
        added = self._add_items(member, items, limit, due, now, cooling)
        if update_id:
            k.applied_at[member] = now
            applied[update_id] = max(applied.values(), default=0) + 1
            for stale in sorted(applied, key=applied.__getitem__)[: -self._applied_kept]:
                del applied[stale]
        return added

    def _add_items(
        self,
        member: str,
        items: Sequence[NewItem],
        limit: int,
        due: datetime | None,
        now: int,
        cooling: int,
    ) -> int:
        k = self._k
        added = 0
        for item in items:
            if added >= limit:
                break
            candidate = item.candidate_id
            last = k.suggested[member].get(candidate)
            fresh = last is None or (cooling > 0 and now - last >= cooling)
            if k.is_erased(candidate) or not fresh:
                continue
            k.suggested[member][candidate] = now
            previous = k.inbox_index[member].get(candidate)
            if previous is not None:  # suggested again after the cooling-off: shows once
                k.streams[member].pop(previous, None)
                k.read[member].discard(previous)
            item_json = item.model_dump_json()
            item_id = k.append(member, item_json, self._max_items)
            k.inbox_index[member][candidate] = item_id
            k.shown_in[candidate].add(member)
            if due is not None:
                k.queue(member, candidate, f"{item_id} {item_json}", int(due.timestamp() * 1000))
            added += 1
        return added

    async def page(
        self, member_id: str, limit: int, before: str | None
    ) -> tuple[list[InboxItem], str | None]:
        entries = list(reversed(self._k.streams.get(member_id, {}).items()))
        if before:
            bound = _stream_id(before)
            entries = [(i, j) for i, j in entries if _stream_id(i) < bound]
        read = self._k.read.get(member_id, set())
        items = [_stored_item(i, j, i in read) for i, j in entries[:limit]]
        next_before = items[-1].item_id if len(entries) > limit and items else None
        return items, next_before

    async def unread(self, member_id: str) -> int:
        total = len(self._k.streams.get(member_id, {}))
        return max(0, total - len(self._k.read.get(member_id, set())))

    async def erase(self, member_id: str) -> int:
        k = self._k
        k.erased[member_id] = k.now_ms() + self._erased_ttl_ms
        removed = 0
        shown_in = k.shown_in.get(member_id, set())
        for other in shown_in:
            for index in (k.inbox_index, k.intro_index):
                item_id = index.get(other, {}).pop(member_id, None)
                if item_id is not None:
                    removed += k.streams[other].pop(item_id, None) is not None
                    k.read[other].discard(item_id)
            k.suggested.get(other, {}).pop(member_id, None)
            k.pending.get(other, {}).pop(member_id, None)
            k.sending.get(other, {}).pop(member_id, None)
        for index in (k.inbox_index, k.intro_index):
            for candidate in index.get(member_id, {}):
                k.shown_in[candidate].discard(member_id)
        for other in k.accepted_by.get(member_id, set()):
            k.accepted[other].discard(member_id)
        for other in k.accepted.get(member_id, set()):
            k.accepted_by[other].discard(member_id)
        for keyed in (
            k.shown_in,
            k.suggested,
            k.streams,
            k.last_ids,
            k.read,
            k.inbox_index,
            k.pending,
            k.sending,
            k.leases,
            k.sent_counts,
            k.contacts,
            k.intro_index,
            k.accepted,
            k.accepted_by,
            k.joined,
            k.due,
            k.applied,
            k.applied_at,
        ):
            keyed.pop(member_id, None)
        return removed

    async def item(self, member_id: str, item_id: str) -> InboxItem | None:
        item_json = self._k.streams.get(member_id, {}).get(item_id)
        if item_json is None:
            return None
        return _stored_item(item_id, item_json, item_id in self._k.read.get(member_id, set()))

    async def mark_read(self, member_id: str, item_id: str) -> None:
        self._k.read[member_id].add(item_id)

    async def suggestion_of(self, member_id: str, candidate_id: str) -> NewItem | None:
        item_id = self._k.inbox_index.get(member_id, {}).get(candidate_id)
        if item_id is None:
            return None
        item_json = self._k.streams.get(member_id, {}).get(item_id)
        return NewItem.model_validate_json(item_json) if item_json is not None else None

    async def accept(
        self,
        member_id: str,
        candidate_id: str,
        items: tuple[NewItem, NewItem],
        due: tuple[datetime | None, datetime | None],
    ) -> bool:
        k = self._k
        a, b = member_id, candidate_id
        if k.is_erased(a) or k.is_erased(b):
            return False
        k.accepted[a].add(b)
        k.accepted_by[b].add(a)
        pair = (min(a, b), max(a, b))
        if a not in k.accepted.get(b, set()) or pair in k.introduced:
            return False
        k.introduced.add(pair)
        for member, other, item, when in ((a, b, items[0], due[0]), (b, a, items[1], due[1])):
            item_json = item.model_dump_json()
            item_id = k.append(member, item_json)
            k.intro_index[member][other] = item_id
            k.shown_in[other].add(member)
            if when is not None:
                k.queue(member, other, f"{item_id} {item_json}", int(when.timestamp() * 1000))
        return True

    async def withdraw(self, member_id: str, candidate_id: str) -> bool:
        k = self._k
        removed = False
        item_id = k.inbox_index.get(member_id, {}).pop(candidate_id, None)
        if item_id is not None:
            removed = k.streams[member_id].pop(item_id, None) is not None
            k.read[member_id].discard(item_id)
        k.suggested.get(member_id, {}).pop(candidate_id, None)
        k.pending.get(member_id, {}).pop(candidate_id, None)
        k.sending.get(member_id, {}).pop(candidate_id, None)
        k.shown_in.get(candidate_id, set()).discard(member_id)
        return removed

    async def record_joined(self, members: Sequence[tuple[str, datetime]]) -> None:
        now = self._k.now_ms()
        for member_id, at in members:
            current = self._k.joined.get(member_id)
            if current is None or current[1] <= now:
                self._k.joined[member_id] = (at.timestamp(), now + JOINED_TTL_S * 1000)

    async def take_joined(self, member_ids: Sequence[str]) -> dict[str, float]:
        now = self._k.now_ms()
        taken: dict[str, float] = {}
        for member_id in member_ids:
            entry = self._k.joined.pop(member_id, None)
            if entry is not None and entry[1] > now:
                taken[member_id] = entry[0]
        return taken


def _update_ids(
    updates: Sequence[tuple[str, Sequence[NewItem]]], update_ids: Sequence[str | None] | None
) -> Sequence[str | None]:
    if update_ids is None:
        return [None] * len(updates)
    if len(update_ids) != len(updates):
        raise ValueError(f"{len(update_ids)} update ids for {len(updates)} updates")
    return update_ids
