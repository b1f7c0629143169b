"""Build the profiles app: settings → adapters (Kafka, Redis) → service → routes."""

from __future__ import annotations

from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.events import utc_now
from nnmatch.member_keys import RedisMemberKeys
from nnmatch.messaging import Publisher, make_broker, start_broker
from nnmatch.observability import Metrics
from nnmatch.topics import ensure_topics
from nnmatch.webapp import service_app
from nnmatch_profiles import export_api, operator_api, reports_api
from nnmatch_profiles.api import router
from nnmatch_profiles.deps import ProfilesServices
from nnmatch_profiles.hub_store import RedisHubStore
from nnmatch_profiles.hubs import HubService
from nnmatch_profiles.hubs_api import router as hubs_router
from nnmatch_profiles.moderation import Moderation
from nnmatch_profiles.report_store import RedisReportStore
from nnmatch_profiles.service import ProfileService
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_profiles.shortlist_api import router as shortlist_router
from nnmatch_profiles.shortlist_store import RedisShortlistStore
from nnmatch_profiles.shortlists import ShortlistService
from nnmatch_profiles.store import RedisProfileStore


def build_app(settings: ProfilesSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    keys = RedisMemberKeys(redis, settings.redis_prefix)
    publisher = Publisher(broker, settings, metrics, keys=keys)
    store = RedisProfileStore(redis, settings.redis_prefix)
    shortlist_store = RedisShortlistStore(redis, settings.redis_prefix)
    hubs = HubService(
        RedisHubStore(redis, settings.redis_prefix), publisher, utc_now, shortlists=shortlist_store
    )
    reports = RedisReportStore(redis, settings.redis_prefix)
    service = ProfileService(
        store,
        publisher,
        utc_now,
        keys=keys,
        chunk_size=settings.bulk_chunk_size,
        leadership=hubs,
        suspensions=reports,
    )
    moderation = Moderation(reports, service, publisher, utc_now)
    shortlists = ShortlistService(shortlist_store, service, utc_now)

    async def start() -> None:
        await ensure_topics(settings.kafka())
        await start_broker(broker)

    return service_app(
        settings=settings,
        title="nnmatch profiles",
        description="Member and hub profiles in; `profiles.v1`, `hubs.v1` and `projects.v1` "
        "out. Writes are answered 2xx only once Kafka acknowledged them (acks=all).",
        metrics=metrics,
        broker=broker,
        redis=redis,
        services=ProfilesServices(
            settings=settings,
            profiles=service,
            hubs=hubs,
            moderation=moderation,
            shortlists=shortlists,
        ),
        routers=[
            router,
            hubs_router,
            shortlist_router,
            operator_api.router,
            operator_api.members_router,
            export_api.router,
            reports_api.members_router,
            reports_api.router,
        ],
        export=export_api.FAMILIES,
        start=[start],
        body_limits={"/v1/members/bulk": settings.bulk_max_bytes},
    )
