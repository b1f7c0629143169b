"""Build the profiles app: settings → adapters (Kafka, Redis) → service → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.messaging import Publisher, make_broker
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.problems import install_problem_details
from nnmatch.startup import Startup
from nnmatch.topics import ensure_topics
from nnmatch_profiles.api import router
from nnmatch_profiles.service import ProfileService
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_profiles.store import RedisProfileStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: ProfilesSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    health = Health()
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    publisher = Publisher(broker, settings, metrics)
    store = RedisProfileStore(redis, settings.redis_prefix)

    async def connect() -> None:
        await ensure_topics(settings.kafka())
        await broker.start()

    startup = Startup(connect, name="profiles producer")

    async def redis_ready() -> str | None:
        await redis.ping()
        return None

    async def kafka_ready() -> str | None:
        if not startup.done:
            return None  # reported by the start-up check
        return None if await broker.ping(timeout=2.0) else "kafka does not answer"

    health.add("startup", startup.readiness)
    health.add("redis", redis_ready)
    health.add("kafka", kafka_ready)

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
        title="nnmatch profiles",
        version="1",
        lifespan=lifespan,
        description="Member profiles in; `profiles.v1` out. Writes are answered 2xx only once "
        "Kafka acknowledged them (acks=all).",
    )
    app.state.settings = settings
    app.state.profile_service = ProfileService(
        store, publisher, utc_now, chunk_size=settings.bulk_chunk_size
    )
    install_problem_details(app)
    instrument_http(app, metrics)
    app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app
