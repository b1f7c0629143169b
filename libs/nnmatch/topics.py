"""The one place that names topics, says what each carries, and creates them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from nnmatch import kafka_clients
from nnmatch.events import (
    ContactUpserted,
    DeliveryRequested,
    Event,
    FeedbackGiven,
    HubDeleted,
    HubPartnersComputed,
    HubUpserted,
    MatchesComputed,
    MemberSuspended,
    MemberUnsuspended,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    ProjectDeleted,
    ProjectUpserted,
    ReportResolved,
)
from nnmatch.settings import KafkaSettings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
# A compacted topic's superseded values and tombstones are gone within about this long
# (plus the cleaner's next pass): Kafka rolls a segment that holds a record older than
# `max.compaction.lag.ms` and compacts it; a tombstone lives `delete.retention.ms` more so
# that slow consumers still see it. Personal fields are sealed under a per-member key
# (`nnmatch.shredding`) anyway, so erasure does not wait for either bound.
MAX_COMPACTION_LAG_MS = 1 * DAY_MS
TOMBSTONE_RETENTION_MS = 1 * DAY_MS


@dataclass(frozen=True)
class TopicSpec:
    """A topic's contract: its name, what its values are, and how Kafka keeps it."""

    name: str
    events: tuple[type[Event], ...]
    compacted: bool
    key: str = "member id"
    retention_ms: int | None = None
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def config(self) -> dict[str, str]:
        conf = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.compacted:
            conf["max.compaction.lag.ms"] = str(MAX_COMPACTION_LAG_MS)
            conf["delete.retention.ms"] = str(TOMBSTONE_RETENTION_MS)
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        return conf | self.extra_config


PROFILES = TopicSpec("profiles.v1", (ProfileUpserted, ProfileDeleted), compacted=True)
HUBS = TopicSpec("hubs.v1", (HubUpserted, HubDeleted), compacted=True, key="hub id")
PROJECTS = TopicSpec(
    "projects.v1",
    (ProjectUpserted, ProjectDeleted),
    compacted=True,
    key="`<hub id>/<project id>`",
)
PROFILE_VECTORS = TopicSpec("profile-vectors.v1", (ProfileVectorsComputed,), compacted=True)
MATCHES = TopicSpec("matches.v1", (MatchesComputed,), compacted=False, retention_ms=7 * DAY_MS)
# Each hub's partner hubs (hubs/ in matching); the latest list per hub is what counts.
HUB_PARTNERS = TopicSpec(
    "hub-partners.v1",
    (HubPartnersComputed,),
    compacted=False,
    key="hub id",
    retention_ms=7 * DAY_MS,
)
FEEDBACK = TopicSpec("feedback.v1", (FeedbackGiven,), compacted=False, retention_ms=365 * DAY_MS)
# Written and read only by notifications: its durable log of contact details and preferences.
CONTACTS = TopicSpec("contacts.v1", (ContactUpserted,), compacted=True)

# Deliveries that failed for good wait in its DLQ; a re-drive puts them back here.
DELIVERIES = TopicSpec(
    "deliveries.v1", (DeliveryRequested,), compacted=False, retention_ms=7 * DAY_MS
)

# Operators' decisions on reports and suspensions (profiles writes, notifications reads).
MODERATION = TopicSpec(
    "moderation.v1",
    (MemberSuspended, MemberUnsuspended, ReportResolved),
    compacted=True,
    key="member id (suspensions) or `report/<report id>` (outcomes)",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    PROFILES,
    HUBS,
    PROJECTS,
    PROFILE_VECTORS,
    MATCHES,
    HUB_PARTNERS,
    FEEDBACK,
    CONTACTS,
    DELIVERIES,
    MODERATION,
)
DLQ_RETENTION_MS = 90 * DAY_MS


def topic_name(spec: TopicSpec, settings: KafkaSettings) -> str:
    """The physical name: the contract name behind the deployment's optional prefix."""
    return f"{settings.topic_prefix}{spec.name}"


def dlq_name(spec: TopicSpec, settings: KafkaSettings) -> str:
    return f"{settings.topic_prefix}{spec.dlq}"


def new_topics(settings: KafkaSettings) -> list[NewTopic]:
    """Every topic and its dead-letter topic, with partitions, replication and cleanup policy."""
    topics: list[NewTopic] = []
    for spec in ALL_TOPICS:
        topics.append(
            NewTopic(
                topic_name(spec, settings),
                settings.partitions,
                settings.replication_factor,
                topic_configs=spec.config(),
            )
        )
        topics.append(
            NewTopic(
                dlq_name(spec, settings),
                1,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "delete", "retention.ms": str(DLQ_RETENTION_MS)},
            )
        )
    return topics


async def ensure_topics(settings: KafkaSettings) -> list[str]:
    """Create whatever topics are missing; existing ones are left as they are. Returns created."""
    admin = kafka_clients.admin(settings, client_id=f"{settings.client_id}-admin")
    try:
        await kafka_clients.start(admin, settings)
        existing = set(await admin.list_topics())
        missing = [t for t in new_topics(settings) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings) -> None:
    """Delete this prefix's topics (demo and test clean-up); never used without a prefix."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete un-prefixed (production) topics")
    admin = kafka_clients.admin(settings, client_id=f"{settings.client_id}-admin")
    try:
        await kafka_clients.start(admin, settings)
        names = [t.name for t in new_topics(settings)]
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
