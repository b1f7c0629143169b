"""Product health on the in-memory fakes: each member's bounded segment (region, hub), the
suggestion, feedback, introduction and first-suggestion counts by it through the real
handlers, and the gauge of members whose list is empty or stale."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from nnmatch.events import FeedbackAction, ProfileUpserted
from nnmatch.observability import Metrics
from nnmatch_notifications.handlers import EraseMembers, IntroduceMutualAccepts
from nnmatch_notifications.health import (
    HealthMetrics,
    MemoryHealthStore,
    Segment,
    SegmentedCounts,
    TrackLists,
    segment_of,
)
from tests.unit.builders import amina
from tests.unit.test_notifications_handlers import (
    NOW,
    World,
    both_accept,
    make_world,
    matches,
    record,
    suggestion,
)

TOP = frozenset({"yail-nairobi", "yail-accra"})


def test_a_members_segment_is_their_region_and_one_top_hub_or_other_or_none() -> None:
    assert segment_of(amina(country="KE", hubs=["yail-nairobi"]), TOP) == Segment(
        "Africa", "yail-nairobi"
    )
    assert segment_of(amina(country="FR", hubs=["club-x", "yail-accra"]), TOP) == Segment(
        "Europe", "yail-accra"
    )
    assert segment_of(amina(country="BR", hubs=["club-x"]), TOP) == Segment("Americas", "other")
    assert segment_of(amina(country="AQ", hubs=[]), TOP) == Segment("unknown", "none")
    assert Segment.decode(Segment("Asia", "other").encode()) == Segment("Asia", "other")


def _healthy(world: World) -> tuple[World, SegmentedCounts]:
    counts = SegmentedCounts(MemoryHealthStore(), HealthMetrics(world.metrics), TOP)
    adapters = dataclasses.replace(world.adapters, health=counts)
    return dataclasses.replace(world, adapters=adapters), counts


def _joined(member: str, country: str, hubs: list[str]) -> ProfileUpserted:
    return ProfileUpserted(
        producer="profiles",
        member_id=member,
        version=1,
        profile=amina(country=country, hubs=hubs),
        occurred_at=NOW,
    )


async def test_suggestions_feedback_and_introductions_are_counted_by_segment() -> None:
    world, _ = _healthy(make_world())
    await EraseMembers(world.adapters)(
        [record(_joined("ph-a", "KE", ["yail-nairobi"])), record(_joined("ph-b", "GH", ["x"]))]
    )

    await world.deliver()([record(matches("ph-a", suggestion("ph-b"), suggestion("ph-c")))])
    await world.deliver()([record(matches("ph-b", suggestion("ph-a")))])
    introduce = IntroduceMutualAccepts(world.adapters, world.handler_metrics)
    await introduce(both_accept("ph-a", "ph-b"))

    def sample(name: str, **labels: str) -> float:
        return world.sample(name, **labels)

    assert sample("nnmatch_segment_suggestions_total", region="Africa", hub="yail-nairobi") == 2
    assert sample("nnmatch_segment_suggestions_total", region="Africa", hub="other") == 1
    accepts = {"region": "Africa", "action": str(FeedbackAction.ACCEPT)}
    assert sample("nnmatch_segment_feedback_total", hub="yail-nairobi", **accepts) == 1
    assert sample("nnmatch_segment_feedback_total", hub="other", **accepts) == 1
    assert sample("nnmatch_segment_introductions_total", region="Africa", hub="other") == 1
    assert sample("nnmatch_segment_introductions_total", region="Africa", hub="yail-nairobi") == 1
    firsts = "nnmatch_segment_time_to_first_suggestion_seconds_count"
    assert sample(firsts, region="Africa", hub="yail-nairobi") == 1
    # A member never seen on profiles.v1 is counted, as unknown.
    await world.deliver()([record(matches("ph-new", suggestion("ph-a")))])
    assert sample("nnmatch_segment_suggestions_total", region="unknown", hub="none") == 1


async def test_the_gauge_counts_members_whose_latest_list_is_empty_or_stale() -> None:
    world, counts = _healthy(make_world())
    now = NOW.timestamp()
    track = TrackLists(counts, stale_s=timedelta(days=7).total_seconds(), clock=lambda: now)
    old = matches("ph-old", suggestion("ph-x")).model_copy(
        update={"occurred_at": NOW - timedelta(days=8)}
    )
    fresh = matches("ph-fresh", suggestion("ph-x")).model_copy(update={"occurred_at": NOW})
    emptied = matches("ph-empty").model_copy(update={"occurred_at": NOW})

    await track([record(old), record(fresh), record(emptied)])

    gauge = "nnmatch_members_without_fresh_list"
    assert world.sample(gauge, reason="empty") == 1
    assert world.sample(gauge, reason="stale") == 1
    refilled = matches("ph-empty", suggestion("ph-x")).model_copy(update={"occurred_at": NOW})
    await track([record(refilled)])
    assert world.sample(gauge, reason="empty") == 0


def test_the_communitys_series_exist_before_anything_happens() -> None:
    metrics = Metrics("notifications")
    HealthMetrics(metrics)

    text = metrics.registry.get_sample_value(
        "nnmatch_segment_suggestions_total", {"region": "Oceania", "hub": "none"}
    )
    assert text == 0.0
