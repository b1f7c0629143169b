"""A member's own data for a data-access request (GDPR art. 15): the Redis keys named for them.

Each service declares every key family it keeps per member (`inbox:{m}`, `contact:{m}` …),
either exported or not, with the reason, so nothing is forgotten silently: a test scans Redis
for every key named for a member, as the erasure check does, and fails on a family no service
declared. Keys of other members that mention this one (someone else's inbox showing them) are
those members' data and never exported; erasure removes the mentions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from redis.asyncio import Redis

MEMBER = "{m}"


@dataclass(frozen=True)
class KeyFamily:
    """`pattern` with `{m}` for the member id; `reason` says what it is, or why not exported."""

    pattern: str
    exported: bool
    reason: str
    hidden_fields: tuple[str, ...] = ()
    """Hash field prefixes left out (vectors: metadata only; sealed secrets)."""


class ServiceExport(BaseModel):
    """One service's part of an export: the member's keys by family, and what is left out."""

    member_id: str
    service: str
    stores: dict[str, Any]
    not_exported: dict[str, str]


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def read_key(redis: Redis, key: str, hidden: Sequence[str] = ()) -> Any:
    """A key's value as JSON-able data by its type; None when it does not exist."""
    kind = await redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    client: Any = redis  # redis-py's types do not narrow by command
    if kind == "none":
        return None
    if kind == "string":
        return _decode(await client.get(key))
    if kind == "hash":
        fields = {_decode(k): v for k, v in (await client.hgetall(key)).items()}
        return {k: _decode(v) for k, v in sorted(fields.items()) if not k.startswith(tuple(hidden))}
    if kind == "set":
        return sorted(_decode(v) for v in await client.smembers(key))
    if kind == "zset":
        return [[_decode(v), s] for v, s in await client.zrange(key, 0, -1, withscores=True)]
    if kind == "list":
        return [_decode(v) for v in await client.lrange(key, 0, -1)]
    if kind == "stream":
        return [
            {"id": _decode(i), **{_decode(k): _decode(v) for k, v in f.items()}}
            for i, f in await client.xrange(key)
        ]
    return f"<{kind}>"


async def export_families(
    redis: Redis, prefix: str, member_id: str, service: str, families: Sequence[KeyFamily]
) -> ServiceExport:
    stores: dict[str, Any] = {}
    for family in families:
        if family.exported:
            key = prefix + family.pattern.replace(MEMBER, member_id)
            stores[family.pattern] = await read_key(redis, key, family.hidden_fields)
    return ServiceExport(
        member_id=member_id,
        service=service,
        stores=stores,
        not_exported={f.pattern: f.reason for f in families if not f.exported},
    )


class MemberExporter:
    """One service's export over its declared key families (built by `service_app`)."""

    def __init__(
        self, redis: Redis, prefix: str, service: str, families: Sequence[KeyFamily]
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._service = service
        self.families = tuple(families)

    async def export(self, member_id: str) -> ServiceExport:
        return await export_families(
            self._redis, self._prefix, member_id, self._service, self.families
        )


def get_exporter(request: Request) -> MemberExporter:
    exporter: MemberExporter = request.app.state.exporter
    return exporter


ExporterDep = Annotated[MemberExporter, Depends(get_exporter)]
