"""Build the notifications app: Redis inbox, outbox and contacts, the consumers, the delivery
scheduler, the channels (e-mail, webhook) and the routes, with the hooks that start and stop
them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.contact import Channel
from nnmatch.events import utc_now
from nnmatch.member_keys import MemberKeys, RedisMemberKeys
from nnmatch.messaging import (
    BatchHandler,
    ConsumerState,
    Publisher,
    make_broker,
    start_broker,
    subscribe_batches,
)
from nnmatch.observability import Metrics
from nnmatch.topics import (
    CONTACTS,
    DELIVERIES,
    FEEDBACK,
    HUBS,
    MATCHES,
    MODERATION,
    PROFILES,
    PROJECTS,
    TopicSpec,
    ensure_topics,
)
from nnmatch.webapp import service_app
from nnmatch_notifications import export_api, operator_api
from nnmatch_notifications.api import router
from nnmatch_notifications.channels import DeliveryChannel
from nnmatch_notifications.contacts import ContactBook, RedisContacts
from nnmatch_notifications.delivery_state import DeliveryStates, RedisDeliveryStates
from nnmatch_notifications.deps import NotificationsServices
from nnmatch_notifications.directory import RedisDirectory
from nnmatch_notifications.email import EmailChannel
from nnmatch_notifications.handlers import (
    Adapters,
    DeliverSuggestions,
    EraseMembers,
    IntroduceMutualAccepts,
    NotificationMetrics,
    ProjectContacts,
    RedriveDeliveries,
    SuggestionWriter,
    introducer_of,
)
from nnmatch_notifications.health import HealthMetrics, HealthStore, SegmentedCounts, TrackLists
from nnmatch_notifications.held import RedisHeldLists
from nnmatch_notifications.invitation_desk import InvitationDesk
from nnmatch_notifications.invitation_feeds import (
    LearnHubs,
    LearnMembers,
    LearnProjects,
    LearnSuspensions,
    Together,
)
from nnmatch_notifications.invitation_store import RedisInvitations
from nnmatch_notifications.invitations_api import hubs_router, members_router
from nnmatch_notifications.outbox import RedisOutbox
from nnmatch_notifications.preferences_api import router as preferences_router
from nnmatch_notifications.release import SettledReleaser
from nnmatch_notifications.report_outcomes import TellReporters
from nnmatch_notifications.sender import DeliveryMetrics, DeliveryScheduler, RetryPolicy
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.settle import SettleRule
from nnmatch_notifications.store import APPLIED_UPDATES_KEPT, RedisInbox
from nnmatch_notifications.webhooks import SecretSealer, WebhookChannel, WebhookPolicy

NOTIFIER_GROUP = "nnmatch-notifier"
ERASURE_GROUP = "nnmatch-notifier-erasure"
CONTACTS_GROUP = "nnmatch-notifier-contacts"
REDRIVE_GROUP = "nnmatch-notifier-redrive"
INTRODUCTIONS_GROUP = "nnmatch-notifier-introductions"
REPORTS_GROUP = "nnmatch-notifier-reports"
HUBS_GROUP = "nnmatch-notifier-hubs"
PROJECTS_GROUP = "nnmatch-notifier-projects"


def build_app(settings: NotificationsSettings) -> FastAPI:
    metrics = Metrics(settings.service_name)
    broker = make_broker(settings)
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    keys = RedisMemberKeys(redis, settings.redis_prefix)
    publisher = Publisher(broker, settings, metrics, keys=keys)
    health = SegmentedCounts(
        HealthStore(redis, settings.redis_prefix), HealthMetrics(metrics), settings.health_top_hubs
    )
    adapters = Adapters(
        inbox=RedisInbox(
            redis,
            settings.redis_prefix,
            settings.inbox_max_items,
            cooling_off_s=settings.resuggest_after_days * 86_400,
            applied_kept=max(APPLIED_UPDATES_KEPT, settings.max_records),
        ),
        outbox=RedisOutbox(redis, settings.redis_prefix),
        contacts=RedisContacts(redis, settings.redis_prefix),
        publisher=publisher,
        clock=utc_now,
        held=RedisHeldLists(redis, settings.redis_prefix),
        health=health,
    )
    sealer = SecretSealer(settings.secrets_key.get_secret_value()) if settings.secrets_key else None
    policy = WebhookPolicy.from_settings(
        require_https=settings.webhook_require_https,
        allow_networks=settings.webhook_allow_networks,
        connect_timeout_s=settings.webhook_connect_timeout_s,
        read_timeout_s=settings.webhook_read_timeout_s,
        max_response_bytes=settings.webhook_max_response_bytes,
    )
    handler_metrics = NotificationMetrics(metrics)
    directory = RedisDirectory(redis, settings.redis_prefix)
    desk = InvitationDesk(
        directory,
        RedisInvitations(redis, settings.redis_prefix),
        adapters.inbox,
        adapters.contacts,
        introducer_of(adapters, handler_metrics),
        adapters.clock,
    )
    http = httpx.AsyncClient()
    states = RedisDeliveryStates(redis, settings.redis_prefix)
    services = NotificationsServices(
        settings=settings,
        inbox=adapters.inbox,
        publisher=publisher,
        contact_book=ContactBook(adapters.contacts, publisher, sealer, policy),
        unsubscribe_key=(
            settings.unsubscribe_key.get_secret_value().encode()
            if settings.unsubscribe_key
            else None
        ),
        scheduler=build_scheduler(settings, adapters, metrics, http, sealer, policy, states, keys),
        http=http,
        delivery_states=states,
        invitations=desk,
    )

    def consume(spec: TopicSpec, group: str, handler: BatchHandler[Any]) -> ConsumerState:
        return subscribe_batches(
            broker,
            publisher,
            settings,
            metrics,
            spec,
            group,
            handler,
            max_records=settings.max_records,
        )

    settle = SettleRule(
        timedelta(seconds=settings.notify_settle_seconds),
        max_hold=timedelta(seconds=settings.notify_settle_max_seconds),
    )
    deliver = DeliverSuggestions(
        adapters,
        handler_metrics,
        min_score=settings.min_score,
        per_update=settings.suggestions_per_update,
        settle=settle,
    )
    releaser = SettledReleaser(
        adapters.held,
        SuggestionWriter(adapters, handler_metrics, min_score=settings.min_score),
        settle,
        adapters.clock,
        handler_metrics,
        per_release=settings.settled_suggestions,
        tick_s=max(settings.delivery_tick_s, 1.0),
    )
    learn_members = LearnMembers(directory, desk)
    # One consumer of matches.v1 for the inbox and the list-freshness tracker: opening a list
    # (its sealed suggestions decrypted and validated) is most of this service's work, and two
    # groups opened every list twice. Tracking first: it is idempotent, so a delivery that
    # fails and is retried only repeats it.
    track = TrackLists(health, settings.health_stale_days * 86_400)
    consumers = [
        consume(MATCHES, NOTIFIER_GROUP, Together(track, deliver)),
        consume(PROFILES, ERASURE_GROUP, Together(EraseMembers(adapters), learn_members)),
        consume(CONTACTS, CONTACTS_GROUP, ProjectContacts(adapters)),
        consume(DELIVERIES, REDRIVE_GROUP, RedriveDeliveries(adapters)),
        consume(FEEDBACK, INTRODUCTIONS_GROUP, IntroduceMutualAccepts(adapters, handler_metrics)),
        consume(
            MODERATION,
            REPORTS_GROUP,
            Together(TellReporters(adapters), LearnSuspensions(directory)),
        ),
        consume(HUBS, HUBS_GROUP, LearnHubs(directory)),
        consume(PROJECTS, PROJECTS_GROUP, LearnProjects(directory, desk)),
    ]

    async def start_consumers() -> None:
        # Topics first, in the same hook: a retried start-up resumes here, and the broker may
        # have lost its topics in between (an in-memory broker restarted).
        await ensure_topics(settings.kafka())
        await start_broker(broker)

    return service_app(
        settings=settings,
        title="nnmatch notifications",
        description="Delivers match suggestions: each pair at most once, to the in-app inbox "
        "and, as each member chose, by e-mail or signed webhook (instant or digest, quiet "
        "hours, daily cap).",
        metrics=metrics,
        broker=broker,
        redis=redis,
        services=services,
        routers=[
            router,
            preferences_router,
            operator_api.router,
            export_api.router,
            hubs_router,
            members_router,
        ],
        export=export_api.FAMILIES,
        start=[start_consumers, services.scheduler.start, releaser.start],
        # No delivery or release runs while the consumers finish.
        drain=[services.scheduler.stop, releaser.stop],
        stop=[services.http.aclose],
        consumers=consumers,
    )


def build_scheduler(
    settings: NotificationsSettings,
    adapters: Adapters,
    metrics: Metrics,
    http: httpx.AsyncClient,
    sealer: SecretSealer | None,
    policy: WebhookPolicy,
    states: DeliveryStates,
    keys: MemberKeys,
) -> DeliveryScheduler:
    """The delivery scheduler over the webhook channel and, when unsubscribe links can be
    signed, the e-mail channel."""
    channels: dict[Channel, DeliveryChannel] = {
        Channel.WEBHOOK: WebhookChannel(http, policy, sealer, utc_now)
    }
    if settings.unsubscribe_key is not None:
        channels[Channel.EMAIL] = EmailChannel.from_settings(settings, utc_now)
    return DeliveryScheduler(
        adapters.outbox,
        adapters.contacts.get,
        channels,
        adapters.publisher,
        DeliveryMetrics(metrics),
        adapters.clock,
        retry=RetryPolicy(
            settings.delivery_attempts, settings.delivery_backoff_s, settings.delivery_backoff_max_s
        ),
        tick_s=settings.delivery_tick_s,
        states=states,
        keys=keys,
        seal=settings.kafka_seal_events,
    )
