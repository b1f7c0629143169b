"""Build the matching app: model, index replay, the embedder and matcher consumers, routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import faiss
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.events import utc_now
from nnmatch.messaging import (
    ConsumerState,
    Publisher,
    make_broker,
    start_broker,
    subscribe_batches,
)
from nnmatch.observability import Metrics
from nnmatch.topics import FEEDBACK, PROFILE_VECTORS, PROFILES, ensure_topics
from nnmatch.webapp import service_app
from nnmatch_matching.embedding.embedding_cache import RedisEmbeddingCache, model_key
from nnmatch_matching.embedding.handlers import EmbedProfiles
from nnmatch_matching.embedding.model_status import ModelWatch, RedisModelStatus, announce
from nnmatch_matching.embedding.reembed import Reembedder, ReembedMetrics
from nnmatch_matching.matcher.api import router
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.feedback_store import RedisFeedbackStore
from nnmatch_matching.matcher.handlers import (
    ApplyFeedback,
    MatchChangedMembers,
    RerankAfterModelChange,
)
from nnmatch_matching.matcher.index import VectorIndex
from nnmatch_matching.matcher.replay import replay_vectors
from nnmatch_matching.matcher.snapshot import RestoreMetrics, SnapshotKeeper
from nnmatch_matching.matcher.store import RedisMatchesStore
from nnmatch_matching.metrics import MatchingMetrics
from nnmatch_matching.search.api import router as search_router
from nnmatch_matching.settings import MatchingSettings

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
    model_status = RedisModelStatus(redis, settings.redis_prefix)
    reembed_metrics = ReembedMetrics(metrics) if "embedder" in settings.roles else None
    background: list[asyncio.Task[None]] = []
    models: dict[str, str] = {}  # the embedder's model key, once loaded in this process
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
    starters: list[Callable[[], Coroutine[Any, Any, None]]] = []
    watch = ModelWatch(model_status, lambda: engine.model_id if engine is not None else None)

    async def start_consumers() -> None:
        """Idempotent, so a retry after a failure (Kafka away) resumes where it stopped."""
        await ensure_topics(settings.kafka())
        if "embedder" in settings.roles and not progress["embedder"]:
            embedder = await asyncio.to_thread(settings.load_embedder)
            if embedder.model.dimensions != settings.embedding_dimensions:
                raise ValueError(
                    f"model makes {embedder.model.dimensions}-d vectors; set "
                    f"NNMATCH_EMBEDDING_DIMENSIONS={embedder.model.dimensions}"
                )
            key = model_key(embedder.model)
            previous = await model_status.get()
            announced = announce(previous, key)
            if announced != previous:
                await model_status.put(announced, utc_now())
            assert reembed_metrics is not None
            reembed = Reembedder(
                settings.kafka(),
                embedder,
                embedding_cache,
                model_status,
                publisher,
                matching_metrics,
                reembed_metrics,
                embed_lock,
                utc_now,
                batch_members=settings.reembed_batch_members,
                pause_s=settings.reembed_pause_s,
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
                        embedder,
                        publisher,
                        matching_metrics,
                        embedding_cache,
                        embed_lock,
                        on_erased=reembed.forget,
                    ),
                    max_records=settings.embedder_max_records,
                )
            )
            models["embedder"] = key
            starters.append(reembed.keep_running)
            progress["embedder"] = True
        if engine is not None and not progress["matcher"]:
            engine.model_id = await matcher_model(settings, model_status, models.get("embedder"))
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
                        watch=watch,
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
                        watch=watch,
                    ),
                    max_records=settings.matcher_max_records,
                )
            )
            rerank = RerankAfterModelChange(
                engine, watch, publisher, store, utc_now, matching_metrics, engine_lock
            )
            starters.append(rerank.run)
            progress["matcher"] = True
        await start_broker(broker)
        if snapshots is not None:
            snapshots.start()
        while starters:  # background work, once the consumers run
            background.append(asyncio.create_task(starters.pop(0)()))

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
    serve = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Background work stops first; the last snapshot is written once the consumers stopped
        (batch done, committed)."""
        async with serve(app):
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if snapshots is not None:
            await snapshots.stop()

    app.router.lifespan_context = lifespan
    return app


async def matcher_model(
    settings: MatchingSettings, status: RedisModelStatus, embedder_model: str | None
) -> str | None:
    """The model (`id@version`) whose vectors this matcher compares.

    The embedder's in this process; else the one the embedder announced, if it is the model
    this matcher is configured with (a matcher started before the embedder switched waits:
    start-up retries). None without any announcement: the first vectors decide (as before).
    """
    if embedder_model is not None:
        return embedder_model
    announced = await status.get()
    if announced is None:
        return None
    if announced.current.split("@", 1)[0] != settings.embedding_model_id:
        raise RuntimeError(
            f"the embedder announces model {announced.current}; this matcher is configured for "
            f"{settings.embedding_model_id}: waiting for the embedder to switch"
        )
    return announced.current
