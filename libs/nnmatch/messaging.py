"""Kafka wiring shared by every service: one broker factory, one publisher, one batch consumer.

Guarantees are set here explicitly because the library defaults are unsafe for us: aiokafka
produces with acks=1 and starts new groups at `latest`; FastStream subscribers default to
ACK_FIRST (commit on receipt). We produce with acks=all, start new groups at `earliest`, and
commit a batch only after its handler returned and its dead letters were acknowledged
(`AckPolicy.NACK_ON_ERROR`: a failing batch is rewound and redelivered).

A record that cannot be decoded never reaches a handler and never stalls its partition: it is
written to `<topic>.dlq` with the cause. Handlers see typed `Inbound` records.

Publishes go out in waves of a bounded size; a failed one says what was not acknowledged, and
`publish_until_acknowledged` sends that again, so work already done is not redone for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from nnmatch import kafka_clients
from nnmatch.events import (
    DeadLetter,
    E,
    Event,
    UndecodableRecord,
    check_key,
)
from nnmatch.member_keys import MemberKeys
from nnmatch.observability import Metrics
from nnmatch.publishing import EventPublisher
from nnmatch.settings import ServiceSettings
from nnmatch.shredding import open_events, seal_records
from nnmatch.topics import TopicSpec, dlq_name, ensure_topics, topic_name

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTENT_TYPE = "application/json"
MAX_BACKOFF_SECONDS = 30.0
TOPIC_CHECK_TIMEOUT_S = 10.0
# A dead letter carries at most this much of the original value (base64 grows it by a third).
MAX_DEAD_LETTER_VALUE_BYTES = 512 * 1024
MAX_DEAD_LETTER_TEXT = 2_000


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """The one Kafka broker of a service: acks=all, idempotence as configured, quiet logs.

    The producer is sized for `Publisher`'s waves (`kafka_publish_max_in_flight` records at
    most): batches large enough that a wave fills a few per partition, a short linger to fill
    them, and a request timeout that a wave's batches meet on a healthy broker.
    """
    kafka = settings.kafka()
    return kafka_clients.broker(
        kafka,
        client_id=kafka.client_id,
        acks="all",
        enable_idempotence=kafka.enable_idempotence,
        request_timeout_ms=kafka.request_timeout_ms,
        max_batch_size=kafka.max_batch_bytes,
        linger_ms=kafka.linger_ms,
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
    )


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1, 2, …): 0.5 s doubling, capped."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2.0 ** (attempt - 1))


class PublishIncomplete(Exception):
    """Some records were not acknowledged; `pending` is what to publish again.

    `pending` holds, in the order given, every record not acknowledged: the failed ones and
    all records after them of the same keys (never sent), so publishing it again keeps each
    key's order. A record that failed may still have been written (its acknowledgement was
    lost): publishing it again may duplicate it, never lose it.
    """

    def __init__(self, cause: BaseException, pending: Sequence[tuple[str, Event | None]]) -> None:
        super().__init__(
            f"{len(pending)} records not acknowledged: {type(cause).__name__}: {cause}"
        )
        self.cause = cause
        self.pending = list(pending)


async def publish_until_acknowledged(
    publisher: EventPublisher,
    spec: TopicSpec,
    items: Sequence[tuple[str, Event | None]],
    on_retry: Callable[[], None] | None = None,
) -> int:
    """Publish `items`, retrying what was not acknowledged until all is; the retries made.

    Between attempts a capped exponential backoff (`backoff_delay`); each retry is logged
    with the attempt and the error, and counted by `on_retry`. Stops only when everything is
    acknowledged or the task is cancelled (shutdown): for work that is already done and must
    not be redone (a ranking), a failed publish is retried, not the work.
    """
    pending = list(items)
    attempt = 0
    while True:
        try:
            await publisher.publish_many(spec, pending)
            return attempt
        except PublishIncomplete as exc:
            pending, error = exc.pending, exc.cause
        except Exception as exc:  # nothing is known to be acknowledged: all again
            error = exc
        attempt += 1
        delay = backoff_delay(attempt)
        if on_retry is not None:
            on_retry()
        log.warning(
            "publish failed; retrying what was not acknowledged",
            extra={
                "topic": publisher.topic(spec),
                "attempt": attempt,
                "error": f"{type(error).__name__}: {error}",
                "pending": len(pending),
                "retry_in_s": delay,
            },
        )
        await asyncio.sleep(delay)


@dataclass(frozen=True)
class Inbound(Generic[E]):
    """A decoded record with where it came from; `event is None` is a tombstone."""

    key: str | None
    event: E | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


def latest_per_key(batch: Sequence[Inbound[E]]) -> list[Inbound[E]]:
    """The last record of each key in a batch, in the order of those last records: of a
    compacted topic's records only the latest state of a key matters. Keyless ones go."""
    latest: dict[str, Inbound[E]] = {}
    for record in batch:
        if record.key is not None:
            latest.pop(record.key, None)
            latest[record.key] = record
    return list(latest.values())


@dataclass(frozen=True)
class Rejection:
    """A record a handler refuses for a reason of its own (domain error): dead-lettered."""

    record: Inbound[Any]
    reason: str


async def start_broker(broker: KafkaBroker) -> None:
    """Connect, then start every subscriber not yet running, all at once.

    Each subscriber's start waits until its consumer group has assigned it partitions, which
    takes seconds per group (the broker's rebalance delay); one after another, a service with
    five groups needed half a minute to become ready. Safe to call again after a failure: the
    subscribers already running are skipped, and those that failed are stopped first.
    """
    await broker.connect()
    waiting = [sub for sub in broker.subscribers if not sub.running]
    results = await asyncio.gather(*(sub.start() for sub in waiting), return_exceptions=True)
    failed = [(sub, r) for sub, r in zip(waiting, results, strict=True) if r is not None]
    for sub, _ in failed:
        with contextlib.suppress(Exception):
            await sub.stop()  # closes a consumer that was half started
    if failed:
        raise failed[0][1]
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


class Publisher:
    """Publishes events and tombstones, awaiting the broker's acknowledgement of each.

    Personal fields leave sealed under their members' keys (`nnmatch.shredding`); a derived
    record of a member erased meanwhile is not written at all.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        metrics: Metrics,
        *,
        keys: MemberKeys,
    ) -> None:
        self._broker = broker
        self.keys = keys
        self.seal = settings.kafka_seal_events
        self._kafka = settings.kafka()
        self._metrics = metrics
        self.service = settings.service_name
        self._topics_verified = True  # start-up ensured them before the broker started

    def topics_unverified(self) -> None:
        """Make the next publish check (and re-create) the topics first."""
        self._topics_verified = False

    async def publish(self, spec: TopicSpec, key: str, event: Event | None) -> None:
        await self.publish_many(spec, [(key, event)])

    async def publish_many(
        self, spec: TopicSpec, items: Sequence[tuple[str, Event | None]]
    ) -> None:
        """Send all, then wait for every acknowledgement; raise if any failed."""
        await self._publish_to(topic_name(spec, self._kafka), items)

    def topic(self, spec: TopicSpec) -> str:
        """The physical name of `spec` in this deployment (with its prefix)."""
        return topic_name(spec, self._kafka)

    async def dead_letter(self, spec: TopicSpec, letters: Sequence[DeadLetter]) -> None:
        await self._publish_to(dlq_name(spec, self._kafka), [(d.key or "", d) for d in letters])

    async def _publish_to(self, topic: str, items: Sequence[tuple[str, Event | None]]) -> None:
        if not self._topics_verified:
            # After a failure the broker may have come back empty (an in-memory broker, a
            # wiped cluster): write only once the topics exist with their configuration, or
            # the record lands in an auto-created topic, or (Tansu) nowhere, yet is acked.
            async with asyncio.timeout(TOPIC_CHECK_TIMEOUT_S):
                await ensure_topics(self._kafka)
            self._topics_verified = True
        try:
            await self._send_waves(topic, items)
        except Exception:
            self._topics_verified = False
            raise

    async def _send_waves(self, topic: str, items: Sequence[tuple[str, Event | None]]) -> None:
        """Send wave after wave, each awaited in full; on a failure, stop and raise
        `PublishIncomplete` with what was not acknowledged.

        A wave holds at most `publish_max_in_flight` records, so the producer never holds more
        than that at once: thousands of records sent together outwait the request timeout in
        the producer's buffer, and all fail together.
        """
        events = [e for _, e in items if e is not None]
        records = iter(await seal_records(self.keys, events, seal=self.seal))
        encoded = [(key, next(records) if event is not None else None) for key, event in items]
        indexed = [
            (key, (index, record))
            for index, (key, record) in enumerate(encoded)
            if record is not None or items[index][1] is None  # None from sealing: erased
        ]
        waves = _waves(indexed, self._kafka.publish_max_in_flight)
        for number, wave in enumerate(waves):
            sends = [
                self._broker.publish(
                    None if record is None else record.value,
                    topic,
                    key=key.encode("utf-8"),
                    headers=None
                    if record is None
                    else {"content-type": CONTENT_TYPE, **record.headers},
                )
                for key, (_, record) in wave
            ]
            results = await asyncio.gather(*sends, return_exceptions=True)
            errors = [
                (index, result)
                for (_, (index, _)), result in zip(wave, results, strict=True)
                if isinstance(result, BaseException)
            ]
            self._metrics.produced.labels(topic).inc(len(wave) - len(errors))
            if errors:
                self._metrics.produce_failures.labels(topic).inc(len(errors))
                again = {index for index, _ in errors}
                again.update(index for later in waves[number + 1 :] for _, (index, _) in later)
                pending = [item for index, item in enumerate(items) if index in again]
                raise PublishIncomplete(errors[0][1], pending) from errors[0][1]


def _waves(
    items: Sequence[tuple[str, T]], max_in_flight: int | None = None
) -> list[list[tuple[str, T]]]:
    """Split into rounds with each key at most once, so records of one key keep their order,
    and at most `max_in_flight` records a round (None: no bound)."""
    levels: list[list[tuple[str, T]]] = []
    depth: dict[str, int] = {}
    for key, value in items:
        level = depth.get(key, 0)
        depth[key] = level + 1
        if level == len(levels):
            levels.append([])
        levels[level].append((key, value))
    if max_in_flight is None:
        return levels
    return [
        level[start : start + max_in_flight]
        for level in levels
        for start in range(0, len(level), max_in_flight)
    ]


def _dead_letter_for(record: Any, error: str, group: str, service: str) -> DeadLetter:
    """The envelope for `record`, small enough for the broker's default 1 MB record limit.

    A value past `MAX_DEAD_LETTER_VALUE_BYTES` is kept in part (`value_truncated`, with its
    size): an envelope the broker refuses would fail the batch forever and stall the partition.
    """
    value: bytes | None = record.value
    key: bytes | None = record.key
    kept = value[:MAX_DEAD_LETTER_VALUE_BYTES] if value is not None else None
    truncated = value is not None and len(value) > MAX_DEAD_LETTER_VALUE_BYTES
    return DeadLetter(
        producer=service,
        original_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=_clip(key.decode("utf-8", errors="replace"), MAX_DEAD_LETTER_TEXT)
        if key is not None
        else None,
        value_b64=base64.b64encode(kept).decode("ascii") if kept is not None else None,
        value_bytes=len(value) if truncated and value is not None else None,
        value_truncated=truncated,
        error=_clip(error, MAX_DEAD_LETTER_TEXT),
        consumer_group=group,
    )


def _applied(already_applied: AlreadyApplied | None, record: Any) -> bool:
    if already_applied is None or record.value is None or record.key is None:
        return False
    key = record.key.decode("utf-8", errors="replace")
    return already_applied(key, record.partition, record.offset)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


BatchHandler = Callable[[list[Inbound[E]]], Awaitable[Sequence[Rejection] | None]]
AlreadyApplied = Callable[[str, int, int], bool]
"""(key, partition, offset) → True for a record whose event the handler already holds (a
replay at start read it): it is committed without being opened or decoded."""


@dataclass
class ConsumerState:
    """What readiness needs to know about one subscriber."""

    group: str
    topic: str
    consecutive_failures: int = 0
    last_error: str | None = None
    # Partitions whose lag this process reports, so a rebalance can retire their series.
    lag_partitions: set[tuple[str, int]] = field(default_factory=set)


def subscribe_batches(
    broker: KafkaBroker,
    publisher: Publisher,
    settings: ServiceSettings,
    metrics: Metrics,
    spec: TopicSpec,
    group: str,
    handler: BatchHandler[E],
    *,
    max_records: int = 256,
    batch_timeout_ms: int = 200,
    already_applied: AlreadyApplied | None = None,
) -> ConsumerState:
    """Register `handler` for batches of `spec`'s events under consumer group `group`.

    Decode → dead-letter the undecodable → handler → dead-letter its rejections → commit.
    If the handler raises, nothing is committed and the batch is redelivered after a capped
    exponential backoff, so an outage (Redis down) neither loses records nor spins.
    Records `already_applied` says the handler holds (keyed, not tombstones) are counted
    (outcome `already_applied`) and committed, not decoded: a matcher's group consumer
    re-reads the 55,000 records its replay at start applied, and opening and validating each
    one's vectors again cost it a core for minutes.
    """
    kafka = settings.kafka()
    topic = topic_name(spec, kafka)
    state = ConsumerState(group=group, topic=topic)
    subscriber = broker.subscriber(
        topic,
        group_id=group,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )

    async def raw_records(message: Any, _original: Any = None) -> Any:
        # Keep FastStream from JSON-decoding bodies: a bad record must reach our DLQ step.
        return list(message.raw_message)

    @subscriber(decoder=raw_records)
    async def consume(body: Any, message: KafkaMessage) -> None:
        records: tuple[Any, ...] = cast(tuple[Any, ...], message.raw_message)
        if not records:
            return
        started = time.perf_counter()
        try:  # opening needs the key store: its outage is retried like a handler's
            good: list[Inbound[E]] = []
            letters: list[DeadLetter] = []
            tombstones = erased = 0
            fresh = [r for r in records if not _applied(already_applied, r)]
            skipped = len(records) - len(fresh)
            valued = [r for r in fresh if r.value is not None]
            opened = iter(await open_events(publisher.keys, [r.value for r in valued], spec.events))
            for record in fresh:
                key = (
                    record.key.decode("utf-8", errors="replace") if record.key is not None else None
                )
                if record.value is None:
                    if spec.compacted and key:
                        good.append(
                            Inbound(
                                key,
                                None,
                                record.topic,
                                record.partition,
                                record.offset,
                                record.timestamp,
                            )
                        )
                        tombstones += 1
                    else:
                        letters.append(
                            _dead_letter_for(
                                record,
                                "null value on a non-compacted topic or without a key",
                                group,
                                publisher.service,
                            )
                        )
                    continue
                event = next(opened)
                if event is None:
                    erased += 1  # its member's key is gone: the record is as good as deleted
                    continue
                try:
                    if isinstance(event, UndecodableRecord):
                        raise event
                    check_key(key, event)
                except UndecodableRecord as exc:
                    letters.append(_dead_letter_for(record, str(exc), group, publisher.service))
                    continue
                good.append(
                    Inbound(
                        key,
                        cast(E, event),
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp,
                    )
                )
            rejections = (await handler(good)) if good else None
            for rejection in rejections or ():
                raw = next(
                    r
                    for r in records
                    if r.offset == rejection.record.offset
                    and r.partition == rejection.record.partition
                )
                letters.append(_dead_letter_for(raw, rejection.reason, group, publisher.service))
            await publisher.dead_letter(spec, letters)
        except Exception as exc:
            state.consecutive_failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            metrics.handler_failures.labels(topic, group).inc()
            delay = backoff_delay(state.consecutive_failures)
            log.error(
                "batch failed; it will be redelivered",
                extra={
                    "topic": topic,
                    "group": group,
                    "error": state.last_error,
                    "retry_in_s": delay,
                    "records": len(records),
                },
            )
            await _report_lag(message, state, metrics)  # a stuck consumer's lag keeps growing
            await asyncio.sleep(delay)
            raise
        state.consecutive_failures = 0
        state.last_error = None
        for outcome, count in (
            ("ok", len(good) - tombstones),
            ("already_applied", skipped),
            ("tombstone", tombstones),
            ("erased", erased),
            ("dead_letter", len(letters)),
        ):
            if count:
                metrics.consumed.labels(topic, group, outcome).inc(count)
        metrics.batch_size.labels(topic, group).observe(len(records))
        metrics.handler_seconds.labels(topic, group).observe(time.perf_counter() - started)
        if letters:
            log.warning(
                "records dead-lettered",
                extra={
                    "topic": topic,
                    "group": group,
                    "count": len(letters),
                    "first_error": letters[0].error,
                },
            )
        await _report_lag(message, state, metrics)

    return state


async def _report_lag(message: KafkaMessage, state: ConsumerState, metrics: Metrics) -> None:
    """Lag from the consumer's own view (high-water minus position): no admin API needed.

    Partitions this process no longer owns lose their series, so a rebalance never leaves a
    frozen value behind to be counted twice."""
    consumer: Any = message.consumer
    group = state.group
    try:
        assignment: set[TopicPartition] = consumer.assignment()
    except Exception:
        return
    owned = {(tp.topic, tp.partition) for tp in assignment}
    for topic, partition in state.lag_partitions - owned:
        with contextlib.suppress(KeyError):
            metrics.lag.remove(topic, str(partition), group)
    state.lag_partitions = owned
    for tp in assignment:
        high = consumer.highwater(tp)
        if high is not None:
            lag = max(0, high - await consumer.position(tp))
            metrics.lag.labels(tp.topic, str(tp.partition), group).set(lag)
