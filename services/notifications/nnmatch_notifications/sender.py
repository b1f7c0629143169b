"""The delivery scheduler: sends what is due by e-mail and webhook, with retries, caps and DLQ.

A loop in the notifications service looks at the `due` schedule every tick and delivers each
due member in its own task (bounded concurrency), so one slow or failing receiver never holds
up another member. Per member: quiet hours and the daily cap are checked again at send time
(preferences may have changed), each channel is sent once per idempotency key, transient
failures are retried with exponential backoff and jitter, and a delivery that still fails goes
to `deliveries.v1.dlq` with the cause (re-drive: `nnmatch dlq redrive deliveries.v1`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from nnmatch.contact import Channel, DeliverySettings, Frequency
from nnmatch.events import DeadLetter, DeliveryItem, DeliveryRequested
from nnmatch.member_keys import MemberKeys
from nnmatch.observability import Metrics
from nnmatch.publishing import EventPublisher
from nnmatch.shredding import seal_events
from nnmatch.topics import DELIVERIES
from nnmatch_notifications.channels import (
    Delivery,
    DeliveryChannel,
    PermanentFailure,
    TransientFailure,
)
from nnmatch_notifications.delivery_state import DeliveryStates
from nnmatch_notifications.inbox import InboxItem
from nnmatch_notifications.outbox import Claimed, Outbox
from nnmatch_notifications.schedule import (
    delivery_key,
    end_of_quiet_hours,
    external_channels,
    in_quiet_hours,
    local_day,
    next_local_midnight,
)

log = logging.getLogger(__name__)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
OUTCOMES = ("delivered", "failed", "retried", "dead_lettered", "held")


class DeliveryMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.outcomes = Counter(
            "nnmatch_deliveries_total",
            "Deliveries outside the app by channel and outcome (retried counts attempts; "
            "held: quiet hours or the daily cap moved them later).",
            ["channel", "outcome"],
            registry=metrics.registry,
        )
        for channel in (Channel.EMAIL, Channel.WEBHOOK):
            for outcome in OUTCOMES:
                self.outcomes.labels(str(channel), outcome)
        self.backlog = Gauge(
            "nnmatch_delivery_backlog_members",
            "Members with deliveries waiting (digests until their send time, instant briefly).",
            registry=metrics.registry,
        )
        self.pipeline_latency = metrics.pipeline_latency


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 30.0


class DeliveryScheduler:
    """Sends what the outbox says is due; `start` runs the loop in the background, `stop`
    ends it and the deliveries under way (their leases expire, so nothing is lost)."""

    def __init__(
        self,
        outbox: Outbox,
        settings_of: Callable[[str], Awaitable[DeliverySettings]],
        channels: Mapping[Channel, DeliveryChannel],
        publisher: EventPublisher,
        metrics: DeliveryMetrics,
        clock: Callable[[], datetime],
        *,
        retry: RetryPolicy,
        tick_s: float,
        keys: MemberKeys,
        seal: bool = True,
        concurrency: int = 16,
        delivered_ttl_s: int = 30 * 86_400,
        states: DeliveryStates | None = None,
    ) -> None:
        self._outbox = outbox
        self._settings_of = settings_of
        self._channels = channels
        self._publisher = publisher
        self._keys = keys
        self._seal = seal
        self._metrics = metrics
        self._clock = clock
        self._retry = retry
        self._limit = asyncio.Semaphore(concurrency)
        self._tick_s = tick_s
        self._delivered_ttl_s = delivered_ttl_s
        self._states = states
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the background loop is on."""
        return self._loop is not None and not self._loop.done()

    async def start(self) -> None:
        """Run the loop in the background (a start hook: returns at once)."""
        if not self.running:
            self._loop = asyncio.create_task(self.run(), name="delivery scheduler")

    async def run(self) -> None:
        """Until cancelled: every tick, start a task for each due member not already going."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: wait and try again, never spin
                log.warning("delivery tick failed", extra={"error": repr(exc)})
                await asyncio.sleep(min(5.0, self._tick_s * 10))
            await asyncio.sleep(self._tick_s)

    async def tick(self) -> None:
        self._metrics.backlog.set(await self._outbox.backlog())
        for member_id in await self._outbox.due_members(self._clock(), limit=200):
            if member_id in self._running:
                continue
            self._running.add(member_id)
            task = asyncio.create_task(self._guarded(member_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """End the loop, then the deliveries under way; safe to call when never started."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _guarded(self, member_id: str) -> None:
        try:
            async with self._limit:
                await self.deliver(member_id)
        except Exception as exc:  # the lease expires and the next claim sends it again
            log.warning(
                "delivery failed; will retry after the lease", extra={"error": type(exc).__name__}
            )
        finally:
            self._running.discard(member_id)

    async def deliver(self, member_id: str) -> None:
        claimed = await self._outbox.claim(member_id)
        if claimed is None:
            return
        settings = await self._settings_of(member_id)
        preferences = settings.preferences
        channels = [c for c in external_channels(preferences) if c in self._channels]
        now = self._clock()
        if not channels or not claimed.items:
            await self._outbox.finish(claimed)  # opted out, or in-app only: nothing to send
            return
        if preferences.quiet_hours and in_quiet_hours(preferences.quiet_hours, now):
            await self._hold(
                claimed, claimed.items, end_of_quiet_hours(preferences.quiet_hours, now), channels
            )
            return
        day = local_day(preferences, now)
        allowed = preferences.daily_cap - await self._outbox.sent_on(member_id, day)
        if allowed <= 0:
            await self._hold(
                claimed, claimed.items, next_local_midnight(preferences, now), channels
            )
            return
        chosen, held = claimed.items[:allowed], claimed.items[allowed:]
        digest = preferences.frequency is not Frequency.INSTANT or len(chosen) > 1
        for channel in channels:
            # Kind and candidate: an introduction to someone once suggested is a new delivery.
            key = delivery_key(
                member_id, channel, [f"{i.kind}:{i.suggestion.member_id}" for i in chosen]
            )
            if await self._outbox.was_delivered(key):
                continue
            await self._send(channel, Delivery(member_id, chosen, key, digest), settings)
        await self._outbox.count_sent(member_id, day, len(chosen))
        if held:
            await self._hold(claimed, held, next_local_midnight(preferences, now), channels)
        else:
            await self._outbox.finish(claimed)

    async def _hold(
        self, claimed: Claimed, items: list[InboxItem], until: datetime, channels: list[Channel]
    ) -> None:
        for channel in channels:
            self._metrics.outcomes.labels(str(channel), "held").inc(len(items))
        await self._outbox.finish(claimed, hold=items, until=until)

    async def _send(self, channel: Channel, delivery: Delivery, settings: DeliverySettings) -> None:
        sender = self._channels[channel]
        outcomes = self._metrics.outcomes
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._retry.attempts),
                wait=wait_exponential_jitter(
                    multiplier=self._retry.initial_s,
                    max=self._retry.max_s,
                    jitter=self._retry.initial_s,  # up to one first wait more, at random
                ),
                retry=retry_if_exception_type(TransientFailure),
                reraise=False,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        outcomes.labels(str(channel), "retried").inc()
                    await sender.send(delivery, settings)
        except (RetryError, PermanentFailure) as exc:
            cause = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
            outcomes.labels(str(channel), "failed").inc()
            await self._dead_letter(channel, delivery, f"{type(cause).__name__}: {cause}")
            if self._states is not None:
                await self._states.failed(
                    delivery.member_id, channel, self._clock(), f"{type(cause).__name__}: {cause}"
                )
            return
        await self._outbox.mark_delivered(delivery.key, self._delivered_ttl_s)
        if self._states is not None:
            await self._states.delivered(delivery.member_id, channel, self._clock())
        outcomes.labels(str(channel), "delivered").inc()
        finished = time.time()
        latency = self._metrics.pipeline_latency.labels(f"delivered_{channel}")
        for item in delivery.items:
            latency.observe(max(0.0, finished - item.suggestion.computed_at.timestamp()))

    async def _dead_letter(self, channel: Channel, delivery: Delivery, error: str) -> None:
        request = DeliveryRequested(
            producer=self._publisher.service,
            member_id=delivery.member_id,
            channel=channel,
            items=[
                DeliveryItem(
                    item_id=i.item_id,
                    kind=i.kind.value,
                    suggestion=i.suggestion,
                    shared_email=i.shared_email,
                )
                for i in delivery.items
            ],
        )
        # The kept request is sealed as on a topic: each introduced member's card and address
        # under their own key, so erasing them blanks it here too.
        [raw] = await seal_events(self._keys, [request], seal=self._seal)
        if raw is None:
            log.info("delivery dropped: its member was erased", extra={"channel": str(channel)})
            return
        letter = DeadLetter(
            producer=self._publisher.service,
            original_topic=self._publisher.topic(DELIVERIES),
            partition=-1,
            offset=-1,
            key=delivery.member_id,
            value_b64=base64.b64encode(raw).decode("ascii"),
            error=_EMAIL.sub("<address>", error)[:2000],
            consumer_group="nnmatch-delivery",
        )
        await self._publisher.dead_letter(DELIVERIES, [letter])
        self._metrics.outcomes.labels(str(channel), "dead_lettered").inc()
        log.warning(  # the cause stays in the dead letter: it may name an address
            "delivery dead-lettered", extra={"channel": str(channel), "items": len(delivery.items)}
        )
