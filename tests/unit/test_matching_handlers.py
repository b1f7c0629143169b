"""The matching handlers on fakes: in-memory stores and publisher, a 4-d engine, a stand-in model.

Each test runs a handler the way its consumer does (a batch of decoded records) and checks what
was published and stored; the real-broker tests keep only the paths that cross Kafka and Redis.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from nnmatch.events import (
    Event,
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
)
from nnmatch.messaging import Inbound
from nnmatch.observability import Metrics
from nnmatch.profile import Kind
from nnmatch.publishing import InMemoryPublisher
from nnmatch.settings import KafkaSettings
from nnmatch.topics import MATCHES, PROFILE_VECTORS
from nnmatch_matching.embedding.embedding_cache import MemoryEmbeddingCache
from nnmatch_matching.embedding.handlers import EmbedderState, EmbedProfiles
from nnmatch_matching.embedding.model_status import MemoryModelStatus, ModelWatch, announce
from nnmatch_matching.matcher.background import YIELD_EVERY, BackgroundRerank
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.exclusions import PairFeedback
from nnmatch_matching.matcher.feedback_store import MemoryFeedbackStore
from nnmatch_matching.matcher.handlers import (
    ApplyFeedback,
    MatchChangedMembers,
    MatcherState,
    ModelAhead,
    RecheckGained,
    RerankAfterModelChange,
    publish_matches,
)
from nnmatch_matching.matcher.listings import adopt, rebuild_listings
from nnmatch_matching.matcher.ownership import Ownership
from nnmatch_matching.matcher.store import MemoryMatchesStore
from nnmatch_matching.metrics import MatchingMetrics
from tests.unit.builders import (
    E0,
    E1,
    amina,
    card,
    mentee_vectors,
    mentor_vectors,
    unit,
    vectors_event,
)
from tests.unit.test_embedding_cache import CountingEmbedder

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
MODEL = "test-model@1"
ME = "me-mentor"
E = TypeVar("E", bound=Event)


class Fakes:
    """A matcher on fakes: what the handlers share, and the fakes to look into."""

    def __init__(self, *members: ProfileVectorsComputed, top_n: int = 2) -> None:
        self.engine = MatchEngine(dimensions=4, top_n=top_n, model_id=MODEL)
        for offset, event in enumerate(members):
            self.engine.apply(event, LogPosition(0, offset))
        # Ranked once, as the matcher ranks every member it applies: a member without a list
        # has none to update by reverse update.
        self.engine.matches_for([e.member_id for e in members], NOW)
        self.next_offset = len(members)
        self.publisher = InMemoryPublisher()
        self.matches = MemoryMatchesStore()
        self.feedback = MemoryFeedbackStore()
        self.status = MemoryModelStatus()
        self.metrics = MatchingMetrics(Metrics("tests"))
        self.state = MatcherState(
            engine=self.engine,
            lock=asyncio.Lock(),
            matches=self.matches,
            feedback=self.feedback,
            publisher=self.publisher,
            clock=lambda: NOW,
            metrics=self.metrics,
            watch=ModelWatch(self.status, lambda: self.engine.model_id, interval_s=0),
            # Every list a change alters is ranked in the batch, so these tests read them from
            # it; by default they are queued for the background (test_candidate_cache.py).
            sync_relists=64,
        )

    def records(self, *items: tuple[str, E | None]) -> list[Inbound[E]]:
        """Records at the next offsets of partition 0, as a consumer batch."""
        batch = [
            Inbound(key, event, "topic", 0, self.next_offset + i, 0)
            for i, (key, event) in enumerate(items)
        ]
        self.next_offset += len(items)
        return batch

    def published_lists(self) -> dict[str, list[str]]:
        """The last list published per member, as candidate ids."""
        lists: dict[str, list[str]] = {}
        for record in self.publisher.on(MATCHES):
            assert isinstance(record.event, MatchesComputed)
            lists[record.key] = [s.member_id for s in record.event.suggestions]
        return lists

    async def stored(self, member_id: str) -> list[str] | None:
        computed = await self.matches.get(member_id)
        return None if computed is None else [s.member_id for s in computed.suggestions]


def _mentee_of_model(member_id: str, model_id: str) -> ProfileVectorsComputed:
    member = mentee_vectors(member_id, 0).card
    return vectors_event(member_id, member, profile=E0, offers=E1, seeks=E0, model_id=model_id)


def _feedback(member_id: str, candidate_id: str, action: FeedbackAction) -> FeedbackGiven:
    return FeedbackGiven(
        producer="tests", member_id=member_id, candidate_id=candidate_id, action=action
    )


def _skipped(metrics: MatchingMetrics, reason: str) -> float:
    return float(metrics.skipped_vectors.labels(reason)._value.get())


async def test_a_vectors_batch_publishes_and_stores_the_lists_of_changed_members() -> None:
    fakes = Fakes()
    batch = fakes.records(
        (ME, mentor_vectors(ME)), ("m0", mentee_vectors("m0", 0)), ("m1", mentee_vectors("m1", 1))
    )

    rejections = await MatchChangedMembers(fakes.state)(batch)

    assert rejections == []
    assert fakes.published_lists()[ME] == ["m0", "m1"]
    assert set(fakes.published_lists()) == {ME, "m0", "m1"}
    assert await fakes.stored(ME) == ["m0", "m1"]
    [published] = [r.event for r in fakes.publisher.on(MATCHES) if r.key == ME]
    assert await fakes.matches.get(ME) == published, "the stored list is the published one"


async def test_a_new_member_reaches_the_lists_of_members_it_fits() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m1", 1))

    await MatchChangedMembers(fakes.state)(fakes.records(("m0", mentee_vectors("m0", 0))))

    assert fakes.published_lists()[ME] == ["m0", "m1"], "ME is re-ranked by reverse update"
    assert await fakes.stored(ME) == ["m0", "m1"]


async def test_a_tombstone_removes_the_member_their_feedback_and_their_stored_list() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    await fakes.feedback.put_many(
        [
            PairFeedback(ME, "m1", FeedbackAction.ACCEPT),
            PairFeedback("m0", ME, FeedbackAction.ACCEPT),
        ]
    )
    fakes.engine.exclusions.load(await fakes.feedback.load_all())
    members = sorted(fakes.engine.members)
    fakes.engine.rescan(members)  # the feedback in force, as at start-up (loaded first)
    fakes.engine.matches_for(members, NOW)
    await MatchChangedMembers(fakes.state)(fakes.records(("m2", mentee_vectors("m2", 2))))
    assert await fakes.stored("m0") is not None

    await MatchChangedMembers(fakes.state)(fakes.records(("m0", None)))

    assert "m0" not in fakes.engine
    assert not fakes.engine.exclusions.mentions("m0")
    assert await fakes.feedback.load_all() == [PairFeedback(ME, "m1", FeedbackAction.ACCEPT)]
    assert await fakes.stored("m0") is None
    assert fakes.published_lists()[ME] == ["m2"], "ME's list no longer holds m0 (m1 accepted)"


async def test_a_record_older_than_the_one_applied_is_skipped() -> None:
    fakes = Fakes(mentor_vectors(ME))
    handler = MatchChangedMembers(fakes.state)
    newer = Inbound("m0", mentee_vectors("m0", 0, profile_version=2), "topic", 0, 10, 0)
    await handler([newer])
    fakes.publisher.records.clear()

    older = Inbound("m0", mentee_vectors("m0", 5, profile_version=1), "topic", 0, 9, 0)
    assert await handler([older]) == []

    assert fakes.engine.profile_version("m0") == 2
    assert fakes.publisher.records == [], "nothing changed, nothing published"


async def test_a_record_the_replay_applied_is_not_ranked_again_but_a_redelivered_live_one_is() -> (
    None
):
    """At a cold start every member's list is the start refresh's work, not one re-rank per
    record as the group consumer reaches it; past the replay's end, records are changes."""
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0))
    fakes.engine.replayed_to = {0: 2}  # the replay read offsets 0 and 1
    handler = MatchChangedMembers(fakes.state)

    replayed = Inbound("m0", mentee_vectors("m0", 0), "topic", 0, 1, 0)
    assert handler.already_applied("m0", 0, 1), "the consumer commits it undecoded"
    assert not handler.already_applied("m1", 0, 2), "past the replay's end"
    assert not handler.already_applied("m0", 1, 1), "another partition's offsets"
    assert await handler([replayed]) == []
    assert fakes.publisher.records == [], "applied by the replay: nothing ranked here"

    live = Inbound("m1", mentee_vectors("m1", 1), "topic", 0, 2, 0)
    await handler([live])
    fakes.publisher.records.clear()
    await handler([live])  # redelivered after a failure: ranked again, not skipped
    assert "m1" in fakes.published_lists()


async def test_a_batch_that_fails_to_publish_leaves_its_lists_to_the_queue() -> None:
    fakes = Fakes(mentor_vectors(ME))
    handler = MatchChangedMembers(fakes.state)

    async def broken(computed: object) -> None:
        raise ConnectionError("redis away")

    fakes.matches.put_many = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await handler(fakes.records(("m0", mentee_vectors("m0", 0))))

    assert "m0" in fakes.state.queue._relist


async def test_vectors_of_a_retired_model_are_skipped_and_of_an_unknown_model_refused() -> None:
    fakes = Fakes(mentor_vectors(ME))
    await fakes.status.put(announce(announce(None, "old-model@1"), MODEL), NOW)
    old = _mentee_of_model("m0", "old-model")
    unknown = _mentee_of_model("m1", "other")

    rejections = await MatchChangedMembers(fakes.state)(fakes.records(("m0", old), ("m1", unknown)))

    assert [r.record.key for r in rejections] == ["m1"], "dead-lettered, with the reason"
    assert "m0" not in fakes.engine
    assert _skipped(fakes.metrics, "retired_model") == 1


async def test_vectors_of_a_model_announced_after_start_fail_the_batch() -> None:
    fakes = Fakes(mentor_vectors(ME))
    await fakes.status.put(announce(announce(None, MODEL), "next-model@1"), NOW)
    ahead = _mentee_of_model("m0", "next-model")

    with pytest.raises(ModelAhead):
        await MatchChangedMembers(fakes.state)(fakes.records(("m0", ahead)))


async def test_while_a_model_change_runs_only_erasures_re_rank() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    await MatchChangedMembers(fakes.state)(fakes.records(("m2", mentee_vectors("m2", 2))))
    await fakes.status.put(announce(announce(None, "old-model@1"), MODEL), NOW)  # switching
    fakes.publisher.records.clear()

    await MatchChangedMembers(fakes.state)(
        fakes.records(("m3", mentee_vectors("m3", 0)), ("m0", None))
    )

    assert "m3" in fakes.engine, "indexed meanwhile"
    assert set(fakes.published_lists()) == {ME}, "only who listed the erased one is re-ranked"
    assert "m0" not in fakes.published_lists()[ME]
    assert fakes.state.watch.owed


async def test_after_a_model_change_everyone_is_re_ranked_once() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    changed = announce(announce(None, "old-model@1"), MODEL)
    await fakes.status.put(changed, NOW)
    await fakes.status.complete(MODEL, NOW)
    rerank = RerankAfterModelChange(fakes.state, chunk=2)

    assert await rerank.step()
    assert not await rerank.step(), "once"

    assert set(fakes.published_lists()) == {ME, "m0", "m1"}
    status = await fakes.status.get()
    assert status is not None
    assert not status.rerank_owed


async def test_a_block_excludes_both_ways_is_stored_and_re_ranks_both() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    mentor2 = mentor_vectors("mentor-2")
    await MatchChangedMembers(fakes.state)(fakes.records(("mentor-2", mentor2)))
    fakes.publisher.records.clear()

    given = _feedback(ME, "m0", FeedbackAction.BLOCK)
    assert await ApplyFeedback(fakes.state)(fakes.records((ME, given))) == []

    lists = fakes.published_lists()
    assert set(lists) == {ME, "m0"}, "both sides of the block are re-ranked"
    assert "m0" not in lists[ME]
    assert ME not in lists["m0"]
    assert lists["m0"][0] == "mentor-2", "the other mentor takes the place"
    assert await fakes.feedback.get(ME) == {"m0": FeedbackAction.BLOCK}
    assert await fakes.stored(ME) == lists[ME]


async def test_a_dismissal_re_ranks_only_the_member_who_gave_it() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))

    await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, "m0", FeedbackAction.DISMISS)))
    )

    assert fakes.published_lists() == {ME: ["m1"]}


async def test_feedback_naming_a_member_the_matcher_does_not_hold_is_dropped() -> None:
    fakes = Fakes(mentor_vectors(ME))

    rejections = await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, "erased", FeedbackAction.BLOCK)))
    )

    assert rejections == []
    assert await fakes.feedback.load_all() == []
    assert not fakes.engine.exclusions.mentions("erased")
    assert fakes.publisher.records == []


async def test_feedback_on_oneself_is_refused() -> None:
    fakes = Fakes(mentor_vectors(ME))

    rejections = await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, ME, FeedbackAction.ACCEPT)))
    )

    assert [r.record.key for r in rejections] == [ME]
    assert await fakes.feedback.load_all() == []


class Embedder:
    """The embedder role on fakes."""

    def __init__(self) -> None:
        self.model = CountingEmbedder()
        self.cache = MemoryEmbeddingCache()
        self.publisher = InMemoryPublisher()
        self.erased: list[tuple[list[str], int]] = []  # (members, records published before)
        self.state = EmbedderState(
            self.model,
            self.cache,
            self.publisher,
            MatchingMetrics(Metrics("tests")),
            asyncio.Lock(),
        )
        self.handler = EmbedProfiles(self.state, on_erased=self._on_erased)

    async def _on_erased(self, member_ids: Sequence[str]) -> None:
        self.erased.append((list(member_ids), len(self.publisher.records)))


def _profile(member_id: str, version: int, **overrides: object) -> ProfileUpserted:
    return ProfileUpserted(
        producer="tests", member_id=member_id, version=version, profile=amina(**overrides)
    )


def _inbound(
    *items: tuple[str, ProfileUpserted | ProfileDeleted | None],
) -> list[Inbound[ProfileUpserted | ProfileDeleted]]:
    return [Inbound(key, event, "profiles", 0, i, 0) for i, (key, event) in enumerate(items)]


async def test_the_embedder_publishes_each_members_latest_profile_and_caches_it() -> None:
    role = Embedder()

    await role.handler(_inbound(("m-1", _profile("m-1", 1)), ("m-1", _profile("m-1", 2))))

    [record] = role.publisher.on(PROFILE_VECTORS)
    assert isinstance(record.event, ProfileVectorsComputed)
    assert (record.key, record.event.profile_version) == ("m-1", 2), "latest state wins"
    assert role.cache.entries["m-1"].profile_version == 2
    assert len(role.model.seen) == 3, "three texts of one profile"


async def test_an_erasure_publishes_a_tombstone_and_forgets_the_cached_vectors() -> None:
    role = Embedder()
    await role.handler(_inbound(("m-1", _profile("m-1", 1))))

    deleted = ProfileDeleted(producer="tests", member_id="m-1")
    await role.handler(_inbound(("m-1", deleted), ("m-1", None)))

    assert role.publisher.on(PROFILE_VECTORS)[-1].event is None
    assert role.cache.entries == {}
    assert role.erased == [(["m-1"], 1)], "heard of before its tombstone was published"


async def test_a_failed_vectors_publish_leaves_the_cache_as_it_was() -> None:
    role = Embedder()
    role.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await role.handler(_inbound(("m-1", _profile("m-1", 1))))

    assert role.cache.entries == {}, "a redelivery embeds again rather than trusting the cache"


class FakeOwner:
    """The owners' group on a fake: the partitions this replica owns, settled at once."""

    def __init__(self, *partitions: int) -> None:
        self.partitions = set(partitions)

    def owns(self, partition: int) -> bool:
        return partition in self.partitions

    async def wait_settled(self) -> None:
        return None


REPLICA_MEMBERS = [
    mentor_vectors(ME),
    mentor_vectors("mentor-2"),
    *(mentee_vectors(f"m{i}", i) for i in range(4)),
]


def _partition(member_id: str) -> int:
    """Two partitions, as a keyed producer would spread the members over them."""
    return 0 if member_id in {ME, "m0", "m2"} else 1


def _replica(
    owner: FakeOwner, publisher: InMemoryPublisher, matches: MemoryMatchesStore
) -> MatcherState:
    """A replica over a shared publisher and matches store (Kafka and Redis are shared)."""
    return MatcherState(
        engine=MatchEngine(dimensions=4, top_n=2, model_id=MODEL),
        lock=asyncio.Lock(),
        matches=matches,
        feedback=MemoryFeedbackStore(),
        publisher=publisher,
        clock=lambda: NOW,
        metrics=MatchingMetrics(Metrics("tests")),
        watch=ModelWatch(MemoryModelStatus(), lambda: MODEL, interval_s=0),
        owner=owner,
        sync_relists=64,
    )


def _on_partitions(
    events: Sequence[ProfileVectorsComputed], first_offset: int = 0
) -> list[Inbound[ProfileVectorsComputed]]:
    return [
        Inbound(e.member_id, e, "topic", _partition(e.member_id), first_offset + i, 0)
        for i, e in enumerate(events)
    ]


def _lists_by_member(publisher: InMemoryPublisher) -> dict[str, list[list[str]]]:
    published: dict[str, list[list[str]]] = {}
    for record in publisher.on(MATCHES):
        assert isinstance(record.event, MatchesComputed)
        published.setdefault(record.key, []).append([s.member_id for s in record.event.suggestions])
    return published


async def test_replicas_apply_every_change_and_each_publishes_only_the_lists_it_owns() -> None:
    publisher, matches = InMemoryPublisher(), MemoryMatchesStore()
    a = _replica(FakeOwner(0), publisher, matches)
    b = _replica(FakeOwner(1), publisher, matches)
    alone = Fakes(top_n=2)
    batch = _on_partitions(REPLICA_MEMBERS)

    for state in (a, b, alone.state):
        await MatchChangedMembers(state)(batch)

    assert set(a.engine.members) == set(b.engine.members) == {e.member_id for e in REPLICA_MEMBERS}
    published = _lists_by_member(publisher)
    assert {m: len(lists) for m, lists in published.items()} == {
        e.member_id: 1 for e in REPLICA_MEMBERS
    }, "every list published once, by one replica"
    assert {m: lists[0] for m, lists in published.items()} == alone.published_lists(), (
        "the two replicas publish what one matcher alone publishes"
    )


async def _refreshed(state: MatcherState) -> None:
    """Run the background's refresh at start to its end (every cache queued for a scan)."""
    background = BackgroundRerank(state, per_s=1000, refresh_interval_s=0)
    for _ in range(100):
        await background.step()
        if background.refreshes and not len(state.queue):
            return
    raise AssertionError("the refresh did not finish")


def _built(engine: MatchEngine) -> set[str]:
    return {m for m, s in engine.members.items() if engine.cache.built(s.row)}


async def test_a_refresh_scans_only_the_caches_of_the_lists_a_replica_ranks() -> None:
    """Replicas split a refresh's scans as they split its lists: each keeps the caches of the
    members it owns and clears the others'; what they publish, then and after a change, is
    what one matcher alone publishes, each list once."""
    publisher, matches = InMemoryPublisher(), MemoryMatchesStore()
    owner_a = FakeOwner(0)
    a = _replica(owner_a, publisher, matches)
    b = _replica(FakeOwner(1), publisher, matches)
    alone = Fakes(top_n=2)
    batch = _on_partitions(REPLICA_MEMBERS)
    for state in (a, b, alone.state):
        await MatchChangedMembers(state)(batch)
        await _refreshed(state)

    on = {p: {e.member_id for e in REPLICA_MEMBERS if _partition(e.member_id) == p} for p in (0, 1)}
    assert _built(a.engine) == on[0]
    assert _built(b.engine) == on[1]
    assert _built(alone.engine) == on[0] | on[1], "a lone matcher owns and scans everyone"

    change = _on_partitions([mentee_vectors("m4", 0)], first_offset=len(batch))  # partition 1
    for state in (a, b, alone.state):
        await MatchChangedMembers(state)(change)
    last = {m: lists[-1] for m, lists in _lists_by_member(publisher).items()}
    assert last == alone.published_lists(), "the replicas publish what one matcher does"
    assert any("m4" in listed for m, listed in last.items() if m != "m4"), "m4 entered a list"
    counts = {m: len(lists) for m, lists in _lists_by_member(publisher).items()}
    alone_counts: dict[str, int] = {}
    for record in alone.publisher.on(MATCHES):
        alone_counts[record.key] = alone_counts.get(record.key, 0) + 1
    assert counts == alone_counts, "each list published as often as by one matcher alone"

    # b dies; a takes its partition and applies a change before it checks the gained lists.
    # The gained members' caches were cleared: their lists are decided by the cut-offs a
    # adopted from b's lists (as the follower of matches.v1 does).
    for record in publisher.on(MATCHES):
        assert isinstance(record.event, MatchesComputed)
        if _partition(record.key) == 1:
            adopt(a.engine, record.event)
    owner_a.partitions.add(1)
    assert not _built(a.engine) & on[1]
    # A mentor closer to the mentees than the two they list: it tops their lists.
    closer = card("Mentor closer", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,))
    mentor = vectors_event("mentor-3", closer, profile=unit(1, 0, 0.4, 0), offers=E0, seeks=E1)
    newcomer = _on_partitions([mentor], first_offset=len(batch) + 1)
    for state in (a, alone.state):
        await MatchChangedMembers(state)(newcomer)
    gained = {m: lists[-1] for m, lists in _lists_by_member(publisher).items()}
    assert gained == alone.published_lists(), "the gained lists the change alters, at once"
    assert [m for m in on[1] if m.startswith("m") and gained[m][0] == "mentor-3"], (
        "it entered lists of the gained partition"
    )
    recheck = RecheckGained(a)
    recheck.gained({1})
    await recheck.step()
    assert {m: lists[-1] for m, lists in _lists_by_member(publisher).items()} == (
        alone.published_lists()
    )
    for member in a.engine.members:
        assert a.engine.picks(member) == alone.engine.picks(member), member


async def test_a_replica_that_gains_a_partition_publishes_the_lists_its_old_owner_left() -> None:
    publisher, matches = InMemoryPublisher(), MemoryMatchesStore()
    owner_a = FakeOwner(0)
    a = _replica(owner_a, publisher, matches)
    b = _replica(FakeOwner(1), publisher, matches)
    first = _on_partitions(REPLICA_MEMBERS)
    for state in (a, b):
        await MatchChangedMembers(state)(first)
    before = _lists_by_member(publisher)
    # m4 fits the mentors (one on each partition); b dies before it applies the change.
    newcomer = _on_partitions([mentee_vectors("m4", 0)], first_offset=len(first))
    await MatchChangedMembers(a)(newcomer)
    assert "mentor-2" not in _lists_by_member(publisher).keys() - before.keys()
    assert len(_lists_by_member(publisher)["mentor-2"]) == 1, "no one owned mentor-2's update"

    owner_a.partitions.add(1)
    recheck = RecheckGained(a)
    recheck.gained({1})
    published = await recheck.step()

    lists = _lists_by_member(publisher)
    assert "m4" in lists["mentor-2"][-1], "the gained list is brought up to date"
    assert published == recheck.published >= 1
    assert await recheck.step() == 0, "nothing pending: nothing published again"
    recheck.gained({1})
    assert await recheck.step() == 0, "a list already current is not published again"
    assert len(_lists_by_member(publisher)["mentor-2"]) == 2


async def test_listings_rebuilt_from_the_stored_lists_give_the_same_exposure() -> None:
    fakes = Fakes(*REPLICA_MEMBERS, top_n=2)
    await publish_matches(fakes.state, set(fakes.engine.members))
    restarted = MatchEngine(dimensions=4, top_n=2, model_id=MODEL)
    restarted.import_state(fakes.engine.export_state())

    rebuilt = await rebuild_listings(restarted, fakes.matches, asyncio.Lock())

    assert rebuilt.found == len(REPLICA_MEMBERS)
    assert rebuilt.other_model == []
    assert restarted.listed_in == {m: s for m, s in fakes.engine.listed_in.items() if s}
    everyone = sorted(fakes.engine.members)
    for member in everyone:
        assert list(restarted.exposure(member, everyone)) == list(
            fakes.engine.exposure(member, everyone)
        )
        row, old_row = restarted.members[member].row, fakes.engine.members[member].row
        floor, old_floor = restarted.columns.floor[row], fakes.engine.columns.floor[old_row]
        assert floor <= old_floor, "a cut-off read back is never above the ranked one"
        if old_floor < 0:
            assert floor == old_floor, "a list not full has no cut-off"
            continue
        shown, old_shown = floor / (1 + floor), old_floor / (1 + old_floor)
        assert shown == pytest.approx(old_shown, abs=1e-4), "within the score's rounding"


async def test_a_list_published_elsewhere_is_adopted_and_the_same_list_keeps_its_cut_off() -> None:
    fakes = Fakes(*REPLICA_MEMBERS, top_n=2)
    await publish_matches(fakes.state, {ME})
    engine, computed = fakes.engine, await fakes.matches.get(ME)
    assert computed is not None
    exact = engine.columns.floor[engine.members[ME].row]

    adopt(engine, computed)
    assert engine.columns.floor[engine.members[ME].row] == exact, "its own list: unchanged"

    other = computed.model_copy(update={"suggestions": computed.suggestions[::-1]})
    adopt(engine, other)
    assert engine._lists[ME] == [s.member_id for s in other.suggestions]
    assert all(ME in engine.listed_in[s.member_id] for s in other.suggestions)


async def test_ownership_reports_what_a_rebalance_gains_and_is_unsettled_during_one() -> None:
    gains: list[set[int]] = []
    kafka = KafkaSettings(
        bootstrap_servers="unused:9092",
        enable_idempotence=True,
        partitions=3,
        replication_factor=1,
        topic_prefix="",
        client_id="tests",
    )
    ownership = Ownership(kafka, "tests", gains.append)

    ownership._revoke()
    ownership._assign({0, 2})
    assert gains == [], "the first share: this process's own consumers redo what is undone"
    assert ownership.owns(0)
    assert not ownership.owns(1)

    ownership._revoke()
    assert not ownership.owns(0), "during a rebalance no one owns anything"
    with pytest.raises(TimeoutError):
        await ownership.wait_settled(timeout_s=0.01)
    ownership._assign({0, 1, 2})
    await ownership.wait_settled(timeout_s=0.01)
    assert gains == [{1}], "a partition the dead replica held"

    ownership._revoke()
    ownership._assign({2})
    assert gains == [{1}], "losing partitions gains nothing"


async def test_lists_of_a_retired_model_found_at_start_are_ranked_again_by_their_owner() -> None:
    fakes = Fakes(*REPLICA_MEMBERS, top_n=2)
    await publish_matches(fakes.state, set(fakes.engine.members))
    old = await fakes.matches.get("m0")
    assert old is not None
    await fakes.matches.put_many([old.model_copy(update={"model_id": "old-model@1"})])
    published = len(fakes.publisher.on(MATCHES))

    rebuilt = await rebuild_listings(fakes.engine, fakes.matches, asyncio.Lock())
    recheck = RecheckGained(fakes.state)
    recheck.check(rebuilt.other_model)

    assert rebuilt.other_model == ["m0"]
    assert await recheck.step() == 1
    assert [r.key for r in fakes.publisher.on(MATCHES)[published:]] == ["m0"]
    stored = await fakes.matches.get("m0")
    assert stored is not None
    assert stored.model_id == MODEL


async def test_a_gained_partition_leaves_the_members_the_background_owes_to_it() -> None:
    """During a refresh the background owes every member a scan and a list; the check of the
    partitions gained moves those to the front of the background's lists (it publishes the
    owned lists that changed) instead of ranking them a second time. A member not queued is
    checked at once."""
    publisher, matches = InMemoryPublisher(), MemoryMatchesStore()
    state = _replica(FakeOwner(0, 1), publisher, matches)
    first = _on_partitions(REPLICA_MEMBERS)
    for record in first:  # applied (as by the replay), no list published yet
        assert record.event is not None
        state.engine.apply(record.event, LogPosition(record.partition, record.offset))
    everyone = sorted(state.engine.members)
    unqueued = everyone[0]
    state.queue.rescan(everyone[1:])

    recheck = RecheckGained(state)
    recheck.gained({0, 1})
    published = await recheck.step()

    assert published == 1
    assert [r.key for r in publisher.on(MATCHES)] == [unqueued]
    assert state.queue.rescans == len(everyone) - 1, "the background still owes the rest"
    state.queue.relist(["later"])
    # ... and takes them first, at the pace of lists, not of a refresh's scans.
    assert state.queue.take(0, len(everyone)) == (everyone[1:], ["later"])


MANY_MEMBERS = [
    mentor_vectors(ME),
    mentor_vectors("mentor-2"),
    *(mentee_vectors(f"m{i}", i % 4) for i in range(10)),
]


def _ranking_batches(metrics: MatchingMetrics) -> float:
    """Calls of `publish_matches` that ranked something (one observation each)."""
    samples = [s for family in metrics.ranking_seconds.collect() for s in family.samples]
    return float(next(s.value for s in samples if s.name.endswith("_count")))


@pytest.mark.parametrize(
    ("waiting", "arriving", "published", "parts"),
    [(1, True, YIELD_EVERY, 1), (0, True, 10, 2), (0, False, 10, 1)],
)
async def test_a_chunk_of_relists_hands_the_lock_to_a_waiting_change_after_a_part(
    waiting: int, arriving: bool, published: int, parts: int
) -> None:
    """While changes arrive, the background publishes a chunk of relists in parts of
    `YIELD_EVERY`; with a batch of changes waiting for the lock it stops after the first part
    and puts the rest back at the front of the queue (ahead of what was already waiting), so
    the change waits for one part, not the whole chunk. Quiet, the chunk goes whole."""
    fakes = Fakes(*MANY_MEMBERS)
    await _refreshed(fakes.state)
    # 10 lists a step (200 a second, 50 ms steps): a chunk of 10, two more left queued.
    background = BackgroundRerank(fakes.state, per_s=1000, refresh_interval_s=0, relists_per_s=200)
    background._started = True  # the refresh at start is done (above)
    background._next_refresh = math.inf
    queued = sorted(fakes.engine.members)
    assert len(queued) == 12
    await fakes.matches.delete_many(queued)  # so each list ranked is published
    before = len(fakes.publisher.on(MATCHES))
    batches_before = _ranking_batches(fakes.metrics)
    fakes.state.queue.relist(queued)
    fakes.state.waiting.changes = waiting
    fakes.state.waiting.last_change_at = time.monotonic() if arriving else -math.inf

    await background.step()

    assert len(fakes.publisher.on(MATCHES)) - before == published
    assert _ranking_batches(fakes.metrics) - batches_before == parts, "in parts only if arriving"
    _, left = fakes.state.queue.take(0, len(queued))
    if waiting:
        assert background.yielded == 1
        assert left == queued[YIELD_EVERY:10] + queued[10:], "the rest first, in order"
    else:
        assert background.yielded == 0
        assert left == queued[10:], "the whole chunk, with nobody waiting"


async def test_a_batch_of_changes_counts_itself_waiting_only_until_it_holds_the_lock() -> None:
    fakes = Fakes(*MANY_MEMBERS)
    handler = MatchChangedMembers(fakes.state)
    await fakes.state.lock.acquire()  # the background holds it
    change = asyncio.create_task(handler(fakes.records(("m0", mentee_vectors("m0", 1)))))
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    assert fakes.state.waiting.changes == 1
    assert fakes.state.waiting.recent(time.monotonic(), 1.0)
    fakes.state.lock.release()
    await change
    assert fakes.state.waiting.changes == 0
    assert not fakes.state.lock.locked()

    await fakes.state.lock.acquire()
    cancelled = asyncio.create_task(handler(fakes.records(("m1", mentee_vectors("m1", 2)))))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert fakes.state.waiting.changes == 1
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert fakes.state.waiting.changes == 0, "a change cancelled while it waits is not counted"
    fakes.state.lock.release()
