"""Reports and suspensions on fakes: the report store's contract (run on Redis too, in
tests/integration/test_reports_api.py), and what `Moderation` publishes and refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from nnmatch.events import (
    MemberSuspended,
    MemberUnsuspended,
    ProfileUpserted,
    ReportOutcome,
    ReportResolved,
)
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.publishing import InMemoryPublisher
from nnmatch.reports import (
    Report,
    ReportReason,
    ReportRequest,
    ReportSource,
    ReportStatus,
    new_report_id,
    outcome_key,
)
from nnmatch.topics import MODERATION, PROFILES
from nnmatch_notifications.report_outcomes import outcome_item
from nnmatch_profiles.hub_store import MemoryHubStore
from nnmatch_profiles.hubs import HubService
from nnmatch_profiles.moderation import Moderation, ReportRefused
from nnmatch_profiles.report_store import MemoryReportStore, ReportStore
from nnmatch_profiles.service import ProfileService, published
from nnmatch_profiles.shortlist_store import MemoryShortlistStore
from nnmatch_profiles.store import MemoryProfileStore
from tests.unit.builders import amina

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def _report(reporter: str, target: str, minutes: int = 0) -> Report:
    return Report(
        report_id=new_report_id(),
        reporter_id=reporter,
        target_id=target,
        source=ReportSource.SUGGESTION,
        reason=ReportReason.SPAM,
        text="sent me adverts",
        created_at=NOW + timedelta(minutes=minutes),
    )


@pytest.fixture
def report_store() -> ReportStore:
    return MemoryReportStore()


async def test_one_open_report_per_pair_until_it_is_decided(report_store: ReportStore) -> None:
    first = _report("rs-a", "rs-t")
    again = _report("rs-a", "rs-t", 1)
    other = _report("rs-b", "rs-t", 2)

    assert await report_store.file(first) is None
    assert await report_store.file(again) == first.report_id
    assert await report_store.file(other) is None
    assert [r.report_id for r in await report_store.open_page(0, 10)] == [
        first.report_id,
        other.report_id,
    ]
    assert await report_store.open_count() == 2
    about = {r.report_id for r in await report_store.open_about("rs-t")}
    assert about == {first.report_id, other.report_id}

    decided = first.model_copy(update={"status": ReportStatus.DISMISSED, "resolved_at": NOW})
    assert await report_store.resolve(decided) is True
    assert await report_store.resolve(decided) is False  # decided once, whoever comes second
    assert await report_store.get(first.report_id) == decided
    assert [r.report_id for r in await report_store.open_page(0, 10)] == [other.report_id]
    assert await report_store.file(again) is None  # the pair may report again
    assert await report_store.get("r-" + "f" * 32) is None


async def test_the_queue_pages_in_filing_order(report_store: ReportStore) -> None:
    reports = [_report(f"rs-p{i}", "rs-q", i) for i in range(5)]
    for report in reports:
        await report_store.file(report)

    assert [r.report_id for r in await report_store.open_page(1, 3)] == [
        r.report_id for r in reports[1:3]
    ]
    assert await report_store.open_page(5, 10) == []


async def test_suspended_members_are_known_until_unsuspended(report_store: ReportStore) -> None:
    await report_store.set_suspended("rs-s", True)
    await report_store.set_suspended("rs-s", True)

    assert await report_store.suspended_among(["rs-s", "rs-x"]) == {"rs-s"}
    await report_store.set_suspended("rs-s", False)
    assert await report_store.suspended_among(["rs-s"]) == set()
    assert await report_store.suspended_among([]) == set()


# --------------------------------------------------------------------------- moderation


@dataclass
class World:
    store: MemoryReportStore = field(default_factory=MemoryReportStore)
    profiles_store: MemoryProfileStore = field(default_factory=MemoryProfileStore)
    publisher: InMemoryPublisher = field(
        default_factory=lambda: InMemoryPublisher(service="profiles")
    )

    @property
    def profiles(self) -> ProfileService:
        hubs = HubService(
            MemoryHubStore(), self.publisher, lambda: NOW, shortlists=MemoryShortlistStore()
        )
        return ProfileService(
            self.profiles_store,
            self.publisher,
            lambda: NOW,
            keys=MemoryMemberKeys(),
            chunk_size=10,
            leadership=hubs,
            suspensions=self.store,
        )

    @property
    def moderation(self) -> Moderation:
        return Moderation(self.store, self.profiles, self.publisher, lambda: NOW)

    def last_published_profile(self, member_id: str) -> ProfileUpserted:
        events = [r.event for r in self.publisher.on(PROFILES) if r.key == member_id]
        event = events[-1]
        assert isinstance(event, ProfileUpserted)
        return event


@pytest.fixture
async def world() -> World:
    w = World()
    for member in ("mod-a", "mod-b", "mod-t"):
        await w.profiles.upsert(member, amina())
    return w


def _request(target: str = "mod-t") -> ReportRequest:
    return ReportRequest(target_id=target, source=ReportSource.INBOX, reason=ReportReason.SPAM)


async def test_a_report_is_refused_on_oneself_an_unknown_member_and_a_second_open_one(
    world: World,
) -> None:
    filed = await world.moderation.file("mod-a", _request())

    with pytest.raises(ReportRefused) as self_report:
        await world.moderation.file("mod-a", _request("mod-a"))
    with pytest.raises(ReportRefused) as unknown:
        await world.moderation.file("mod-a", _request("mod-nobody"))
    with pytest.raises(ReportRefused) as twice:
        await world.moderation.file("mod-a", _request())

    assert filed.status is ReportStatus.OPEN
    assert (self_report.value.status, unknown.value.status) == (422, 404)
    assert twice.value.status == 409
    assert filed.report_id in str(twice.value)
    assert world.publisher.on(MODERATION) == []  # filing publishes nothing


async def test_suspension_hides_the_member_on_the_topic_and_keeps_their_own_choice(
    world: World,
) -> None:
    a = await world.moderation.file("mod-a", _request())
    b = await world.moderation.file("mod-b", _request())

    state = await world.moderation.suspend("mod-t", "op-1", a.report_id)

    assert sorted(state.resolved_reports) == sorted([a.report_id, b.report_id])
    hidden = world.last_published_profile("mod-t")
    assert hidden.profile.visibility.discoverable is False
    stored = await world.profiles.get("mod-t")
    assert stored is not None
    assert stored.profile.visibility.discoverable is True
    assert stored.version == hidden.version == 2
    moderation = [(r.key, r.event) for r in world.publisher.on(MODERATION)]
    assert isinstance(moderation[0][1], MemberSuspended)
    assert moderation[0][0] == "mod-t"
    outcomes = {k: e for k, e in moderation[1:] if isinstance(e, ReportResolved)}
    assert set(outcomes) == {outcome_key(a.report_id), outcome_key(b.report_id)}
    assert {e.outcome for e in outcomes.values()} == {ReportOutcome.SUSPENDED}
    assert await world.moderation.open_count() == 0
    # The member's own edit while suspended stays hidden on the topic.
    await world.profiles.upsert("mod-t", amina(headline="still here"))
    assert world.last_published_profile("mod-t").profile.visibility.discoverable is False

    lifted = await world.moderation.unsuspend("mod-t", "op-1")

    assert lifted.suspended is False
    assert world.last_published_profile("mod-t").profile.visibility.discoverable is True
    assert isinstance(world.publisher.on(MODERATION)[-1].event, MemberUnsuspended)
    with pytest.raises(ReportRefused) as again:
        await world.moderation.unsuspend("mod-t", "op-1")
    assert again.value.status == 404


async def test_a_dismissal_is_published_once_and_cannot_be_repeated(world: World) -> None:
    report = await world.moderation.file("mod-a", _request())

    dismissed = await world.moderation.dismiss(report.report_id)

    assert dismissed.status is ReportStatus.DISMISSED
    [record] = world.publisher.on(MODERATION)
    assert record.key == outcome_key(report.report_id)
    assert isinstance(record.event, ReportResolved)
    assert record.event.outcome is ReportOutcome.DISMISSED
    assert "adverts" not in record.event.model_dump_json()
    with pytest.raises(ReportRefused) as twice:
        await world.moderation.dismiss(report.report_id)
    assert twice.value.status == 409
    assert world.last_published_profile("mod-t").version == 1  # nobody was hidden


async def test_a_suspension_naming_a_report_about_someone_else_is_refused(world: World) -> None:
    report = await world.moderation.file("mod-a", _request("mod-b"))

    with pytest.raises(ReportRefused) as refused:
        await world.moderation.suspend("mod-t", "op-1", report.report_id)
    with pytest.raises(ReportRefused) as unknown:
        await world.moderation.suspend("mod-nobody", "op-1")

    assert (refused.value.status, unknown.value.status) == (422, 404)
    assert world.publisher.on(MODERATION) == []


def test_a_member_who_hid_themself_stays_hidden_after_a_suspension_ends() -> None:
    hidden = amina(visibility={"discoverable": False, "show_organisation": True})

    assert published(hidden, suspended=False).visibility.discoverable is False
    assert published(amina(), suspended=True).visibility.discoverable is False
    assert published(amina(), suspended=False) == amina()


def test_the_outcome_item_is_keyed_by_the_report_and_says_the_outcome() -> None:
    event = ReportResolved(
        producer="profiles",
        report_id="r-" + "a" * 32,
        reporter_id="mod-a",
        target_id="mod-t",
        outcome=ReportOutcome.SUSPENDED,
    )

    item = outcome_item(event)

    assert item.candidate_id == "report:r-" + "a" * 32
    assert item.suggestion.member_id == "mod-t"
    assert "suspended" in item.suggestion.reasons[0].text


async def test_an_erasure_forgets_the_reports_a_member_filed_or_is_named_in(
    report_store: ReportStore,
) -> None:
    filed = _report("rs-gone", "rs-t1")
    about = _report("rs-r", "rs-gone", 1)
    other = _report("rs-r", "rs-t1", 2)
    for report in (filed, about, other):
        await report_store.file(report)
    await report_store.set_suspended("rs-gone", True)

    assert await report_store.forget("rs-gone") == 2

    assert await report_store.get(filed.report_id) is None
    assert await report_store.get(about.report_id) is None
    assert [r.report_id for r in await report_store.open_page(0, 10)] == [other.report_id]
    assert await report_store.open_about("rs-gone") == []
    assert await report_store.suspended_among(["rs-gone"]) == set()
    assert await report_store.file(_report("rs-gone", "rs-t1", 3)) is None  # no pair left
