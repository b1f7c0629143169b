"""The profile service on fakes (store and publisher): what Kafka refused is never shown,
what it acknowledged is never turned into an error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nnmatch.events import ProfileDeleted, ProfileUpserted
from nnmatch.profile import BulkProfileLine
from nnmatch.publishing import InMemoryPublisher
from nnmatch.topics import PROFILES
from nnmatch_profiles.service import BrokerUnavailable, ProfileService
from nnmatch_profiles.store import MemoryProfileStore
from tests.unit.builders import AMINA, amina

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


class FailingStore(MemoryProfileStore):
    """A read model that refuses every write (Redis away after Kafka acknowledged)."""

    async def put_many(self, profiles: object) -> None:
        raise ConnectionError("redis away")


def service_on(store: MemoryProfileStore, publisher: InMemoryPublisher) -> ProfileService:
    return ProfileService(store, publisher, lambda: NOW, chunk_size=2)


def published(publisher: InMemoryPublisher) -> list[tuple[str, str | None]]:
    return [(r.key, type(r.event).__name__ if r.event else None) for r in publisher.on(PROFILES)]


async def test_each_write_is_published_with_the_next_version_then_shown() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher(service="profiles")
    service = service_on(store, publisher)
    first = await service.upsert("m-1", amina())
    second = await service.upsert("m-1", amina(headline="New"))

    assert (first.version, second.version) == (1, 2)
    events = [r.event for r in publisher.on(PROFILES)]
    assert all(isinstance(e, ProfileUpserted) for e in events)
    assert [(e.version, e.producer) for e in events if isinstance(e, ProfileUpserted)] == [
        (1, "profiles"),
        (2, "profiles"),
    ]
    shown = await service.get("m-1")
    assert shown is not None
    assert shown.profile.headline == "New"


async def test_a_write_kafka_refused_is_never_shown_and_says_the_broker_is_away() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()
    service = service_on(store, publisher)
    await service.upsert("m-2", amina())
    publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await service.upsert("m-2", amina(headline="Never shown"))
    kept = await service.get("m-2")
    assert kept is not None
    assert (kept.version, kept.profile.headline) == (1, AMINA["headline"])
    retried = await service.upsert("m-2", amina(headline="Shown"))
    assert retried.version == 3, "the refused write's version is never handed out again"


async def test_a_read_model_failure_after_kafka_acknowledged_still_accepts_the_write() -> None:
    publisher = InMemoryPublisher()
    service = service_on(FailingStore(), publisher)
    stored = await service.upsert("m-3", amina())

    assert stored.version == 1
    assert published(publisher) == [("m-3", "ProfileUpserted")]


async def test_a_bulk_import_publishes_every_line_in_order_in_chunks() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()
    lines = [BulkProfileLine.model_validate({**AMINA, "member_id": f"b-{i}"}) for i in range(5)]
    accepted = await service_on(store, publisher).upsert_many(lines)

    assert accepted == 5
    assert [key for key, _ in published(publisher)] == [f"b-{i}" for i in range(5)]
    assert sorted(store.profiles) == [f"b-{i}" for i in range(5)]


async def test_a_bulk_chunk_kafka_refused_stops_the_import_before_later_chunks() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()
    lines = [BulkProfileLine.model_validate({**AMINA, "member_id": f"c-{i}"}) for i in range(4)]
    publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await service_on(store, publisher).upsert_many(lines)
    assert store.profiles == {}
    assert publisher.records == []


async def test_an_erasure_publishes_the_deletion_then_the_tombstone_and_audits_the_role() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()
    service = service_on(store, publisher)
    await service.upsert("m-4", amina())
    found = await service.delete("m-4", requested_by="operator")

    assert found is True
    assert published(publisher)[1:] == [("m-4", "ProfileDeleted"), ("m-4", None)]
    assert await service.get("m-4") is None
    assert [(e.member_id, e.requested_by, e.at) for e in store.erasures] == [
        ("m-4", "operator", NOW)
    ]


async def test_erasing_an_unknown_member_publishes_nothing() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()

    assert await service_on(store, publisher).delete("m-none", requested_by="member") is False
    assert publisher.records == []
    assert store.erasures == []


async def test_an_erasure_kafka_refused_keeps_the_profile() -> None:
    store, publisher = MemoryProfileStore(), InMemoryPublisher()
    service = service_on(store, publisher)
    await service.upsert("m-5", amina())
    publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await service.delete("m-5", requested_by="member")
    assert await service.get("m-5") is not None
    assert store.erasures == []
    assert not any(isinstance(r.event, ProfileDeleted) for r in publisher.records)
