"""How a member wants to be reached: contact details and notification preferences.

Only the notifications service ever holds these (its HTTP API and its own compacted topic
`contacts.v1`); matching never sees them, and another member sees a contact detail only in a
double opt-in introduction, and only the ones listed in `share_in_introductions`.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
)

MAX_EMAIL = 254
MAX_URL = 2_000
MAX_DAILY_CAP = 50
_EMAIL = re.compile(
    r"^[^@\s<>\"(),;:]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Frequency(StrEnum):
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise ValueError("not an e-mail address like name@example.org")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _webhook_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("a webhook URL is https://host/path")
    if parts.username or parts.password:
        raise ValueError("a webhook URL must not carry credentials")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name like Africa/Nairobi"
        ) from exc
    if value not in available_timezones() and value != "UTC":
        raise ValueError(f"unknown time zone {value!r}: use an IANA name like Africa/Nairobi")
    return value


Email = Annotated[str, Field(max_length=MAX_EMAIL), AfterValidator(_email)]
WebhookUrl = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_webhook_url)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_timezone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactDetails(_Strict):
    """Body of `PUT /v1/members/{id}/contact`."""

    email: Email | None = None
    webhook_url: WebhookUrl | None = None
    share_in_introductions: list[Literal["email"]] = Field(default_factory=list, max_length=1)


class QuietHours(_Strict):
    """No e-mail or webhook between `start` and `end` local time (may span midnight)."""

    start: time
    end: time
    tz: TimeZone

    @field_validator("start", "end")
    @classmethod
    def _minutes_only(cls, value: time) -> time:
        return value.replace(second=0, microsecond=0, tzinfo=None)

    @field_serializer("start", "end")
    def _hh_mm(self, value: time) -> str:
        return value.strftime("%H:%M")


class Preferences(_Strict):
    """Body of `PUT /v1/members/{id}/preferences`; the defaults apply until a member sets it."""

    channels: list[Channel] = Field(default_factory=lambda: [Channel.IN_APP], max_length=3)
    frequency: Frequency = Frequency.INSTANT
    quiet_hours: QuietHours | None = None
    daily_cap: int = Field(default=5, ge=0, le=MAX_DAILY_CAP)
    opted_out: bool = False

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[Channel]) -> list[Channel]:
        return list(dict.fromkeys(channels))


class DeliverySettings(_Strict):
    """Everything notifications keeps per member: the value of `contacts.v1`.

    `webhook_secret_sealed` is the member's signing secret encrypted with the service's key:
    the log is the durable copy, and it never holds the secret in clear."""

    contact: ContactDetails = Field(default_factory=ContactDetails)
    preferences: Preferences = Field(default_factory=Preferences)
    webhook_secret_sealed: str | None = Field(default=None, max_length=500)
