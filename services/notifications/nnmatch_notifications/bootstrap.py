"""Build the notifications app: Redis inbox, the matches and erasure consumers, routes."""

from __future__ import annotations

from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.events import utc_now
from nnmatch.messaging import Publisher, make_broker, subscribe_batches
from nnmatch.observability import Metrics
from nnmatch.topics import MATCHES, PROFILES, ensure_topics
from nnmatch.webapp import service_app
from nnmatch_notifications.api import router
from nnmatch_notifications.handlers import DeliverSuggestions, EraseMembers, NotificationMetrics
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import RedisInbox

NOTIFIER_GROUP = "nnmatch-notifier"
ERASURE_GROUP = "nnmatch-notifier-erasure"


def build_app(settings: NotificationsSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    publisher = Publisher(broker, settings, metrics)
    inbox = RedisInbox(redis, settings.redis_prefix, settings.inbox_max_items)
    deliver = DeliverSuggestions(
        inbox,
        utc_now,
        NotificationMetrics(metrics),
        settings.min_score,
        settings.suggestions_per_update,
    )
    consumers = [
        subscribe_batches(
            broker,
            publisher,
            settings,
            metrics,
            MATCHES,
            NOTIFIER_GROUP,
            deliver,
            max_records=settings.max_records,
        ),
        subscribe_batches(
            broker,
            publisher,
            settings,
            metrics,
            PROFILES,
            ERASURE_GROUP,
            EraseMembers(inbox),
            max_records=settings.max_records,
        ),
    ]

    async def start() -> None:
        await ensure_topics(settings.kafka())
        await broker.start()

    return service_app(
        settings=settings,
        title="nnmatch notifications",
        description="Delivers match suggestions: each pair at most once, to the in-app inbox.",
        metrics=metrics,
        broker=broker,
        redis=redis,
        start=start,
        routers=[router],
        consumers=consumers,
        state={"settings": settings, "inbox": inbox},
    )
