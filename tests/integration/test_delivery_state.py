"""The delivery state on a real Redis: kept per channel, read with the queue, gone with the
member's erasure, and never written again for a member erased meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from nnmatch.contact import Channel
from nnmatch_notifications.delivery_state import RedisDeliveryStates
from nnmatch_notifications.store import RedisInbox
from tests.support import Namespace, redis_mentions
from tests.unit.test_notifications_stores import item

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


async def test_states_are_kept_by_channel_and_erased_with_the_member(
    namespace: Namespace, redis: Redis
) -> None:
    states = RedisDeliveryStates(redis, namespace.redis_prefix)
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    await inbox.add_new_many([("m-d", [item("m-e")])], 5, {"m-d": NOW})
    await states.delivered("m-d", Channel.WEBHOOK, NOW)
    await states.failed("m-d", Channel.EMAIL, NOW, "SMTPRecipientsRefused: m-d@example.org")

    kept = await states.channels("m-d")
    queue = await states.queue("m-d")
    await inbox.erase("m-d")
    await states.failed("m-d", Channel.EMAIL, NOW, "late")  # a send that ends after the erasure

    assert kept[Channel.WEBHOOK].last_delivered_at == NOW
    assert kept[Channel.EMAIL].last_failure == "SMTPRecipientsRefused: <address>"
    assert queue.pending_items == 1
    assert queue.next_due_at == NOW
    assert await states.channels("m-d") == {}
    assert await redis_mentions(namespace.stack.redis.address, namespace.redis_prefix, "m-d") == []
