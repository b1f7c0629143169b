"""How deliveries to a member went, by channel: the last success, the last failure and its
cause, and what is still queued. Operators read it to answer "why did they get nothing?".

`<prefix>delivery-state:<M>` is a hash of `<channel>:<field>`; the inbox's erasure deletes it
with the member's other keys, and nothing is recorded for a member erased meanwhile (the
erasure marker is checked in the same script). Causes are bounded and e-mail addresses in
them are masked, as in the dead letter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.contact import Channel
from nnmatch_notifications.lookup import ChannelState, DeliveryQueue

MAX_CAUSE = 300
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")

# ARGV: prefix, member, then field/value pairs. Nothing for a member erased meanwhile.
_RECORD = """
local prefix, member = ARGV[1], ARGV[2]
if redis.call('EXISTS', prefix .. 'erased:' .. redis.sha1hex(member)) == 1 then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('HSET', prefix .. 'delivery-state:' .. member, ARGV[i], ARGV[i + 1])
end
return 1
"""


class DeliveryStates(Protocol):
    async def delivered(self, member_id: str, channel: Channel, at: datetime) -> None: ...
    async def failed(self, member_id: str, channel: Channel, at: datetime, cause: str) -> None: ...
    async def channels(self, member_id: str) -> dict[Channel, ChannelState]: ...
    async def queue(self, member_id: str) -> DeliveryQueue: ...


def masked(cause: str) -> str:
    return _EMAIL.sub("<address>", cause)[:MAX_CAUSE]


def _parse(fields: dict[str, str]) -> dict[Channel, ChannelState]:
    found: dict[Channel, dict[str, str]] = {}
    for name, value in fields.items():
        channel, _, attribute = name.partition(":")
        if channel in Channel.__members__.values() and attribute in ChannelState.model_fields:
            found.setdefault(Channel(channel), {})[attribute] = value
    return {channel: ChannelState.model_validate(values) for channel, values in found.items()}


class RedisDeliveryStates:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._record = redis.register_script(_RECORD)

    async def _set(self, member_id: str, pairs: dict[str, str]) -> None:
        args = [self._prefix, member_id, *(x for kv in pairs.items() for x in kv)]
        await self._record(keys=[], args=args)

    async def delivered(self, member_id: str, channel: Channel, at: datetime) -> None:
        await self._set(member_id, {f"{channel}:last_delivered_at": at.isoformat()})

    async def failed(self, member_id: str, channel: Channel, at: datetime, cause: str) -> None:
        await self._set(
            member_id,
            {f"{channel}:last_failed_at": at.isoformat(), f"{channel}:last_failure": masked(cause)},
        )

    async def channels(self, member_id: str) -> dict[Channel, ChannelState]:
        raw: dict[bytes, bytes] = await self._redis.hgetall(  # type: ignore[assignment]
            f"{self._prefix}delivery-state:{member_id}"
        )
        return _parse({k.decode(): v.decode() for k, v in raw.items()})

    async def queue(self, member_id: str) -> DeliveryQueue:
        """Items waiting in the outbox (outbox.py's `pending:M`, `sending:M` and `due`)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hlen(f"{self._prefix}pending:{member_id}")
            pipe.hlen(f"{self._prefix}sending:{member_id}")
            pipe.zscore(f"{self._prefix}due", member_id)
            pending, sending, due = await pipe.execute()
        return DeliveryQueue(
            pending_items=int(pending) + int(sending),
            next_due_at=datetime.fromtimestamp(float(due) / 1000, UTC) if due else None,
        )


@dataclass
class MemoryDeliveryStates:
    """The same contract in dicts; `queued` is set by tests."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    queued: dict[str, DeliveryQueue] = field(default_factory=dict)

    async def delivered(self, member_id: str, channel: Channel, at: datetime) -> None:
        self.fields.setdefault(member_id, {})[f"{channel}:last_delivered_at"] = at.isoformat()

    async def failed(self, member_id: str, channel: Channel, at: datetime, cause: str) -> None:
        held = self.fields.setdefault(member_id, {})
        held[f"{channel}:last_failed_at"] = at.isoformat()
        held[f"{channel}:last_failure"] = masked(cause)

    async def channels(self, member_id: str) -> dict[Channel, ChannelState]:
        return _parse(self.fields.get(member_id, {}))

    async def queue(self, member_id: str) -> DeliveryQueue:
        return self.queued.get(member_id, DeliveryQueue(pending_items=0, next_due_at=None))
