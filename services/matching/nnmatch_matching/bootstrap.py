"""Build the matching app: model, index replay, the embedder and matcher consumers, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import faiss
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.events import utc_now
from nnmatch.messaging import ConsumerState, Publisher, make_broker, subscribe_batches
from nnmatch.observability import Metrics
from nnmatch.topics import FEEDBACK, PROFILE_VECTORS, PROFILES, ensure_topics
from nnmatch.webapp import service_app
from nnmatch_matching.api import router
from nnmatch_matching.embedder import SentenceTransformerEmbedder, bundled_model_path
from nnmatch_matching.embedding_cache import RedisEmbeddingCache
from nnmatch_matching.engine import MatchEngine
from nnmatch_matching.feedback_store import RedisFeedbackStore
from nnmatch_matching.handlers import (
    ApplyFeedback,
    EmbedProfiles,
    MatchChangedMembers,
    MatchingMetrics,
)
from nnmatch_matching.index import VectorIndex
from nnmatch_matching.replay import replay_vectors
from nnmatch_matching.search_api import router as search_router
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.snapshot import RestoreMetrics, SnapshotKeeper
from nnmatch_matching.store import RedisMatchesStore

EMBEDDER_GROUP = "nnmatch-embedder"
MATCHER_GROUP = "nnmatch-matcher"
FEEDBACK_GROUP = "nnmatch-matcher-feedback"


def build_app(settings: MatchingSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    matching_metrics = MatchingMetrics(metrics)
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    publisher = Publisher(broker, settings, metrics)
    store = RedisMatchesStore(redis, settings.redis_prefix)
    feedback_store = RedisFeedbackStore(redis, settings.redis_prefix)
    engine_lock = asyncio.Lock()  # the vectors and feedback consumers both change the engine
    embedding_cache = RedisEmbeddingCache(redis, settings.redis_prefix)
    embed_lock = asyncio.Lock()  # the live embedder and the background re-embed take turns
    faiss.omp_set_num_threads(settings.faiss_threads)
    engine = (
        MatchEngine(
            settings.embedding_dimensions,
            top_n=settings.top_n,
            candidate_k=settings.candidate_k,
            reverse_k=settings.reverse_k,
            lexical_k=settings.lexical_candidate_k,
            weights=settings.ranking_weights(),
            make_index=partial(VectorIndex, options=settings.index_options()),
        )
        if "matcher" in settings.roles
        else None
    )
    restore_metrics = RestoreMetrics(metrics) if engine is not None else None
    snapshots = (
        SnapshotKeeper(
            settings.snapshot_dir,
            engine,
            engine_lock,
            restore_metrics,
            model_id=settings.embedding_model_id,
            interval_s=settings.snapshot_interval_s,
            every_records=settings.snapshot_every_records,
        )
        if engine is not None and restore_metrics is not None and settings.snapshot_dir
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
                    EmbedProfiles(
                        embedder, publisher, matching_metrics, embedding_cache, embed_lock
                    ),
                    max_records=settings.embedder_max_records,
                )
            )
            progress["embedder"] = True
        if engine is not None and not progress["matcher"]:
            resume = snapshots.resume if snapshots else None
            replayed = await replay_vectors(settings.kafka(), engine, resume=resume)
            if restore_metrics is not None:
                restore_metrics.replayed_records.set(replayed)
            matching_metrics.index_members.set(len(engine))
            engine.exclusions.load(await feedback_store.load_all())
            consumers.append(
                subscribe_batches(
                    broker,
                    publisher,
                    settings,
                    metrics,
                    PROFILE_VECTORS,
                    MATCHER_GROUP,
                    MatchChangedMembers(
                        engine,
                        publisher,
                        store,
                        utc_now,
                        matching_metrics,
                        feedback=feedback_store,
                        lock=engine_lock,
                    ),
                    max_records=settings.matcher_max_records,
                )
            )
            consumers.append(
                subscribe_batches(
                    broker,
                    publisher,
                    settings,
                    metrics,
                    FEEDBACK,
                    FEEDBACK_GROUP,
                    ApplyFeedback(
                        engine,
                        feedback_store,
                        publisher,
                        store,
                        utc_now,
                        matching_metrics,
                        engine_lock,
                    ),
                    max_records=settings.matcher_max_records,
                )
            )
            progress["matcher"] = True
        await broker.start()
        if snapshots is not None:
            snapshots.start()

    app = service_app(
        settings=settings,
        title="nnmatch matching",
        description="Embeds profiles, keeps the FAISS index and serves ranked matches.",
        metrics=metrics,
        broker=broker,
        redis=redis,
        start=start_consumers,
        routers=[router, search_router],
        consumers=consumers,  # filled in as start-up registers them
        state={
            "settings": settings,
            "matches_store": store,
            "engine": engine,
            "publisher": publisher,
            "feedback_store": feedback_store,
            "snapshots": snapshots,
        },
    )
    if snapshots is not None:
        serve = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            """The last snapshot is written once the consumers stopped (batch done, committed)."""
            async with serve(app):
                yield
            await snapshots.stop()

        app.router.lifespan_context = lifespan
    return app
