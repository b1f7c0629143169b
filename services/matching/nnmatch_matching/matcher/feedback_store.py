"""Members' feedback in force, kept in Redis so exclusions outlive the matcher and the log.

`feedback.v1` keeps records for a year only and cannot forget an erased member, so the topic
is the inbox and Redis (persistent, never evicting: checked at start) the durable state:

- `{prefix}feedback:{member}`: hash candidate → action in force (accept, dismiss, block);
- `{prefix}feedback-about:{candidate}`: set of members who gave feedback on the candidate, so
  an erasure finds every hash that names the erased member without a scan.

`FeedbackStore` is the seam the handlers use; `MemoryFeedbackStore` is its in-memory fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

from nnmatch.events import FeedbackAction
from nnmatch_matching.matcher.exclusions import PairFeedback

SCAN_COUNT = 1000


class FeedbackStore(Protocol):
    """The actions in force per (member, candidate) pair, and erasure of a member from all."""

    async def put_many(self, pairs: Sequence[PairFeedback]) -> None: ...

    async def load_all(self) -> list[PairFeedback]: ...

    async def forget_many(self, member_ids: Sequence[str]) -> None: ...

    async def get(self, member_id: str) -> dict[str, FeedbackAction]: ...


class RedisFeedbackStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis: Any = redis  # redis-py's types do not narrow by command
        self._prefix = prefix

    def _given(self, member_id: str) -> str:
        return f"{self._prefix}feedback:{member_id}"

    def _about(self, candidate_id: str) -> str:
        return f"{self._prefix}feedback-about:{candidate_id}"

    async def put_many(self, pairs: Sequence[PairFeedback]) -> None:
        """Store each pair's action in force (idempotent: a redelivered batch writes the same)."""
        if not pairs:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for pair in pairs:
                pipe.hset(self._given(pair.member_id), pair.candidate_id, str(pair.action))
                pipe.sadd(self._about(pair.candidate_id), pair.member_id)
            await pipe.execute()

    async def load_all(self) -> list[PairFeedback]:
        """Every pair in force (read once at start, before the feedback consumer runs)."""
        pairs: list[PairFeedback] = []
        head = self._given("")
        async for raw_key in self._redis.scan_iter(match=f"{head}*", count=SCAN_COUNT):
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            member_id = key[len(head) :]
            for candidate, action in (await self._redis.hgetall(key)).items():
                pairs.append(
                    PairFeedback(member_id, _text(candidate), FeedbackAction(_text(action)))
                )
        return pairs

    async def forget_many(self, member_ids: Sequence[str]) -> None:
        """Erase members: their own feedback, and every mention of them in others' feedback."""
        for member_id in member_ids:
            givers = [_text(m) for m in await self._redis.smembers(self._about(member_id))]
            candidates = [_text(c) for c in await self._redis.hkeys(self._given(member_id))]
            async with self._redis.pipeline(transaction=True) as pipe:
                for giver in givers:
                    pipe.hdel(self._given(giver), member_id)
                for candidate in candidates:
                    pipe.srem(self._about(candidate), member_id)
                pipe.delete(self._given(member_id), self._about(member_id))
                await pipe.execute()

    async def get(self, member_id: str) -> dict[str, FeedbackAction]:
        raw = await self._redis.hgetall(self._given(member_id))
        return {_text(c): FeedbackAction(_text(a)) for c, a in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MemoryFeedbackStore:
    """The same contract in a dict, for tests of the logic around it."""

    def __init__(self) -> None:
        self.given: dict[str, dict[str, FeedbackAction]] = {}

    async def put_many(self, pairs: Sequence[PairFeedback]) -> None:
        for pair in pairs:
            self.given.setdefault(pair.member_id, {})[pair.candidate_id] = pair.action

    async def load_all(self) -> list[PairFeedback]:
        return [
            PairFeedback(member_id, candidate_id, action)
            for member_id, given in self.given.items()
            for candidate_id, action in given.items()
        ]

    async def forget_many(self, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.given.pop(member_id, None)
            for given in self.given.values():
                given.pop(member_id, None)
        self.given = {m: given for m, given in self.given.items() if given}

    async def get(self, member_id: str) -> dict[str, FeedbackAction]:
        return dict(self.given.get(member_id, {}))
