"""Product health: whether matching works for members everywhere, not just on average.

Each member's segment is their region (UN M49, or `unknown`) and one hub: the first of their
hubs among the configured top hubs (`NNMATCH_HEALTH_TOP_HUBS`), else `other`, or `none`
without a hub. So every label set is bounded (6 regions × at most 22 hubs), whatever the
community writes. The segment is kept per member in Redis (`<prefix>segment:<m>`, erased with
the member) from profiles.v1, and the suggestion, feedback and introduction counters carry it.
The freshness of lists (`<prefix>list-at`, `<prefix>list-empty`) comes from matches.v1: the
gauge counts members whose latest list is empty or older than `NNMATCH_HEALTH_STALE_DAYS`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis

from nnmatch.events import FeedbackAction, MatchesComputed
from nnmatch.messaging import Inbound, Rejection
from nnmatch.observability import Metrics
from nnmatch.profile import MemberProfile
from nnmatch.regions import REGIONS, region_of

UNKNOWN_REGION = "unknown"
OTHER_HUB = "other"
NO_HUB = "none"
MAX_TOP_HUBS = 20
SEGMENT_REGIONS = (*REGIONS, UNKNOWN_REGION)


@dataclass(frozen=True)
class Segment:
    region: str
    hub: str

    def encode(self) -> str:
        return f"{self.region}|{self.hub}"

    @classmethod
    def decode(cls, raw: str) -> Segment:
        region, _, hub = raw.partition("|")
        return cls(region or UNKNOWN_REGION, hub or NO_HUB)


UNSEEN = Segment(UNKNOWN_REGION, NO_HUB)


def segment_of(profile: MemberProfile, top_hubs: frozenset[str]) -> Segment:
    region = region_of(profile.country) or UNKNOWN_REGION
    if not profile.hubs:
        return Segment(region, NO_HUB)
    tops = sorted(h for h in profile.hubs if h in top_hubs)
    return Segment(region, tops[0] if tops else OTHER_HUB)


def _erased_marker(prefix: str, member_id: str) -> str:
    """The inbox's erasure marker (store.py): a member erased within the day stays gone."""
    return f"{prefix}erased:{hashlib.sha1(member_id.encode()).hexdigest()}"  # noqa: S324


# KEYS: erased marker, segment key. ARGV: segment.
_PUT_SEGMENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# KEYS: erased marker, list-at, list-empty. ARGV: member, computed_at (s), empty (0/1).
_NOTE_LIST = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] == '1' then redis.call('SADD', KEYS[3], ARGV[1])
else redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
"""


class HealthStore:
    """Segments and list freshness in Redis (the inbox's erasure removes both)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self.list_at = f"{prefix}list-at"
        self.list_empty = f"{prefix}list-empty"
        self._put = redis.register_script(_PUT_SEGMENT)
        self._note = redis.register_script(_NOTE_LIST)

    def _segment_key(self, member_id: str) -> str:
        return f"{self._prefix}segment:{member_id}"

    async def put_segments(self, segments: Sequence[tuple[str, Segment]]) -> None:
        if not segments:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id, segment in segments:
                await self._put(
                    keys=[_erased_marker(self._prefix, member_id), self._segment_key(member_id)],
                    args=[segment.encode()],
                    client=pipe,
                )
            await pipe.execute()

    async def segments(self, member_ids: Sequence[str]) -> dict[str, Segment]:
        """Each member's segment; `unknown`/`none` for one not seen on profiles.v1 yet."""
        if not member_ids:
            return {}
        raws = await self._redis.mget([self._segment_key(m) for m in member_ids])
        return {
            m: Segment.decode(raw.decode() if isinstance(raw, bytes) else raw) if raw else UNSEEN
            for m, raw in zip(member_ids, raws, strict=True)
        }

    async def note_lists(self, lists: Sequence[tuple[str, float, bool]]) -> None:
        """(member, computed at in epoch seconds, empty) of each member's latest list."""
        if not lists:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id, at, empty in lists:
                await self._note(
                    keys=[_erased_marker(self._prefix, member_id), self.list_at, self.list_empty],
                    args=[member_id, at, 1 if empty else 0],
                    client=pipe,
                )
            await pipe.execute()

    async def without_fresh_list(self, stale_before: float) -> tuple[int, int]:
        """(members whose latest list is empty, members whose latest list is older)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.scard(self.list_empty)
            pipe.zcount(self.list_at, "-inf", f"({stale_before}")
            empty, stale = await pipe.execute()
        return int(empty), int(stale)


@dataclass
class MemoryHealthStore:
    """The same contract in dicts (no erasure marker: the unit tests erase nothing here)."""

    by_member: dict[str, Segment] = field(default_factory=dict)
    lists: dict[str, tuple[float, bool]] = field(default_factory=dict)

    async def put_segments(self, segments: Sequence[tuple[str, Segment]]) -> None:
        self.by_member.update(segments)

    async def segments(self, member_ids: Sequence[str]) -> dict[str, Segment]:
        return {m: self.by_member.get(m, UNSEEN) for m in member_ids}

    async def note_lists(self, lists: Sequence[tuple[str, float, bool]]) -> None:
        for member_id, at, empty in lists:
            self.lists[member_id] = (at, empty)

    async def without_fresh_list(self, stale_before: float) -> tuple[int, int]:
        empty = sum(e for _, e in self.lists.values())
        stale = sum(at < stale_before for at, _ in self.lists.values())
        return empty, stale


Health = HealthStore | MemoryHealthStore


class HealthMetrics:
    """The product-health series (bounded labels: see the module doc)."""

    def __init__(self, metrics: Metrics) -> None:
        labels = ["region", "hub"]
        self.suggestions = Counter(
            "nnmatch_segment_suggestions_total",
            "Suggestions added to inboxes, by the receiving member's region and hub.",
            labels,
            registry=metrics.registry,
        )
        self.feedback = Counter(
            "nnmatch_segment_feedback_total",
            "Members' reactions to suggestions, by their region and hub (acceptance rate = "
            "accept / suggestions).",
            [*labels, "action"],
            registry=metrics.registry,
        )
        self.introductions = Counter(
            "nnmatch_segment_introductions_total",
            "Members introduced after a mutual accept, each side counted in its own region "
            "and hub (mutual acceptance rate = introductions / accepts).",
            labels,
            registry=metrics.registry,
        )
        self.time_to_first_suggestion = Histogram(
            "nnmatch_segment_time_to_first_suggestion_seconds",
            "From a member's first profile to their first suggestion, by region and hub.",
            labels,
            buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400),
            registry=metrics.registry,
        )
        self.without_fresh_list = Gauge(
            "nnmatch_members_without_fresh_list",
            "Members whose latest list is empty, or older than NNMATCH_HEALTH_STALE_DAYS.",
            ["reason"],
            registry=metrics.registry,
        )
        for region in SEGMENT_REGIONS:  # the community's series exist from the start
            self.suggestions.labels(region, NO_HUB)
            self.introductions.labels(region, NO_HUB)
            for action in FeedbackAction:
                self.feedback.labels(region, NO_HUB, str(action))
        for reason in ("empty", "stale"):
            self.without_fresh_list.labels(reason)


class SegmentedCounts:
    """What the handlers call: look the members' segments up, then count."""

    def __init__(self, store: Health, metrics: HealthMetrics, top_hubs: Iterable[str]) -> None:
        self.store = store
        self.metrics = metrics
        self.top_hubs = frozenset(list(top_hubs)[:MAX_TOP_HUBS])

    async def record_profiles(self, profiles: Sequence[tuple[str, MemberProfile]]) -> None:
        await self.store.put_segments([(m, segment_of(p, self.top_hubs)) for m, p in profiles])

    async def suggested(self, added: Sequence[tuple[str, int]]) -> None:
        segments = await self.store.segments([m for m, _ in added])
        for member_id, count in added:
            s = segments[member_id]
            self.metrics.suggestions.labels(s.region, s.hub).inc(count)

    async def first_suggestions(self, waited: dict[str, float]) -> None:
        segments = await self.store.segments(sorted(waited))
        for member_id, seconds in waited.items():
            s = segments[member_id]
            self.metrics.time_to_first_suggestion.labels(s.region, s.hub).observe(seconds)

    async def feedback(self, member_id: str, action: FeedbackAction) -> None:
        s = (await self.store.segments([member_id]))[member_id]
        self.metrics.feedback.labels(s.region, s.hub, str(action)).inc()

    async def introduced(self, a: str, b: str) -> None:
        segments = await self.store.segments([a, b])
        for s in segments.values():
            self.metrics.introductions.labels(s.region, s.hub).inc()


class TrackLists:
    """matches.v1 → when each member's list was last computed, and whether it is empty."""

    def __init__(
        self, counts: SegmentedCounts, stale_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._counts = counts
        self._stale_s = stale_s
        self._clock = clock

    async def __call__(self, batch: list[Inbound[MatchesComputed]]) -> Sequence[Rejection]:
        latest: dict[str, MatchesComputed] = {}
        for record in batch:
            if record.event is not None:
                latest[record.event.member_id] = record.event
        await self._counts.store.note_lists(
            [(m, e.occurred_at.timestamp(), not e.suggestions) for m, e in latest.items()]
        )
        empty, stale = await self._counts.store.without_fresh_list(self._clock() - self._stale_s)
        self._counts.metrics.without_fresh_list.labels("empty").set(empty)
        self._counts.metrics.without_fresh_list.labels("stale").set(stale)
        return []
