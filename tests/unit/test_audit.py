"""The audit trail's record and log contract: ids, roles, actions and times only; paged newest
first, filtered by member, across a stream longer than one scan batch. The same contract runs on
Redis in tests/integration/test_audit_trail.py."""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from nnmatch.audit import AuditAction, AuditLog, AuditRecord, MemoryAuditLog
from nnmatch.auth import Role
from nnmatch.paging import BadCursor, encode_cursor

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def record(target: str | None, action: AuditAction = AuditAction.PROFILE_READ) -> AuditRecord:
    return AuditRecord(
        at=NOW,
        service="profiles",
        actor_role=Role.OPERATOR,
        actor="op-1",
        action=action,
        target=target,
        request_id="req-1",
    )


def test_no_field_of_a_record_can_hold_free_text() -> None:
    """Every string field is an enum or constrained by a pattern that admits no spaces or @,
    so a bio, an e-mail address or a JWT (dots) cannot be written into the trail."""
    hints = typing.get_type_hints(AuditRecord)
    free = []
    for name, info in AuditRecord.model_fields.items():
        if str in typing.get_args(hints[name]) or hints[name] is str:
            patterns = [m.pattern for m in info.metadata if hasattr(m, "pattern")]
            if not patterns or any(c in p for p in patterns for c in (" ", "@", r"\s", ".*")):
                free.append(name)
    assert free == []
    for bad in ({"target": "amina@example.org"}, {"actor": "a b"}, {"note": "bio"}):
        with pytest.raises(ValidationError):
            AuditRecord.model_validate({**record("m-1").model_dump(), **bad})
    with pytest.raises(ValidationError):
        AuditRecord.model_validate({**record("m-1").model_dump(), "request_id": "eyJ.a b"})


async def check_pages_newest_first_and_filters_by_member(log: AuditLog, total: int) -> None:
    for i in range(total):
        await log.append(record(f"m-{i % 3}", AuditAction.PROFILE_READ))

    first = await log.page(limit=4, cursor=None, target=None)
    second = await log.page(limit=4, cursor=first.next_cursor, target=None)
    seen: list[AuditRecord] = []
    cursor: str | None = None
    while True:
        page = await log.page(limit=7, cursor=cursor, target="m-1")
        seen += [e.record for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    ids = [e.id for e in first.items + second.items]
    assert len(set(ids)) == 8
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")), reverse=True)
    assert len(seen) == len([i for i in range(total) if i % 3 == 1])
    assert {r.target for r in seen} == {"m-1"}
    everything = await log.page(limit=100, cursor=None, target="nobody")
    assert everything.items == []
    assert everything.next_cursor is None


async def test_the_memory_log_pages_newest_first_and_filters_by_member() -> None:
    await check_pages_newest_first_and_filters_by_member(MemoryAuditLog(), total=40)


async def test_a_cursor_it_did_not_issue_is_refused() -> None:
    with pytest.raises(BadCursor):
        await MemoryAuditLog().page(10, encode_cursor("o:5"), None)
