"""Project invitations in Redis: the `Invitations` seam, its Redis adapter and an in-memory
fake.

Per project, `invitations:<hub>/<project>` maps each invited member to their invitation; per
member, `invited:<member>` maps their invitation ids to the project, so an erasure finds every
invitation of theirs without a scan, and a deleted project finds its invited members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.hub import project_key
from nnmatch_notifications.invitations import Invitation, invitation_id

# KEYS: project hash, member index. ARGV: member, invitation id, project key, json.
# Adds the invitation unless the member already has one for the project; returns the stored one.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[4]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return {1, ARGV[4]}
end
return {0, redis.call('HGET', KEYS[1], ARGV[1])}
"""

# KEYS: project hash. ARGV: member, the json read before, the new json. Compare and set: a
# concurrent answer, an erasure or a withdrawal in between makes it fail.
_REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# ARGV: prefix, member. Every invitation of the member goes, and their index.
_ERASE_MEMBER = """
local prefix, member = ARGV[1], ARGV[2]
local index = prefix .. 'invited:' .. member
local entries = redis.call('HGETALL', index)
for i = 2, #entries, 2 do
  redis.call('HDEL', prefix .. 'invitations:' .. entries[i], member)
end
redis.call('DEL', index)
return #entries / 2
"""

# ARGV: prefix, project key, invitation id. The project's invitations go; returns them.
_DROP_PROJECT = """
local prefix, key, id = ARGV[1], ARGV[2], ARGV[3]
local entries = redis.call('HGETALL', prefix .. 'invitations:' .. key)
for i = 1, #entries, 2 do
  redis.call('HDEL', prefix .. 'invited:' .. entries[i], id)
end
redis.call('DEL', prefix .. 'invitations:' .. key)
return entries
"""


class Invitations(Protocol):
    async def create(self, invitation: Invitation) -> tuple[Invitation, bool]:
        """Store it unless the member has one for this project: (the stored one, created)."""
        ...

    async def get(self, member_id: str, invitation_id: str) -> Invitation | None: ...

    async def get_many(
        self, member_id: str, invitation_ids: Sequence[str]
    ) -> dict[str, Invitation]:
        """The member's invitations among `invitation_ids` that are still held, by id (an
        inbox page's, read in two round trips however many there are)."""
        ...

    async def replace(self, previous: Invitation, updated: Invitation) -> bool:
        """Store `updated` if `previous` is still what is stored; False if it changed or went
        (answered, erased or withdrawn) meanwhile."""
        ...

    async def of_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        """The project's invitations, oldest first."""
        ...

    async def erase_member(self, member_id: str) -> int: ...

    async def drop_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        """Forget the project's invitations; returns what they were."""
        ...


def _ordered(invitations: Sequence[Invitation]) -> list[Invitation]:
    return sorted(invitations, key=lambda i: (i.created_at, i.member_id))


class RedisInvitations:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._create = redis.register_script(_CREATE)
        self._replace = redis.register_script(_REPLACE)
        self._erase = redis.register_script(_ERASE_MEMBER)
        self._drop = redis.register_script(_DROP_PROJECT)

    def _project(self, hub_id: str, project_id: str) -> str:
        return f"{self._prefix}invitations:{project_key(hub_id, project_id)}"

    def _index(self, member_id: str) -> str:
        return f"{self._prefix}invited:{member_id}"

    async def create(self, invitation: Invitation) -> tuple[Invitation, bool]:
        i = invitation
        created, raw = await self._create(
            keys=[self._project(i.hub_id, i.project_id), self._index(i.member_id)],
            args=[
                i.member_id,
                i.invitation_id,
                project_key(i.hub_id, i.project_id),
                i.model_dump_json(),
            ],
        )
        return Invitation.model_validate_json(raw), bool(created)

    async def get(self, member_id: str, invitation_id: str) -> Invitation | None:
        return (await self.get_many(member_id, [invitation_id])).get(invitation_id)

    async def get_many(
        self, member_id: str, invitation_ids: Sequence[str]
    ) -> dict[str, Invitation]:
        """One HMGET of the member's index, then one pipelined HGET per invitation found."""
        wanted = list(dict.fromkeys(invitation_ids))
        if not wanted:
            return {}
        keys: list[bytes | str | None] = await self._redis.hmget(self._index(member_id), wanted)
        found = [
            (i, k.decode() if isinstance(k, bytes) else k)
            for i, k in zip(wanted, keys, strict=True)
            if k
        ]
        if not found:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, key in found:
                pipe.hget(f"{self._prefix}invitations:{key}", member_id)
            raws: list[bytes | str | None] = await pipe.execute()
        return {
            i: Invitation.model_validate_json(raw)
            for (i, _), raw in zip(found, raws, strict=True)
            if raw
        }

    async def replace(self, previous: Invitation, updated: Invitation) -> bool:
        i = previous
        replaced = await self._replace(
            keys=[self._project(i.hub_id, i.project_id)],
            args=[i.member_id, i.model_dump_json(), updated.model_dump_json()],
        )
        return bool(replaced)

    async def of_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        raw: dict[bytes | str, bytes | str] = await self._redis.hgetall(
            self._project(hub_id, project_id)
        )
        return _ordered([Invitation.model_validate_json(v) for v in raw.values()])

    async def erase_member(self, member_id: str) -> int:
        return int(await self._erase(keys=[], args=[self._prefix, member_id]))

    async def drop_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        entries = await self._drop(
            keys=[],
            args=[self._prefix, project_key(hub_id, project_id), invitation_id(hub_id, project_id)],
        )
        return _ordered([Invitation.model_validate_json(v) for v in entries[1::2]])


class MemoryInvitations:
    """The invitations contract in dicts, for tests of the logic around it."""

    def __init__(self) -> None:
        self.projects: dict[str, dict[str, Invitation]] = {}
        self.index: dict[str, dict[str, str]] = {}

    async def create(self, invitation: Invitation) -> tuple[Invitation, bool]:
        i = invitation
        key = project_key(i.hub_id, i.project_id)
        stored = self.projects.setdefault(key, {})
        if i.member_id in stored:
            return stored[i.member_id], False
        stored[i.member_id] = i
        self.index.setdefault(i.member_id, {})[i.invitation_id] = key
        return i, True

    async def get(self, member_id: str, invitation_id: str) -> Invitation | None:
        key = self.index.get(member_id, {}).get(invitation_id)
        return None if key is None else self.projects.get(key, {}).get(member_id)

    async def get_many(
        self, member_id: str, invitation_ids: Sequence[str]
    ) -> dict[str, Invitation]:
        found = {i: await self.get(member_id, i) for i in invitation_ids}
        return {i: invitation for i, invitation in found.items() if invitation is not None}

    async def replace(self, previous: Invitation, updated: Invitation) -> bool:
        stored = self.projects.get(project_key(previous.hub_id, previous.project_id), {})
        if stored.get(previous.member_id) != previous:
            return False
        stored[previous.member_id] = updated
        return True

    async def of_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        return _ordered(list(self.projects.get(project_key(hub_id, project_id), {}).values()))

    async def erase_member(self, member_id: str) -> int:
        index = self.index.pop(member_id, {})
        for key in index.values():
            self.projects.get(key, {}).pop(member_id, None)
        return len(index)

    async def drop_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        dropped = self.projects.pop(project_key(hub_id, project_id), {})
        for invitation in dropped.values():
            self.index.get(invitation.member_id, {}).pop(invitation.invitation_id, None)
        return _ordered(list(dropped.values()))
