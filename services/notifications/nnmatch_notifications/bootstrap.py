"""Build the notifications app: Redis inbox, the matches consumer, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.messaging import Publisher, make_broker, subscribe_batches
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.problems import install_problem_details
from nnmatch.startup import Startup
from nnmatch.topics import MATCHES, PROFILES, ensure_topics
from nnmatch_notifications.api import router
from nnmatch_notifications.handlers import DeliverSuggestions, EraseMembers, NotificationMetrics
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import RedisInbox

NOTIFIER_GROUP = "nnmatch-notifier"
ERASURE_GROUP = "nnmatch-notifier-erasure"


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: NotificationsSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    health = Health()
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    publisher = Publisher(broker, settings, metrics)
    inbox = RedisInbox(redis, settings.redis_prefix, settings.inbox_max_items)
    erasure = subscribe_batches(
        broker,
        publisher,
        settings,
        metrics,
        PROFILES,
        ERASURE_GROUP,
        EraseMembers(inbox),
        max_records=settings.max_records,
    )
    consumer = subscribe_batches(
        broker,
        publisher,
        settings,
        metrics,
        MATCHES,
        NOTIFIER_GROUP,
        DeliverSuggestions(
            inbox,
            utc_now,
            NotificationMetrics(metrics),
            settings.min_score,
            settings.suggestions_per_update,
        ),
        max_records=settings.max_records,
    )

    async def start_consumers() -> None:
        await ensure_topics(settings.kafka())
        await broker.start()

    startup = Startup(start_consumers, name="notifications consumer")

    async def redis_ready() -> str | None:
        await redis.ping()
        return None

    async def kafka_ready() -> str | None:
        if not startup.done:
            return None
        return None if await broker.ping(timeout=2.0) else "kafka does not answer"

    async def consumer_ready() -> str | None:
        failing = [c for c in (consumer, erasure) if c.consecutive_failures >= 3]
        return f"{failing[0].group}: {failing[0].last_error}" if failing else None

    health.add("startup", startup.readiness)
    health.add("redis", redis_ready)
    health.add("kafka", kafka_ready)
    health.add("consumer", consumer_ready)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup.start()
        try:
            yield
        finally:
            await startup.stop()
            await broker.stop()
            await redis.aclose()

    app = FastAPI(
        title="nnmatch notifications",
        version="1",
        lifespan=lifespan,
        description="Delivers match suggestions: each pair at most once, to the in-app inbox.",
    )
    app.state.settings = settings
    app.state.inbox = inbox
    install_problem_details(app)
    instrument_http(app, metrics)
    app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app
