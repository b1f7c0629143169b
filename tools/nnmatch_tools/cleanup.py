"""Forget everything under a prefix: how demo runs and tests leave the broker and Redis clean."""

from __future__ import annotations

from redis.asyncio import Redis

from nnmatch.settings import KafkaSettings
from nnmatch.topics import delete_topics

_BATCH = 1000


async def forget_prefix(kafka: KafkaSettings, redis_url: str, redis_prefix: str) -> None:
    """Delete the Redis keys under `redis_prefix`, then the topics under `kafka.topic_prefix`."""
    if not redis_prefix or not kafka.topic_prefix:
        raise ValueError("refusing to forget an empty prefix: that would be everyone's data")
    client = Redis.from_url(redis_url)
    try:
        doomed: list[bytes] = []
        async for key in client.scan_iter(match=f"{redis_prefix}*", count=_BATCH):
            doomed.append(key)
            if len(doomed) >= _BATCH:
                await client.delete(*doomed)
                doomed.clear()
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()
    await delete_topics(kafka)
