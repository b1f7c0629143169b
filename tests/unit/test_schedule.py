"""Quiet hours, digests and the daily cap in the member's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

from nnmatch.contact import Channel, Frequency, Preferences, QuietHours
from nnmatch_notifications.schedule import (
    delivery_key,
    due_time,
    end_of_quiet_hours,
    external_channels,
    in_quiet_hours,
    local_day,
    next_digest_time,
)

NAIROBI_NIGHT = QuietHours(start=time(22), end=time(7), tz="Africa/Nairobi")  # UTC+3


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)  # 23 Nov 2026 is a Monday


def test_quiet_hours_spanning_midnight_hold_until_local_morning() -> None:
    late = at(20)  # 23:00 in Nairobi
    assert in_quiet_hours(NAIROBI_NIGHT, late)
    assert end_of_quiet_hours(NAIROBI_NIGHT, late) == at(4, day=24)  # 07:00 local
    early = at(2, day=24)  # 05:00 local, same night
    assert end_of_quiet_hours(NAIROBI_NIGHT, early) == at(4, day=24)
    assert not in_quiet_hours(NAIROBI_NIGHT, at(10))  # 13:00 local
    assert end_of_quiet_hours(NAIROBI_NIGHT, at(10)) == at(10)


def test_a_daytime_window_and_an_empty_window() -> None:
    lunch = QuietHours(start=time(12), end=time(13), tz="UTC")
    assert in_quiet_hours(lunch, at(12, 30))
    assert not in_quiet_hours(lunch, at(13))
    assert not in_quiet_hours(QuietHours(start=time(9), end=time(9), tz="UTC"), at(9))


def test_instant_members_get_it_now_unless_asleep() -> None:
    quiet = Preferences(channels=[Channel.EMAIL], quiet_hours=NAIROBI_NIGHT)
    assert due_time(Preferences(channels=[Channel.EMAIL]), at(20)) == at(20)
    assert due_time(quiet, at(20)) == at(4, day=24)


def test_daily_and_weekly_digests_go_out_at_local_nine() -> None:
    daily = Preferences(frequency=Frequency.DAILY, quiet_hours=NAIROBI_NIGHT)
    assert next_digest_time(daily, at(5)) == at(6)  # 08:00 local → 09:00 local
    assert next_digest_time(daily, at(6)) == at(6, day=24)  # exactly 09:00 → tomorrow
    weekly = Preferences(frequency=Frequency.WEEKLY)
    assert next_digest_time(weekly, at(10)) == at(9, day=30)  # next Monday 09:00 UTC
    # A pending digest keeps its time; a passed one makes a new one.
    assert due_time(daily, at(5), digest_due=at(6)) == at(6)
    assert due_time(daily, at(7), digest_due=at(6)) == at(6, day=24)


def test_opted_out_members_get_nothing_outside_the_app() -> None:
    prefs = Preferences(channels=[Channel.IN_APP, Channel.EMAIL, Channel.WEBHOOK])
    assert external_channels(prefs) == [Channel.EMAIL, Channel.WEBHOOK]
    assert external_channels(prefs.model_copy(update={"opted_out": True})) == []
    assert external_channels(Preferences()) == []


def test_the_daily_cap_counts_the_members_own_day() -> None:
    prefs = Preferences(quiet_hours=NAIROBI_NIGHT)
    assert local_day(prefs, at(20)) == "2026-11-23"
    assert local_day(prefs, at(22)) == "2026-11-24"  # 01:00 in Nairobi
    assert local_day(Preferences(), at(22)) == "2026-11-23"


def test_the_delivery_key_depends_on_member_channel_and_candidates_not_order() -> None:
    key = delivery_key("m-1", Channel.EMAIL, ["m-2", "m-3"])
    assert key == delivery_key("m-1", Channel.EMAIL, ["m-3", "m-2"])
    assert key != delivery_key("m-1", Channel.WEBHOOK, ["m-2", "m-3"])
    assert key != delivery_key("m-1", Channel.EMAIL, ["m-2"])
