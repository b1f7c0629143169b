"""Build the matching app: model, index replay, the embedder and matcher consumers, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.messaging import ConsumerState, Publisher, make_broker, subscribe_batches
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.problems import install_problem_details
from nnmatch.startup import Startup
from nnmatch.topics import PROFILE_VECTORS, PROFILES, ensure_topics
from nnmatch_matching.api import router
from nnmatch_matching.embedder import SentenceTransformerEmbedder, bundled_model_path
from nnmatch_matching.engine import MatchEngine
from nnmatch_matching.handlers import EmbedProfiles, MatchChangedMembers, MatchingMetrics
from nnmatch_matching.replay import replay_vectors
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.store import RedisMatchesStore

EMBEDDER_GROUP = "nnmatch-embedder"
MATCHER_GROUP = "nnmatch-matcher"


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: MatchingSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    matching_metrics = MatchingMetrics(metrics)
    health = Health()
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    publisher = Publisher(broker, settings, metrics)
    store = RedisMatchesStore(redis, settings.redis_prefix)
    engine = (
        MatchEngine(
            settings.embedding_dimensions,
            top_n=settings.top_n,
            candidate_k=settings.candidate_k,
            reverse_k=settings.reverse_k,
        )
        if "matcher" in settings.roles
        else None
    )
    consumers: list[ConsumerState] = []
    progress = {"embedder": False, "matcher": False}

    async def start_consumers() -> None:
        """Idempotent, so a retry after a failure (Kafka away) resumes where it stopped."""
        await ensure_topics(settings.kafka())
        if "embedder" in settings.roles and not progress["embedder"]:
            path = settings.embedding_model_path or bundled_model_path()
            embedder = await asyncio.to_thread(
                SentenceTransformerEmbedder,
                path,
                settings.embedding_model_id,
                settings.embedding_device,
                settings.embedding_batch_size,
            )
            if embedder.model.dimensions != settings.embedding_dimensions:
                raise ValueError(
                    f"model makes {embedder.model.dimensions}-d vectors; set "
                    f"NNMATCH_EMBEDDING_DIMENSIONS={embedder.model.dimensions}"
                )
            consumers.append(
                subscribe_batches(
                    broker,
                    publisher,
                    settings,
                    metrics,
                    PROFILES,
                    EMBEDDER_GROUP,
                    EmbedProfiles(embedder, publisher, matching_metrics),
                    max_records=settings.embedder_max_records,
                )
            )
            progress["embedder"] = True
        if engine is not None and not progress["matcher"]:
            await replay_vectors(settings.kafka(), engine)
            matching_metrics.index_members.set(len(engine))
            consumers.append(
                subscribe_batches(
                    broker,
                    publisher,
                    settings,
                    metrics,
                    PROFILE_VECTORS,
                    MATCHER_GROUP,
                    MatchChangedMembers(engine, publisher, store, utc_now, matching_metrics),
                    max_records=settings.matcher_max_records,
                )
            )
            progress["matcher"] = True
        await broker.start()

    startup = Startup(start_consumers, name="matching consumers")

    async def redis_ready() -> str | None:
        await redis.ping()
        return None

    async def kafka_ready() -> str | None:
        if not startup.done:
            return None  # reported by the start-up check
        return None if await broker.ping(timeout=2.0) else "kafka does not answer"

    async def consumers_ready() -> str | None:
        failing = [c for c in consumers if c.consecutive_failures >= 3]
        return f"{failing[0].group}: {failing[0].last_error}" if failing else None

    health.add("startup", startup.readiness)
    health.add("redis", redis_ready)
    health.add("kafka", kafka_ready)
    health.add("consumers", consumers_ready)

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
        title="nnmatch matching",
        version="1",
        lifespan=lifespan,
        description="Embeds profiles, keeps the FAISS index and serves ranked matches.",
    )
    app.state.settings = settings
    app.state.matches_store = store
    app.state.engine = engine
    app.state.consumers = consumers
    install_problem_details(app)
    instrument_http(app, metrics)
    app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app
