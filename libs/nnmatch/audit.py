"""The audit trail: who did what to which member and when, from every service, never personal data.

One record shape for every operator action, every contact read, export and erasure. A record
holds only ids, a role, an action name and times: no field can carry a bio, an e-mail address
or a token, so the trail may be kept as long as the law asks without becoming a store of
personal data itself. The records go to one Redis stream of the deployment
(`<prefix>audit:log`), as the read models do, with persistence on and no eviction (checked at
start); nothing trims it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Protocol

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from nnmatch.auth import Principal, Role
from nnmatch.paging import BadCursor, decode_cursor, encode_cursor
from nnmatch.profile import MEMBER_ID_PATTERN

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
SCAN_BATCH = 500
MAX_SCANNED = 20_000  # entries one filtered page reads at most before it hands back a cursor


class AuditAction(StrEnum):
    """What was done. Reads of one member's data by someone other than that member count."""

    ERASURE = "erasure"
    PROFILE_WRITE = "profile_write"
    PROFILE_READ = "profile_read"
    BULK_IMPORT = "bulk_import"
    MATCHES_READ = "matches_read"
    MEMBER_LOOKUP = "member_lookup"
    MEMBER_SEARCH = "member_search"
    CONTACT_READ = "contact_read"
    EXPORT = "export"
    AUDIT_READ = "audit_read"
    REPORTS_READ = "reports_read"
    REPORT_DISMISS = "report_dismiss"
    SUSPENSION = "suspension"
    UNSUSPENSION = "unsuspension"
    DLQ_REDRIVE = "dlq_redrive"


class AuditRecord(BaseModel):
    """One audited action. Every field is an id, a name from a fixed set, a count or a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    service: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Who wrote it.")
    actor_role: Role
    actor: str = Field(pattern=MEMBER_ID_PATTERN, description="The token's `sub`.")
    action: AuditAction
    target: str | None = Field(
        default=None, pattern=MEMBER_ID_PATTERN, description="The member acted on, if one."
    )
    count: int | None = Field(
        default=None, ge=0, description="Records affected (bulk import, dead letters re-driven)."
    )
    topic: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="The topic acted on (a re-drive of its dead letters), if one.",
    )
    request_id: str = Field(pattern=REQUEST_ID_PATTERN)


class AuditEntry(BaseModel):
    """A record as stored, with its position in the trail (newest first when paged)."""

    id: str
    record: AuditRecord


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class AuditLog(Protocol):
    """Append-only; paged newest first, optionally only the records about one member."""

    async def append(self, record: AuditRecord) -> str: ...
    async def page(self, limit: int, cursor: str | None, target: str | None) -> AuditPage: ...


def _stream_position(cursor: str | None) -> str:
    """The exclusive upper bound a cursor names ('+': from the newest)."""
    if not cursor:
        return "+"
    position = decode_cursor(cursor)
    if not _STREAM_ID.fullmatch(position):
        raise BadCursor("cursor is not one this server issued; start again without it")
    return f"({position}"


class RedisAuditLog:
    """`<prefix>audit:log`: a stream of `{"json": AuditRecord}` entries, never trimmed."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}audit:log"

    async def append(self, record: AuditRecord) -> str:
        entry_id = await self._redis.xadd(self.key, {"json": record.model_dump_json()})
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def page(self, limit: int, cursor: str | None, target: str | None) -> AuditPage:
        upper = _stream_position(cursor)
        items: list[AuditEntry] = []
        scanned = 0
        while len(items) < limit and scanned < MAX_SCANNED:
            batch = await self._redis.xrevrange(self.key, max=upper, min="-", count=SCAN_BATCH)
            if not batch:
                return AuditPage(items=items, next_cursor=None)
            for raw_id, fields in batch:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                scanned += 1
                upper = f"({entry_id}"
                record = AuditRecord.model_validate_json((fields or {})[b"json"])
                if target is None or record.target == target:
                    items.append(AuditEntry(id=entry_id, record=record))
                    if len(items) == limit:
                        break
            if len(batch) < SCAN_BATCH and len(items) < limit:
                return AuditPage(items=items, next_cursor=None)
        return AuditPage(items=items, next_cursor=encode_cursor(upper[1:]))


@dataclass
class MemoryAuditLog:
    """The same contract in a list (ids are `<n>-0`, as a stream's would sort)."""

    entries: list[AuditEntry] = field(default_factory=list)

    async def append(self, record: AuditRecord) -> str:
        entry_id = f"{len(self.entries) + 1}-0"
        self.entries.append(AuditEntry(id=entry_id, record=record))
        return entry_id

    async def page(self, limit: int, cursor: str | None, target: str | None) -> AuditPage:
        upper = _stream_position(cursor)
        below = int(upper[1:].split("-")[0]) if upper != "+" else len(self.entries) + 1
        newest_first = [e for e in reversed(self.entries) if int(e.id.split("-")[0]) < below]
        matching = [e for e in newest_first if target is None or e.record.target == target]
        items = matching[:limit]
        more = len(matching) > limit
        return AuditPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


def request_id(request: Request) -> str:
    """The caller's `X-Request-ID` when it is a plain token, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class Auditor:
    """Writes audit records for one service; the routes call it, with the request at hand."""

    def __init__(self, log: AuditLog, service: str, clock: Callable[[], datetime]) -> None:
        self.log = log
        self._service = service
        self._clock = clock

    async def record(
        self,
        request: Request,
        principal: Principal,
        action: AuditAction,
        target: str | None = None,
        *,
        count: int | None = None,
    ) -> AuditRecord:
        record = AuditRecord(
            at=self._clock(),
            service=self._service,
            actor_role=principal.role,
            actor=principal.subject,
            action=action,
            target=target,
            count=count,
            request_id=request_id(request),
        )
        await self.log.append(record)
        return record


def get_auditor(request: Request) -> Auditor:
    auditor: Auditor = request.app.state.auditor
    return auditor


AuditorDep = Annotated[Auditor, Depends(get_auditor)]
