"""The audit log's contract on a real Redis stream, across more entries than one scan batch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch.audit import SCAN_BATCH, RedisAuditLog
from nnmatch.paging import BadCursor, encode_cursor
from tests.support import Namespace
from tests.unit.test_audit import check_pages_newest_first_and_filters_by_member

pytestmark = pytest.mark.integration


@pytest.fixture
async def log(namespace: Namespace) -> AsyncIterator[RedisAuditLog]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield RedisAuditLog(client, namespace.redis_prefix)
    await client.aclose()


async def test_the_redis_log_pages_newest_first_and_filters_by_member(log: RedisAuditLog) -> None:
    await check_pages_newest_first_and_filters_by_member(log, total=2 * SCAN_BATCH + 40)


async def test_a_cursor_it_did_not_issue_is_refused(log: RedisAuditLog) -> None:
    with pytest.raises(BadCursor):
        await log.page(10, encode_cursor("o:5"), None)
