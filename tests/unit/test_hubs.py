"""Hub and project profiles, and the hub service on fakes: validation, events in order,
nothing shown that Kafka refused, and a leader's erasure that leaves the hub standing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from nnmatch.events import HubUpserted, ProfileDeleted
from nnmatch.hub import HubProfile, LeaderRole, ProjectProfile, project_key
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.profile import MemberProfile
from nnmatch.publishing import InMemoryPublisher
from nnmatch.topics import HUBS, PROFILES, PROJECTS
from nnmatch_profiles.hub_store import MemoryHubStore
from nnmatch_profiles.hubs import HubService, TooManyProjects, UnknownHub
from nnmatch_profiles.service import BrokerUnavailable, ProfileService
from nnmatch_profiles.shortlist_store import MemoryShortlistStore
from nnmatch_profiles.store import MemoryProfileStore
from tests.support import AMINA, DROUGHT_PROJECT, NAIROBI_HUB

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
LEADER_PROFILE = MemberProfile.model_validate(AMINA)


def hub(**overrides: object) -> HubProfile:
    return HubProfile.model_validate(NAIROBI_HUB | overrides)


def project(**overrides: object) -> ProjectProfile:
    return ProjectProfile.model_validate(DROUGHT_PROJECT | overrides)


# --- the models -------------------------------------------------------------------------------


def test_hub_profile_normalises_like_a_member_profile_and_derives_its_region() -> None:
    parsed = hub(
        name="  YAIL\u202e Nairobi ",
        country="ke",
        sdgs=[13, 2, 13],
        languages=["EN", "sw", "en"],
        offers={"kinds": ["partner", "partner"], "text": " data "},
    )

    assert parsed.name == "YAIL Nairobi"
    assert parsed.country == "KE"
    assert parsed.region == "Africa"
    assert parsed.sdgs == [2, 13]
    assert parsed.languages == ["en", "sw"]
    assert parsed.offers.kinds == ["partner"]
    assert parsed.offers.text == "data"


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"name": "   "}, "name"),
        ({"country": "XX"}, "country"),
        ({"languages": []}, "languages"),
        ({"sdgs": [18]}, "sdgs"),
        ({"leaders": [{"member_id": "m-1", "role": "boss"}]}, "leaders"),
        ({"leaders": [{"member_id": "not ok", "role": "leader"}]}, "leaders"),
        ({"offers": {"kinds": ["wizard"]}}, "offers"),
        ({"region": "Africa"}, "region"),  # derived from the country, never written
        ({"focus": "x" * 4_001}, "focus"),
    ],
)
def test_an_invalid_hub_names_the_field(overrides: dict[str, object], field_name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        hub(**overrides)

    assert field_name in {str(e["loc"][0]) for e in caught.value.errors()}


def test_a_project_needs_a_title_and_a_language_and_is_open_by_default() -> None:
    body = {k: v for k, v in DROUGHT_PROJECT.items() if k != "open"}

    assert ProjectProfile.model_validate(body).open is True
    with pytest.raises(ValidationError):
        project(title=" ")
    with pytest.raises(ValidationError):
        project(languages=[])
    with pytest.raises(ValidationError):
        project(seeks={"kinds": ["collaborator"], "text": "x" * 2_001})


def test_removing_a_leader_drops_every_role_they_hold_and_keeps_the_rest() -> None:
    led = hub(
        leaders=[
            {"member_id": "a", "role": "leader"},
            {"member_id": "b", "role": "regional"},
            {"member_id": "a", "role": "impact"},
            {"member_id": "a", "role": "impact"},
        ]
    )

    assert len(led.leaders) == 3  # the exact duplicate went
    after = led.without_leader("a")
    assert [(x.member_id, x.role) for x in after.leaders] == [("b", LeaderRole.REGIONAL)]
    assert after.name == led.name
    assert not after.led_by("a")
    assert led.led_by("a")


def test_project_keys_name_hub_and_project_unambiguously() -> None:
    assert project_key("yail-nairobi", "p-1") == "yail-nairobi/p-1"


# --- the service on fakes ---------------------------------------------------------------------


@dataclass
class Hubs:
    store: MemoryHubStore = field(default_factory=MemoryHubStore)
    shortlists: MemoryShortlistStore = field(default_factory=MemoryShortlistStore)
    profiles: MemoryProfileStore = field(default_factory=MemoryProfileStore)
    keys: MemoryMemberKeys = field(default_factory=MemoryMemberKeys)
    publisher: InMemoryPublisher = field(
        default_factory=lambda: InMemoryPublisher(service="profiles")
    )

    @property
    def service(self) -> HubService:
        return HubService(self.store, self.publisher, lambda: NOW, shortlists=self.shortlists)

    @property
    def members(self) -> ProfileService:
        return ProfileService(
            self.profiles,
            self.publisher,
            lambda: NOW,
            keys=self.keys,
            chunk_size=10,
            leadership=self.service,
        )

    def published(self) -> list[tuple[str, str, str | None]]:
        return [
            (r.topic, r.key, type(r.event).__name__ if r.event else None)
            for r in self.publisher.records
        ]


@pytest.fixture
def hubs() -> Hubs:
    return Hubs()


async def test_each_hub_write_is_a_new_version_on_hubs_v1_keyed_by_hub(hubs: Hubs) -> None:
    first = await hubs.service.upsert_hub("yail-nairobi", hub())
    second = await hubs.service.upsert_hub("yail-nairobi", hub(focus="Climate"))

    assert (first.version, second.version) == (1, 2)
    assert second.region == "Africa"
    assert hubs.published() == [("hubs.v1", "yail-nairobi", "HubUpserted")] * 2
    stored = await hubs.service.get_hub("yail-nairobi")
    assert stored is not None
    assert stored.hub.focus == "Climate"


async def test_a_hub_kafka_refused_is_never_stored(hubs: Hubs) -> None:
    hubs.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await hubs.service.upsert_hub("yail-nairobi", hub())

    assert await hubs.service.get_hub("yail-nairobi") is None


async def test_a_project_needs_its_hub_and_is_keyed_hub_slash_project(hubs: Hubs) -> None:
    with pytest.raises(UnknownHub):
        await hubs.service.upsert_project("yail-nairobi", "drought", project())
    await hubs.service.upsert_hub("yail-nairobi", hub())

    stored = await hubs.service.upsert_project("yail-nairobi", "drought", project())

    assert (stored.hub_id, stored.project_id, stored.version) == ("yail-nairobi", "drought", 1)
    assert hubs.publisher.on(PROJECTS)[0].key == "yail-nairobi/drought"
    assert await hubs.service.get_project("other-hub", "drought") is None


async def test_a_hub_holds_at_most_the_documented_number_of_projects(
    hubs: Hubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nnmatch_profiles.hubs.MAX_PROJECTS_PER_HUB", 2)
    await hubs.service.upsert_hub("h-1", hub())
    for project_id in ("p-1", "p-2"):
        await hubs.service.upsert_project("h-1", project_id, project())

    with pytest.raises(TooManyProjects, match="delete one first"):
        await hubs.service.upsert_project("h-1", "p-3", project())
    replaced = await hubs.service.upsert_project("h-1", "p-2", project(open=False))

    assert replaced.version == 2
    assert [p.project_id for p in await hubs.service.projects_of("h-1")] == ["p-1", "p-2"]


async def test_deleting_a_hub_deletes_its_projects_first_each_with_a_tombstone(
    hubs: Hubs,
) -> None:
    await hubs.service.upsert_hub("h-1", hub())
    await hubs.service.upsert_project("h-1", "p-1", project())
    hubs.publisher.records.clear()

    assert await hubs.service.delete_hub("h-1") is True

    assert hubs.published() == [
        ("projects.v1", "h-1/p-1", "ProjectDeleted"),
        ("projects.v1", "h-1/p-1", None),
        ("hubs.v1", "h-1", "HubDeleted"),
        ("hubs.v1", "h-1", None),
    ]
    assert await hubs.service.get_hub("h-1") is None
    assert await hubs.service.get_project("h-1", "p-1") is None
    assert await hubs.service.delete_hub("h-1") is False


async def test_erasing_a_leader_republishes_their_hubs_without_them_before_the_deletion(
    hubs: Hubs,
) -> None:
    leaders = [
        {"member_id": "amina-lead", "role": "leader"},
        {"member_id": "kofi", "role": "impact"},
    ]
    await hubs.members.upsert("amina-lead", LEADER_PROFILE)
    await hubs.service.upsert_hub("h-1", hub(leaders=leaders))
    await hubs.service.upsert_hub("h-2", hub(leaders=leaders[:1]))
    # h-3 listed her once; its leaders have changed since (a stale index entry).
    await hubs.service.upsert_hub("h-3", hub(leaders=leaders[:1]))
    await hubs.service.upsert_hub("h-3", hub(leaders=leaders[1:]))
    hubs.publisher.records.clear()

    assert await hubs.members.delete("amina-lead") is True

    assert hubs.published() == [
        ("hubs.v1", "h-1", "HubUpserted"),
        ("hubs.v1", "h-2", "HubUpserted"),
        ("profiles.v1", "amina-lead", "ProfileDeleted"),
        ("profiles.v1", "amina-lead", None),
    ]
    for hub_id, left in (("h-1", ["kofi"]), ("h-2", []), ("h-3", ["kofi"])):
        stored = await hubs.service.get_hub(hub_id)
        assert stored is not None, hub_id
        assert [x.member_id for x in stored.hub.leaders] == left
    assert await hubs.store.hubs_led_by("amina-lead") == []
    upserts = [r.event for r in hubs.publisher.on(HUBS)]
    assert all(isinstance(e, HubUpserted) and not e.hub.led_by("amina-lead") for e in upserts)
    assert isinstance(hubs.publisher.on(PROFILES)[0].event, ProfileDeleted)


async def test_a_leader_without_a_profile_is_still_erased_from_their_hub(hubs: Hubs) -> None:
    await hubs.service.upsert_hub(
        "h-1", hub(leaders=[{"member_id": "no-profile", "role": "impact"}])
    )

    assert await hubs.members.delete("no-profile") is True
    assert await hubs.members.delete("no-profile") is False

    stored = await hubs.service.get_hub("h-1")
    assert stored is not None
    assert stored.hub.leaders == []
    deleted = [r.event for r in hubs.publisher.on(PROFILES) if isinstance(r.event, ProfileDeleted)]
    assert [e.member_id for e in deleted] == ["no-profile"]


async def test_when_the_hub_update_fails_the_member_is_not_erased_and_a_retry_finishes(
    hubs: Hubs,
) -> None:
    await hubs.members.upsert("amina-lead", LEADER_PROFILE)
    await hubs.service.upsert_hub("h-1", hub())
    hubs.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(BrokerUnavailable):
        await hubs.members.delete("amina-lead")

    assert await hubs.profiles.get("amina-lead") is not None
    assert await hubs.members.delete("amina-lead") is True
    stored = await hubs.service.get_hub("h-1")
    assert stored is not None
    assert stored.hub.leaders == []
