"""The seam between the delivery scheduler and each way of reaching a member.

A channel sends one delivery: a few inbox items (one, or a digest) to one member, under an
idempotency key the receiver can use to drop a repeat. It raises `TransientFailure` for what a
retry may fix (time-outs, 5xx, connection refused) and `PermanentFailure` for what it cannot
(no address, unsafe URL); the scheduler retries the first with backoff and dead-letters both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nnmatch.contact import Channel, DeliverySettings
from nnmatch_notifications.inbox import InboxItem


class TransientFailure(RuntimeError):
    """A retry may succeed."""


class PermanentFailure(RuntimeError):
    """A retry cannot succeed; goes straight to the dead-letter topic."""


@dataclass(frozen=True)
class Delivery:
    """What one channel sends to one member at once."""

    member_id: str
    items: Sequence[InboxItem]
    key: str  # idempotency key: member + channel + candidates
    digest: bool  # several suggestions gathered for a daily/weekly member


class DeliveryChannel(Protocol):
    channel: Channel

    async def send(self, delivery: Delivery, settings: DeliverySettings) -> None: ...
