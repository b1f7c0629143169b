"""The profile service on fakes (store and publisher): what Kafka refused is never shown,
what it acknowledged is never turned into an error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from nnmatch.events import Event, ProfileUpserted
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.profile import BulkProfileLine
from nnmatch.publishing import InMemoryPublisher
from nnmatch.topics import PROFILES, TopicSpec
from nnmatch_profiles.hub_store import MemoryHubStore
from nnmatch_profiles.hubs import HubService
from nnmatch_profiles.service import BrokerUnavailable, ProfileService
from nnmatch_profiles.shortlist_store import MemoryShortlistStore
from nnmatch_profiles.store import MemoryProfileStore
from tests.unit.builders import AMINA, amina

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@dataclass
class Profiles:
    """The service over an in-memory store and publisher, publishing two lines per chunk."""

    store: MemoryProfileStore = field(default_factory=MemoryProfileStore)
    hubs: MemoryHubStore = field(default_factory=MemoryHubStore)
    publisher: InMemoryPublisher = field(
        default_factory=lambda: InMemoryPublisher(service="profiles")
    )
    keys: MemoryMemberKeys = field(default_factory=MemoryMemberKeys)

    @property
    def service(self) -> ProfileService:
        hubs = HubService(self.hubs, self.publisher, lambda: NOW, shortlists=MemoryShortlistStore())
        return ProfileService(
            self.store, self.publisher, lambda: NOW, keys=self.keys, chunk_size=2, leadership=hubs
        )

    def published(self) -> list[tuple[str, str | None]]:
        """Key and event type (None: tombstone) of each record on profiles.v1, in order."""
        return [
            (r.key, type(r.event).__name__ if r.event else None)
            for r in self.publisher.on(PROFILES)
        ]


@pytest.fixture
def profiles() -> Profiles:
    return Profiles()


class FailingStore(MemoryProfileStore):
    """A read model that refuses every write (Redis away after Kafka acknowledged)."""

    async def put_many(self, profiles: object) -> None:
        raise ConnectionError("redis away")


class FailingFromSecondCall(InMemoryPublisher):
    """Acknowledges the first publish, then the broker goes away."""

    async def publish_many(
        self, spec: TopicSpec, items: Sequence[tuple[str, Event | None]]
    ) -> None:
        if self.records:
            raise ConnectionError("broker away")
        await super().publish_many(spec, items)


def lines(prefix: str, count: int) -> list[BulkProfileLine]:
    return [
        BulkProfileLine.model_validate({**AMINA, "member_id": f"{prefix}-{i}"})
        for i in range(count)
    ]


async def test_each_write_is_published_with_the_next_version_then_shown(
    profiles: Profiles,
) -> None:
    first = await profiles.service.upsert("m-1", amina())
    second = await profiles.service.upsert("m-1", amina(headline="New"))

    assert (first.version, second.version) == (1, 2)
    events = [r.event for r in profiles.publisher.on(PROFILES)]
    assert [(e.version, e.producer) for e in events if isinstance(e, ProfileUpserted)] == [
        (1, "profiles"),
        (2, "profiles"),
    ]
    shown = await profiles.service.get("m-1")
    assert shown is not None
    assert shown.profile.headline == "New"


async def test_a_write_kafka_refused_is_never_shown_and_its_version_never_reused(
    profiles: Profiles,
) -> None:
    await profiles.service.upsert("m-2", amina())
    profiles.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await profiles.service.upsert("m-2", amina(headline="Never shown"))
    kept = await profiles.service.get("m-2")
    assert kept is not None
    assert (kept.version, kept.profile.headline) == (1, AMINA["headline"])
    retried = await profiles.service.upsert("m-2", amina(headline="Shown"))
    assert retried.version == 3


async def test_a_read_model_failure_after_kafka_acknowledged_still_accepts_the_write() -> None:
    profiles = Profiles(store=FailingStore())
    stored = await profiles.service.upsert("m-3", amina())

    assert stored.version == 1
    assert profiles.published() == [("m-3", "ProfileUpserted")]


async def test_a_bulk_import_publishes_every_line_in_order(profiles: Profiles) -> None:
    accepted = await profiles.service.upsert_many(lines("b", 5))

    assert accepted == 5
    assert [key for key, _ in profiles.published()] == [f"b-{i}" for i in range(5)]
    assert sorted(profiles.store.profiles) == [f"b-{i}" for i in range(5)]


async def test_a_bulk_import_shows_the_chunks_kafka_acknowledged_and_stops_at_a_refusal() -> None:
    profiles = Profiles(publisher=FailingFromSecondCall())

    with pytest.raises(BrokerUnavailable):
        await profiles.service.upsert_many(lines("c", 5))
    assert [key for key, _ in profiles.published()] == ["c-0", "c-1"]
    assert sorted(profiles.store.profiles) == ["c-0", "c-1"]


async def test_an_erasure_publishes_the_deletion_then_the_tombstone(
    profiles: Profiles,
) -> None:
    await profiles.service.upsert("m-4", amina())
    found = await profiles.service.delete("m-4")

    assert found is True
    assert profiles.published()[1:] == [("m-4", "ProfileDeleted"), ("m-4", None)]
    assert await profiles.service.get("m-4") is None


async def test_erasing_an_unknown_member_publishes_nothing(profiles: Profiles) -> None:
    assert await profiles.service.delete("m-none") is False
    assert profiles.publisher.records == []


async def test_an_erasure_kafka_refused_keeps_the_profile(profiles: Profiles) -> None:
    await profiles.service.upsert("m-5", amina())
    profiles.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await profiles.service.delete("m-5")
    assert await profiles.service.get("m-5") is not None
    assert profiles.published() == [("m-5", "ProfileUpserted")]
