"""The in-app inbox in Redis, with the never-twice rule enforced atomically.

Per member: `suggested:<id>` (set of candidates ever suggested), `inbox:<id>` (stream, newest
last, capped), `unread:<id>` (counter), `read:<id>` (set of read item ids). One Lua script
checks the pair and appends the item together, so a crash or a redelivered record can neither
lose a suggestion nor add it twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from nnmatch_notifications.inbox import InboxItem, NewItem

# KEYS: suggested, inbox, unread. ARGV: max_items, limit, then (candidate_id, item_json) pairs.
_ADD_NEW = """
local added = 0
local limit = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  if added >= limit then break end
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'item', ARGV[i + 1])
    redis.call('INCR', KEYS[3])
    added = added + 1
  end
end
return added
"""


class RedisInbox:
    def __init__(self, redis: Redis, prefix: str, max_items: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_items = max_items
        self._add = redis.register_script(_ADD_NEW)

    def _key(self, name: str, member_id: str) -> str:
        return f"{self._prefix}{name}:{member_id}"

    async def add_new(self, member_id: str, items: Sequence[NewItem], limit: int) -> int:
        """Append up to `limit` items whose pair was never suggested; returns how many."""
        if not items:
            return 0
        args: list[str | int] = [self._max_items, limit]
        for item in items:
            args.extend([item.candidate_id, item.model_dump_json()])
        added = await self._add(
            keys=[
                self._key("suggested", member_id),
                self._key("inbox", member_id),
                self._key("unread", member_id),
            ],
            args=args,
        )
        return int(added)

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
        items: list[InboxItem] = []
        for entry_id, fields in entries[:limit]:
            item_id = entry_id.decode()
            new = NewItem.model_validate_json(fields[b"item"])
            items.append(
                InboxItem(
                    item_id=item_id,
                    kind=new.kind,
                    created_at=new.created_at,
                    read=item_id in read,
                    suggestion=new.suggestion,
                )
            )
        next_before = items[-1].item_id if len(entries) > limit and items else None
        return items, next_before

    async def unread(self, member_id: str) -> int:
        raw = await self._redis.get(self._key("unread", member_id))
        return max(0, int(raw)) if raw is not None else 0

    async def ping(self) -> None:
        await self._redis.ping()
