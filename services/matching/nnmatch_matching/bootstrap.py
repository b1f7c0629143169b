"""Build the matching app: the shared adapters, then each role's piece, composed into one app.

`build_embedder` and `build_matcher` each return a `Piece`: start hooks (run in order, after the
topics exist and before the broker starts), stop hooks and work started in the background once
the consumers run (cancelled first at shutdown). `settings.roles` decides which pieces run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from nnmatch.events import (
    Event,
    HubDeleted,
    HubUpserted,
    ProfileVectorsComputed,
    ProjectDeleted,
    ProjectUpserted,
    utc_now,
)
from nnmatch.member_keys import RedisMemberKeys
from nnmatch.memory import collect_less_often
from nnmatch.messaging import (
    AlreadyApplied,
    BatchHandler,
    ConsumerState,
    Publisher,
    make_broker,
    start_broker,
    subscribe_batches,
)
from nnmatch.observability import Metrics
from nnmatch.topics import (
    FEEDBACK,
    HUBS,
    PROFILE_VECTORS,
    PROFILES,
    PROJECTS,
    TopicSpec,
    ensure_topics,
)
from nnmatch.webapp import Hook, service_app
from nnmatch_matching.deps import MatchingServices
from nnmatch_matching.embedding.embedder import (
    Embedder,
    configured_embedder,
    configured_model_key,
    embed_documents,
)
from nnmatch_matching.embedding.embedding_cache import RedisEmbeddingCache, model_key
from nnmatch_matching.embedding.handlers import EmbedderState, EmbedProfiles
from nnmatch_matching.embedding.model_status import (
    ModelStatusStore,
    ModelWatch,
    RedisModelStatus,
    announce,
)
from nnmatch_matching.embedding.reembed import Reembedder, ReembedMetrics
from nnmatch_matching.hubs import api as hubs_api
from nnmatch_matching.hubs.book import HubBook
from nnmatch_matching.hubs.handlers import ApplyHubs, ApplyMemberVectors, wrong_key
from nnmatch_matching.hubs.keeper import HubKeeper
from nnmatch_matching.hubs.replay import latest_values
from nnmatch_matching.hubs.schedule import RecomputeSchedule
from nnmatch_matching.hubs.scoring import HubScoring
from nnmatch_matching.hubs.store import HubStore, RedisHubStore
from nnmatch_matching.matcher import export_api, operator_api
from nnmatch_matching.matcher.api import router
from nnmatch_matching.matcher.background import BackgroundRerank
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.factory import build_engine
from nnmatch_matching.matcher.feedback_store import RedisFeedbackStore
from nnmatch_matching.matcher.handlers import (
    ApplyFeedback,
    MatchChangedMembers,
    MatcherState,
    RecheckGained,
    RerankAfterModelChange,
)
from nnmatch_matching.matcher.listings import ListingsFollower, rebuild_listings
from nnmatch_matching.matcher.ownership import Ownership
from nnmatch_matching.matcher.relist_queue import ImportPause
from nnmatch_matching.matcher.replay import replay_vectors
from nnmatch_matching.matcher.snapshot import RestoreMetrics, SnapshotKeeper
from nnmatch_matching.matcher.store import RedisMatchesStore
from nnmatch_matching.metrics import MatchingMetrics
from nnmatch_matching.projects import api as projects_api
from nnmatch_matching.projects import handlers as project_handlers
from nnmatch_matching.projects.book import ProjectBook
from nnmatch_matching.projects.candidates import CandidateWeights
from nnmatch_matching.projects.keeper import ProjectKeeper
from nnmatch_matching.projects.service import ProjectCandidates
from nnmatch_matching.search.api import router as search_router
from nnmatch_matching.search.search import hub_search
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads

EMBEDDER_GROUP = "nnmatch-embedder"
MATCHER_GROUP = "nnmatch-matcher"
FEEDBACK_GROUP = "nnmatch-matcher-feedback"
HUBS_GROUP = "nnmatch-hubs"
PROJECTS_GROUP = "nnmatch-hubs-projects"


def replica_group(group: str, replica_id: str) -> str:
    """A matcher replica's own group: it reads every partition (replicated state)."""
    return f"{group}.{replica_id}" if replica_id else group


Work = Callable[[], Coroutine[Any, Any, None]]
E = TypeVar("E", bound=Event)


@dataclass
class Shared:
    """The adapters both roles use, and the consumers they register (read by readiness)."""

    settings: MatchingSettings
    metrics: Metrics
    matching_metrics: MatchingMetrics
    broker: KafkaBroker
    redis: Redis
    publisher: Publisher
    model_status: ModelStatusStore
    consumers: list[ConsumerState] = field(default_factory=list)

    def subscribe(
        self,
        spec: TopicSpec,
        group: str,
        handler: BatchHandler[E],
        max_records: int,
        already_applied: AlreadyApplied | None = None,
    ) -> ConsumerState:
        consumer = subscribe_batches(
            self.broker,
            self.publisher,
            self.settings,
            self.metrics,
            spec,
            group,
            handler,
            max_records=max_records,
            already_applied=already_applied,
        )
        self.consumers.append(consumer)
        return consumer


@dataclass
class Piece:
    """What one role adds to the app."""

    start: list[Hook] = field(default_factory=list)
    after_broker: list[Hook] = field(default_factory=list)
    background: list[Work] = field(default_factory=list)
    stop: list[Hook] = field(default_factory=list)


class Background:
    """Work that runs once the consumers run, cancelled before they stop."""

    def __init__(self, work: list[Work]) -> None:
        self._work = work
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.extend(asyncio.create_task(work()) for work in self._work)

    async def drain(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def build_app(settings: MatchingSettings) -> FastAPI:
    limit_threads(settings)  # process-wide, whichever roles run
    metrics = Metrics(settings.service_name)
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    shared = Shared(
        settings=settings,
        metrics=metrics,
        matching_metrics=MatchingMetrics(metrics),
        broker=broker,
        redis=redis,
        publisher=Publisher(
            broker, settings, metrics, keys=RedisMemberKeys(redis, settings.redis_prefix)
        ),
        model_status=RedisModelStatus(redis, settings.redis_prefix),
    )
    matches = RedisMatchesStore(redis, settings.redis_prefix)
    pieces: list[Piece] = []
    embedder: EmbedderRole | None = None
    if "embedder" in settings.roles:
        embedder = build_embedder(shared)
        pieces.append(embedder.piece())
    engine = build_engine(settings) if "matcher" in settings.roles else None
    search = hub_search(settings, engine) if engine is not None else None
    if engine is not None:
        own_model = embedder.model if embedder is not None else _no_model
        pieces.append(build_matcher(shared, engine, matches, own_model))
    hub_store = RedisHubStore(redis, settings.redis_prefix)
    projects: ProjectCandidates | None = None
    if "hubs" in settings.roles:
        loaded = embedder.embedder if embedder is not None else _no_embedder
        book = ProjectBook()
        hub_book = HubBook(settings.embedding_dimensions)
        pieces.append(build_hubs(shared, hub_store, loaded, book, hub_book))
        projects = ProjectCandidates(book, search, candidate_weights(settings), hub_book.profile)

    async def topics() -> None:
        await ensure_topics(settings.kafka())

    async def start_loading_query_model() -> None:
        if search is not None:
            search.start_loading()  # in a thread, so the first search does not wait for it

    async def broker_started() -> None:
        # A retried start-up resumes here: the broker may have lost its topics in between.
        await ensure_topics(settings.kafka())
        await start_broker(broker)

    background = Background([work for p in pieces for work in p.background])
    return service_app(
        settings=settings,
        title="nnmatch matching",
        description="Embeds profiles, keeps the FAISS index and serves ranked matches.",
        metrics=metrics,
        broker=broker,
        redis=redis,
        services=MatchingServices(
            settings=settings,
            publisher=shared.publisher,
            matches=matches,
            engine=engine,
            search=search,
            hubs=hub_store,
            projects=projects,
        ),
        routers=[
            router,
            search_router,
            hubs_api.router,
            projects_api.router,
            projects_api.member_router,
            operator_api.router,
            export_api.router,
        ],
        export=export_api.FAMILIES,
        start=[
            start_loading_query_model,
            topics,
            *(hook for p in pieces for hook in p.start),
            broker_started,
            *(hook for p in pieces for hook in p.after_broker),
            background.start,
        ],
        drain=[background.drain],
        stop=[hook for p in pieces for hook in p.stop],
        consumers=shared.consumers,  # filled in as start-up registers them
    )


def _no_embedder() -> Embedder | None:
    """No embedder in this process: the hubs role loads the model itself."""
    return None


def _no_model() -> str | None:
    """No embedder in this process: the matcher follows the announced model."""
    return None


class EmbedderRole:
    """profiles.v1 → profile-vectors.v1, and the re-embed of everyone after a model change.

    Start: load the model off the event loop and check its size, announce it (model_status.py),
    then subscribe. The re-embed runs in the background once the consumers run."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._cache = RedisEmbeddingCache(shared.redis, shared.settings.redis_prefix)
        self._progress = ReembedMetrics(shared.metrics)
        self._lock = asyncio.Lock()  # the live embedder and the background re-embed take turns
        self._state: EmbedderState | None = None
        self._reembed: Reembedder | None = None

    def piece(self) -> Piece:
        return Piece(start=[self.load, self.subscribe], background=[self.reembed])

    def embedder(self) -> Embedder | None:
        """The loaded model, which the hubs role shares (None before `load`)."""
        return self._state.embedder if self._state is not None else None

    def model(self) -> str | None:
        """The model (`id@version`) once loaded in this process."""
        return model_key(self._state.embedder.model) if self._state is not None else None

    async def load(self) -> None:
        settings, status = self._shared.settings, self._shared.model_status
        embedder = await asyncio.to_thread(configured_embedder, settings)
        if embedder.model.dimensions != settings.embedding_dimensions:
            raise ValueError(
                f"model makes {embedder.model.dimensions}-d vectors; set "
                f"NNMATCH_EMBEDDING_DIMENSIONS={embedder.model.dimensions}"
            )
        previous = await status.get()
        announced = announce(previous, model_key(embedder.model))
        if announced != previous:
            await status.put(announced, utc_now())
        self._state = EmbedderState(
            embedder, self._cache, self._shared.publisher, self._shared.matching_metrics, self._lock
        )

    async def subscribe(self) -> None:
        assert self._state is not None, "load runs first"
        settings = self._shared.settings
        self._reembed = Reembedder(
            settings.kafka(),
            self._state,
            self._shared.model_status,
            self._progress,
            utc_now,
            self._shared.publisher.keys,
            batch_members=settings.reembed_batch_members,
            pause_s=settings.reembed_pause_s,
        )
        handler = EmbedProfiles(self._state, on_erased=self._reembed.forget)
        self._shared.subscribe(PROFILES, EMBEDDER_GROUP, handler, settings.embedder_max_records)

    async def reembed(self) -> None:
        assert self._reembed is not None, "subscribe runs first"
        await self._reembed.keep_running()


def build_embedder(shared: Shared) -> EmbedderRole:
    return EmbedderRole(shared)


def build_matcher(
    shared: Shared,
    engine: MatchEngine,
    matches: RedisMatchesStore,
    embedder_model: Callable[[], str | None],
) -> Piece:
    """profile-vectors.v1 and feedback.v1 → the index → matches.v1.

    Start: decide the model compared, replay the vectors (from the snapshot if there is one)
    and load the feedback in force, rebuild who lists whom from the stored lists, join the
    owners' group (ownership.py), then subscribe, so the consumers begin where the replay
    ended. Every replica applies every change (its own groups, `replica_group`) and publishes
    the lists of the members it owns; it follows the others' lists on matches.v1 (listings.py)
    and checks the lists of partitions a rebalance gives it. Snapshots are written once the
    broker runs and a last one after the consumers committed; the re-rank after a model
    change runs in the background."""
    settings = shared.settings
    metrics = shared.matching_metrics
    collect_less_often()  # the replay and every ranking allocate in bursts (nnmatch.memory)
    feedback = RedisFeedbackStore(shared.redis, settings.redis_prefix)
    kafka = settings.kafka()
    client_id = f"{kafka.client_id}-{settings.replica_id or 'matcher'}"
    lock = asyncio.Lock()  # the vectors and feedback consumers both change the engine
    recheck: RecheckGained | None = None

    def gained(partitions: set[int]) -> None:
        if recheck is not None:
            recheck.gained(partitions)

    ownership = Ownership(kafka, f"{client_id}-owner", on_gained=gained)

    def mine(member_id: str) -> bool:
        state = engine.members.get(member_id)
        return state is not None and ownership.owns(state.position.partition)

    state = MatcherState(
        engine=engine,
        lock=lock,
        matches=matches,
        feedback=feedback,
        publisher=shared.publisher,
        clock=utc_now,
        metrics=metrics,
        watch=ModelWatch(shared.model_status, lambda: engine.model_id),
        owner=ownership,
        sync_relists=settings.matcher_sync_relists,
        imports=ImportPause(settings.matcher_import_quiet_s),
    )
    recheck = RecheckGained(state)
    background = BackgroundRerank(
        state,
        settings.matcher_background_per_s,
        settings.matcher_refresh_interval_s,
        start_chunk=settings.matcher_start_refresh_chunk,
        relists_per_s=settings.matcher_background_relists_per_s,
    )
    follower = ListingsFollower(
        kafka, f"{client_id}-lists", engine, lock, mine, shared.publisher.keys
    )
    restore_metrics = RestoreMetrics(shared.metrics)
    snapshots = (
        SnapshotKeeper(
            settings.snapshot_dir,
            engine,
            state.lock,
            restore_metrics,
            queue=state.queue,
            model_id=settings.embedding_model_id,
            interval_s=settings.snapshot_interval_s,
            every_records=settings.snapshot_every_records,
        )
        if settings.snapshot_dir
        else None
    )

    async def replay() -> None:
        engine.model_id = await matcher_model(settings, shared.model_status, embedder_model())
        resume = snapshots.resume if snapshots else None
        replayed = await replay_vectors(
            settings.kafka(), engine, keys=shared.publisher.keys, resume=resume
        )
        restore_metrics.replayed_records.set(replayed)
        metrics.index_members.set(len(engine))
        engine.exclusions.load(await feedback.load_all())

    async def listings() -> None:
        await follower.stop()  # a retried start-up begins the follow again
        await follower.start()  # first: a list published while the store is read is followed
        rebuilt = await rebuild_listings(engine, matches, lock)
        # A model change that finished while this replica was down: no one re-ranked these.
        recheck.check(rebuilt.other_model)

    async def own() -> None:
        await ownership.stop()  # a retried start-up joins again
        await ownership.start()

    async def subscribe() -> None:
        every = settings.matcher_max_records
        vectors_group = replica_group(MATCHER_GROUP, settings.replica_id)
        feedback_group = replica_group(FEEDBACK_GROUP, settings.replica_id)
        vectors = MatchChangedMembers(state)
        shared.subscribe(PROFILE_VECTORS, vectors_group, vectors, every, vectors.already_applied)
        shared.subscribe(FEEDBACK, feedback_group, ApplyFeedback(state), every)

    async def start_snapshots() -> None:
        if snapshots is not None:
            snapshots.start()

    async def last_snapshot() -> None:
        if snapshots is not None:
            await snapshots.stop()

    async def leave() -> None:
        # After the consumers committed: a batch in flight still owned its lists.
        await follower.stop()
        await ownership.stop()

    return Piece(
        start=[replay, listings, own, subscribe],
        after_broker=[start_snapshots],
        background=[
            RerankAfterModelChange(state).run,
            recheck.run,
            follower.run,
            background.run,
        ],
        stop=[last_snapshot, leave],
    )


def candidate_weights(settings: MatchingSettings) -> CandidateWeights:
    """How project candidates are scored: hub search's dense and lexical weights, and kinds."""
    return CandidateWeights(
        dense_weight=settings.search_dense_weight,
        lexical_weight=settings.search_lexical_weight,
        kinds_weight=settings.project_kinds_weight,
        candidate_k=settings.search_candidate_k,
    )


def build_hubs(
    shared: Shared,
    store: HubStore,
    loaded: Callable[[], Embedder | None],
    projects: ProjectBook,
    hub_book: HubBook,
) -> Piece:
    """hubs.v1 and profile-vectors.v1 → each hub's partner hubs → hub-partners.v1 (hubs/);
    projects.v1 → each open project's text embedded into `projects` (projects/).

    Start: take the embedder this process loaded (or load the model), read the compacted
    topics whole into the keepers, then subscribe (this replica's own groups: it needs every
    partition). The recompute loop runs in the background, first as soon as it starts."""
    settings = shared.settings
    model: list[Embedder] = []

    async def embed(texts: list[str]) -> Any:
        return await asyncio.to_thread(embed_documents, model[0], texts)

    keeper = HubKeeper(
        book=hub_book,
        embed=embed,
        model_id=lambda: model_key(model[0].model),
        publisher=shared.publisher,
        store=store,
        weights=HubScoring(
            own_text_weight=settings.hub_own_text_weight,
            words_weight=settings.hub_words_weight,
            cross_country_boost=settings.hub_cross_country_boost,
        ),
        top_n=settings.hub_partners_top_n,
        schedule=RecomputeSchedule(settings.hub_recompute_interval_s),
        clock=time.monotonic,
    )

    project_keeper = ProjectKeeper(projects, embed, lambda: model_key(model[0].model))

    async def load() -> None:
        if not model:
            shared_model = loaded()
            if shared_model is None:
                shared_model = await asyncio.to_thread(configured_embedder, settings)
            model.append(shared_model)

    async def replay() -> None:
        kafka, keys = settings.kafka(), shared.publisher.keys
        hubs = await latest_values(kafka, HUBS, keys, (HubUpserted, HubDeleted), wrong_key)
        await keeper.put_hubs([e for e in hubs.values() if isinstance(e, HubUpserted)])
        vectors = await latest_values(kafka, PROFILE_VECTORS, keys, (ProfileVectorsComputed,))
        await keeper.put_members(list(vectors.items()))
        found = await latest_values(
            kafka, PROJECTS, keys, (ProjectUpserted, ProjectDeleted), project_handlers.wrong_key
        )
        await project_keeper.put_projects(
            [e for e in found.values() if isinstance(e, ProjectUpserted)]
        )
        # No ranking yet: it publishes, and the broker starts after the start hooks. What the
        # replay marked is ranked by the background loop as soon as the consumers run.

    async def subscribe() -> None:
        every = settings.matcher_max_records
        shared.subscribe(
            HUBS, replica_group(HUBS_GROUP, settings.replica_id), ApplyHubs(keeper), every
        )
        vectors_group = replica_group(f"{HUBS_GROUP}-vectors", settings.replica_id)
        shared.subscribe(PROFILE_VECTORS, vectors_group, ApplyMemberVectors(keeper), every)
        projects_group = replica_group(PROJECTS_GROUP, settings.replica_id)
        apply_projects = project_handlers.ApplyProjects(project_keeper)
        shared.subscribe(PROJECTS, projects_group, apply_projects, every)

    return Piece(start=[load, replay, subscribe], background=[keeper.keep_running])


async def matcher_model(
    settings: MatchingSettings, status: ModelStatusStore, embedder_model: str | None
) -> str | None:
    """The model (`id@version`) whose vectors this matcher compares.

    The embedder's in this process; else the one the embedder announced, if it is the model
    this matcher is configured with, weights and backend (`configured_model_key`; the model
    id alone where the weights are not on this machine): a matcher started before the
    embedder switched (a rollout restarting both at once) waits, start-up retries. None
    without any announcement: the first vectors decide.
    """
    if embedder_model is not None:
        return embedder_model
    announced = await status.get()
    if announced is None:
        return None
    expected = await asyncio.to_thread(configured_model_key, settings)
    configured = expected or settings.embedding_model_id
    announced_id = announced.current.split("@", 1)[0]
    if (announced.current != expected) if expected else (announced_id != configured):
        raise RuntimeError(
            f"the embedder announces model {announced.current}; this matcher is configured for "
            f"{configured} (NNMATCH_EMBEDDING_MODEL_ID, NNMATCH_EMBEDDING_BACKEND): waiting for "
            "the embedder to switch"
        )
    return announced.current
