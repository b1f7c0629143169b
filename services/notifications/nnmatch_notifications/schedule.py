"""When a member may be sent something: quiet hours, digests and the daily cap, in their zone.

Pure functions of the preferences and a clock, so every rule is tested without Redis or time
passing. Times in, times out are aware UTC datetimes; local reasoning uses the member's zone
(the quiet-hours zone, else UTC).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nnmatch.contact import Channel, Frequency, Preferences, QuietHours

DIGEST_LOCAL_TIME = time(9, 0)
WEEKLY_DIGEST_WEEKDAY = 0  # Monday
EXTERNAL_CHANNELS = (Channel.EMAIL, Channel.WEBHOOK)


def member_zone(preferences: Preferences) -> ZoneInfo:
    return ZoneInfo(preferences.quiet_hours.tz if preferences.quiet_hours else "UTC")


def in_quiet_hours(quiet: QuietHours, at: datetime) -> bool:
    """Whether `at` falls inside the window (which may span midnight; start == end: never)."""
    local = at.astimezone(ZoneInfo(quiet.tz)).time().replace(tzinfo=None)
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def end_of_quiet_hours(quiet: QuietHours, at: datetime) -> datetime:
    """The first moment at or after `at` outside the window."""
    if not in_quiet_hours(quiet, at):
        return at
    zone = ZoneInfo(quiet.tz)
    local = at.astimezone(zone)
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    return end.astimezone(UTC)


def next_digest_time(preferences: Preferences, at: datetime) -> datetime:
    """The next local digest time (daily, or Monday for weekly) strictly after `at`."""
    zone = member_zone(preferences)
    local = at.astimezone(zone)
    candidate = datetime.combine(local.date(), DIGEST_LOCAL_TIME, tzinfo=zone)
    while candidate <= local or (
        preferences.frequency is Frequency.WEEKLY and candidate.weekday() != WEEKLY_DIGEST_WEEKDAY
    ):
        candidate = datetime.combine(
            candidate.date() + timedelta(days=1), DIGEST_LOCAL_TIME, tzinfo=zone
        )
    return candidate.astimezone(UTC)


def external_channels(preferences: Preferences) -> list[Channel]:
    """The channels that send something out of the app (nothing when opted out)."""
    if preferences.opted_out:
        return []
    return [c for c in preferences.channels if c in EXTERNAL_CHANNELS]


def due_time(
    preferences: Preferences, at: datetime, digest_due: datetime | None = None
) -> datetime:
    """When suggestions that arrived at `at` go out: now for instant members (after quiet
    hours), at the pending digest's time for digest members (a new digest otherwise)."""
    if preferences.frequency is Frequency.INSTANT:
        send = at
    else:
        send = (
            digest_due
            if digest_due is not None and digest_due > at
            else next_digest_time(preferences, at)
        )
    if preferences.quiet_hours is not None:
        send = end_of_quiet_hours(preferences.quiet_hours, send)
    return send


def local_day(preferences: Preferences, at: datetime) -> str:
    """The member's calendar day at `at`: the unit of the daily cap."""
    return at.astimezone(member_zone(preferences)).date().isoformat()


def next_local_midnight(preferences: Preferences, at: datetime) -> datetime:
    zone = member_zone(preferences)
    local = at.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def delivery_key(member_id: str, channel: Channel, candidate_ids: Iterable[str]) -> str:
    """The idempotency key of one delivery: the member, the channel and the candidates."""
    material = "\n".join([member_id, str(channel), *sorted(candidate_ids)])
    return hashlib.sha256(material.encode()).hexdigest()[:32]
