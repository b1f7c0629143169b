"""Re-drive dead letters: put records from `<topic>.dlq` back on `<topic>` after a fix.

Pure part (no I/O): `resolve_topic` turns a contract name into its `TopicSpec`; `plan` decodes
one DLQ record into what to publish (the original key and raw value) or why it must stay put;
`describe` makes the operator's view of a dead letter, which never includes the raw value (it
may hold personal data).

Kafka adapter: `backlog`, `peek` and `tail` read the DLQ without joining the consumer group;
`redrive` joins the group `nnmatch-dlq-redrive`, re-publishes each record with an acks=all
producer and commits the record's offset only after the broker acknowledged the copy. An
interrupted run resumes after the last committed dead letter, so none is re-driven twice; the
one window left is a crash between the acknowledgement and the commit of the same record, and
then the re-published event keeps its original `event_id`, so consumers' de-duplication holds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from redis.asyncio import Redis

from nnmatch import kafka_clients
from nnmatch.events import DeadLetter, UndecodableRecord, decode_event, encode_event
from nnmatch.member_keys import MemberKeys, RedisMemberKeys
from nnmatch.settings import ServiceSettings
from nnmatch.shredding import open_events
from nnmatch.topics import ALL_TOPICS, TopicSpec, dlq_name, topic_name

REDRIVE_GROUP = "nnmatch-dlq-redrive"
# Set on every re-published record: where it came from (`<dlq topic>/<partition>/<offset>`).
REDRIVEN_FROM_HEADER = "nnmatch-redriven-from"
BROKER_HINT = "is the broker up? `nnmatch dev up`"
MAX_SHOWN_ERROR = 200
JOIN_TIMEOUT_S = 60.0
_CLIPPED = re.compile(r"… \(\d+ characters\)$")


class RedriveError(Exception):
    """A re-drive that cannot go on; the message names the fix."""


# --------------------------------------------------------------------------- pure part


def resolve_topic(name: str) -> TopicSpec:
    """The spec of contract topic `name` (e.g. `matches.v1`); `RedriveError` naming the valid."""
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    valid = ", ".join(spec.name for spec in ALL_TOPICS)
    hint = ""
    if name.endswith(".dlq"):
        hint = f" (name the original topic, not its dead-letter topic: {name.removesuffix('.dlq')})"
    elif "." in name and any(name.endswith(spec.name) for spec in ALL_TOPICS):
        hint = " (give the contract name; the prefix comes from NNMATCH_TOPIC_PREFIX)"
    raise RedriveError(f"unknown topic {name!r}{hint}; topics are: {valid}")


@dataclass(frozen=True)
class DlqRecord:
    """One record as read from a `.dlq` topic, its envelope opened (`open_letters`).

    `erased`: the envelope was sealed under a member key that is gone; nothing to re-drive.
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    erased: bool = False


@dataclass(frozen=True)
class Republish:
    """What to put back on the original topic: the original key and the original raw bytes."""

    key: bytes | None
    value: bytes
    letter: DeadLetter


@dataclass(frozen=True)
class Skip:
    """A dead letter that cannot be re-driven and stays where it is, with the reason."""

    reason: str
    letter: DeadLetter | None = None


def plan(record: DlqRecord, target_topic: str) -> Republish | Skip:
    """Decode a DLQ record into what to publish on `target_topic`, or why not to."""
    if record.erased:
        return Skip("its member was erased; the sealed value no longer opens")
    if record.value is None:
        return Skip("empty record, not a dead-letter envelope")
    try:
        letter = decode_event(record.value, (DeadLetter,))
    except UndecodableRecord as exc:
        return Skip(f"undecodable envelope: {exc}")
    if letter.original_topic != target_topic:
        return Skip(f"envelope names topic {letter.original_topic!r}, not {target_topic!r}", letter)
    if letter.value_truncated:
        size = f" of {letter.value_bytes} bytes" if letter.value_bytes else ""
        return Skip(f"the value{size} was cut when dead-lettered; it cannot be restored", letter)
    if letter.value_b64 is None:
        return Skip("the original record had no value; there is nothing to re-publish", letter)
    try:
        value = base64.b64decode(letter.value_b64, validate=True)
    except binascii.Error as exc:
        return Skip(f"undecodable envelope: value_b64 is not base64 ({exc})", letter)
    key: bytes | None = None
    if letter.key is not None:
        if _CLIPPED.search(letter.key) or "\ufffd" in letter.key:
            return Skip("the key was cut or was not UTF-8 when dead-lettered", letter)
        key = letter.key.encode("utf-8")
    return Republish(key, value, letter)


@dataclass(frozen=True)
class LetterRow:
    """A dead letter as an operator sees it; the raw value is never part of it."""

    dlq_partition: int
    dlq_offset: int
    original_partition: int | None
    original_offset: int | None
    key: str | None
    error: str
    service: str | None
    time: datetime | None
    state: str  # pending | re-driven | skipped, relative to the re-drive group's position


def describe(record: DlqRecord, target_topic: str, committed: int | None) -> LetterRow:
    """The row for `record`; `committed` is the group's next offset on its partition."""
    outcome = plan(record, target_topic)
    letter = outcome.letter
    if committed is None or record.offset >= committed:
        state = "pending"
    else:
        state = "re-driven" if isinstance(outcome, Republish) else "skipped"
    if letter is not None:
        error = letter.error
    else:
        error = outcome.reason if isinstance(outcome, Skip) else ""
    return LetterRow(
        dlq_partition=record.partition,
        dlq_offset=record.offset,
        original_partition=letter.partition if letter else None,
        original_offset=letter.offset if letter else None,
        key=letter.key if letter else None,
        error=_shorten(error, MAX_SHOWN_ERROR),
        service=letter.producer if letter else None,
        time=letter.occurred_at if letter else None,
        state=state,
    )


def _shorten(text: str, limit: int) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else f"{one_line[: limit - 1]}…"


@dataclass(frozen=True)
class Skipped:
    """A dead letter left in place by a run."""

    partition: int
    offset: int
    reason: str


@dataclass
class Summary:
    """What one run did (or, with `dry_run`, would do)."""

    target: str
    dlq: str
    dry_run: bool = False
    redriven: list[DlqRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def record(self, record: DlqRecord, outcome: Republish | Skip) -> None:
        if isinstance(outcome, Republish):
            self.redriven.append(record)
        else:
            self.skipped.append(Skipped(record.partition, record.offset, outcome.reason))


# --------------------------------------------------------------------------- Kafka adapter


@dataclass(frozen=True)
class Backlog:
    """Per DLQ partition: the group's next offset (or the log start) and the end offset."""

    start: dict[int, int]
    end: dict[int, int]

    @property
    def pending(self) -> int:
        return sum(max(0, self.end[p] - self.start[p]) for p in self.end)


def _names(settings: ServiceSettings, spec: TopicSpec) -> tuple[str, str]:
    kafka = settings.kafka()
    return topic_name(spec, kafka), dlq_name(spec, kafka)


def _consumer(settings: ServiceSettings, group: str) -> AIOKafkaConsumer:
    kafka = settings.kafka()
    return kafka_clients.consumer(
        kafka,
        client_id=f"{kafka.client_id}-dlq",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
    )


def _kafka_failure(settings: ServiceSettings, exc: BaseException) -> RedriveError:
    servers = settings.kafka().bootstrap_servers
    if isinstance(exc, KafkaConnectionError):
        return RedriveError(f"cannot reach the broker at {servers} ({BROKER_HINT})")
    return RedriveError(f"Kafka at {servers} failed: {type(exc).__name__}: {exc} ({BROKER_HINT})")


async def _start(settings: ServiceSettings, client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    try:
        await kafka_clients.start(client, settings.kafka())
    except kafka_clients.KafkaTlsError as exc:
        await client.stop()
        raise RedriveError(str(exc)) from exc
    except (KafkaError, OSError) as exc:
        await client.stop()
        raise _kafka_failure(settings, exc) from exc


async def _partitions(consumer: AIOKafkaConsumer, topic: str, *, what: str) -> list[int]:
    await consumer.topics()  # refresh metadata
    partitions: set[int] | None = consumer.partitions_for_topic(topic)
    if not partitions:
        raise RedriveError(
            f"{what} topic {topic} does not exist (is NNMATCH_TOPIC_PREFIX right? the "
            "services create their topics when they start: `nnmatch up`)"
        )
    return sorted(partitions)


async def _backlog(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> Backlog:
    begin = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    start: dict[int, int] = {}
    for tp in tps:
        committed = await consumer.committed(tp)
        start[tp.partition] = max(begin[tp], committed) if committed is not None else begin[tp]
    return Backlog(start=start, end={tp.partition: end[tp] for tp in tps})


async def backlog(
    settings: ServiceSettings, spec: TopicSpec, group: str = REDRIVE_GROUP
) -> Backlog:
    """How many dead letters of `spec` the group has not re-driven yet (no group join)."""
    _, dlq = _names(settings, spec)
    consumer = _consumer(settings, group)
    await _start(settings, consumer)
    try:
        partitions = await _partitions(consumer, dlq, what="dead-letter")
        return await _backlog(consumer, [TopicPartition(dlq, p) for p in partitions])
    except KafkaError as exc:
        raise _kafka_failure(settings, exc) from exc
    finally:
        await consumer.stop()


async def open_letters(keys: MemberKeys, records: Sequence[DlqRecord]) -> list[DlqRecord]:
    """The records with their envelopes opened (plain JSON for `plan`), one key lookup for
    all; an envelope that does not decode is left as it is for `plan` to report."""
    values = [r.value for r in records if r.value is not None]
    opened = iter(await open_events(keys, values, (DeadLetter,)))
    result: list[DlqRecord] = []
    for record in records:
        letter = next(opened) if record.value is not None else None
        if record.value is None or isinstance(letter, UndecodableRecord):
            result.append(record)
        elif letter is None:
            result.append(replace(record, value=None, erased=True))
        else:
            result.append(replace(record, value=encode_event(letter)))
    return result


@contextlib.asynccontextmanager
async def _member_keys(
    settings: ServiceSettings, keys: MemberKeys | None
) -> AsyncIterator[MemberKeys]:
    """The given keys, or the deployment's Redis key store for the length of one command."""
    if keys is not None:
        yield keys
        return
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    try:
        yield RedisMemberKeys(redis, settings.redis_prefix)
    finally:
        await redis.aclose()


async def _read(
    consumer: AIOKafkaConsumer, dlq: str, start: dict[int, int], end: dict[int, int]
) -> list[DlqRecord]:
    """Every record of `dlq` in [start, end) per partition (assigned, not subscribed)."""
    tps = [TopicPartition(dlq, p) for p in end if start[p] < end[p]]
    if not tps:
        return []
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, start[tp.partition])
    records: list[DlqRecord] = []
    remaining = set(tps)
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, batch in batches.items():
            for r in batch:
                if r.offset < end[tp.partition]:
                    records.append(DlqRecord(r.partition, r.offset, r.key, r.value))
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp.partition]:
                remaining.discard(tp)
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def peek(
    settings: ServiceSettings,
    spec: TopicSpec,
    limit: int | None,
    group: str = REDRIVE_GROUP,
    keys: MemberKeys | None = None,
) -> Summary:
    """What `redrive` would do now, without publishing or committing anything."""
    target, dlq = _names(settings, spec)
    consumer = _consumer(settings, group)
    await _start(settings, consumer)
    try:
        partitions = await _partitions(consumer, dlq, what="dead-letter")
        pending = await _backlog(consumer, [TopicPartition(dlq, p) for p in partitions])
        records = await _read(consumer, dlq, pending.start, pending.end)
    except KafkaError as exc:
        raise _kafka_failure(settings, exc) from exc
    finally:
        await consumer.stop()
    summary = Summary(target=target, dlq=dlq, dry_run=True)
    async with _member_keys(settings, keys) as member_keys:
        records = await open_letters(member_keys, records)
    for record in records[:limit] if limit is not None else records:
        summary.record(record, plan(record, target))
    return summary


async def tail(
    settings: ServiceSettings,
    spec: TopicSpec,
    limit: int,
    group: str = REDRIVE_GROUP,
    keys: MemberKeys | None = None,
) -> list[LetterRow]:
    """The latest `limit` dead letters per DLQ partition, oldest first, with their state."""
    target, dlq = _names(settings, spec)
    consumer = _consumer(settings, group)
    await _start(settings, consumer)
    try:
        partitions = await _partitions(consumer, dlq, what="dead-letter")
        tps = [TopicPartition(dlq, p) for p in partitions]
        state = await _backlog(consumer, tps)
        begin = await consumer.beginning_offsets(tps)
        start = {tp.partition: max(begin[tp], state.end[tp.partition] - limit) for tp in tps}
        records = await _read(consumer, dlq, start, state.end)
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
    except KafkaError as exc:
        raise _kafka_failure(settings, exc) from exc
    finally:
        await consumer.stop()
    async with _member_keys(settings, keys) as member_keys:
        records = await open_letters(member_keys, records)
    return [describe(r, target, committed[r.partition]) for r in records]


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tracks the group's assignment; a revocation waits for the record in flight."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.lock = asyncio.Lock()
        self.assigned = asyncio.Event()
        self.end: dict[TopicPartition, int] = {}
        self._first_end: dict[TopicPartition, int] = {}

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.lock:  # the record being re-published is committed first
            for tp in revoked:
                self.end.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        tps = list(assigned)
        ends = await self.consumer.end_offsets(tps) if tps else {}
        # The end as of first joining: dead letters arriving during the run wait for the next.
        self.end = {tp: self._first_end.setdefault(tp, ends[tp]) for tp in tps}
        self.assigned.set()


async def redrive(
    settings: ServiceSettings,
    spec: TopicSpec,
    *,
    limit: int | None = None,
    group: str = REDRIVE_GROUP,
    on_record: Callable[[DlqRecord, Republish | Skip], None] = lambda _r, _o: None,
    keys: MemberKeys | None = None,
) -> Summary:
    """Re-publish the group's pending dead letters of `spec` to their original topic.

    Each record is sent with acks=all and its DLQ offset committed only once acknowledged;
    undecodable envelopes are committed past (they stay in the DLQ) and reported. Stops at the
    DLQ's end as of joining, or after `limit` dead letters.
    """
    target, dlq = _names(settings, spec)
    kafka = settings.kafka()
    consumer = _consumer(settings, group)
    producer = kafka_clients.producer(
        kafka,
        client_id=f"{kafka.client_id}-redrive",
        acks="all",
        enable_idempotence=kafka.enable_idempotence,
        request_timeout_ms=15_000,
    )
    summary = Summary(target=target, dlq=dlq)
    await _start(settings, consumer)
    try:
        await _partitions(consumer, dlq, what="dead-letter")
        await _partitions(consumer, target, what="original")
        await _start(settings, producer)
        try:
            async with _member_keys(settings, keys) as member_keys:
                await _run(consumer, producer, member_keys, dlq, target, limit, summary, on_record)
        finally:
            await producer.stop()
    except CommitFailedError as exc:
        raise RedriveError(
            f"the consumer group {group} moved the DLQ to another member (is another "
            "`nnmatch dlq redrive` running?); everything up to here was committed, re-run "
            "when it is done"
        ) from exc
    except KafkaError as exc:
        done = f"{len(summary.redriven)} re-driven and committed before it"
        raise RedriveError(f"{_kafka_failure(settings, exc)}; {done}, re-run to go on") from exc
    finally:
        await consumer.stop()
    return summary


async def _run(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    keys: MemberKeys,
    dlq: str,
    target: str,
    limit: int | None,
    summary: Summary,
    on_record: Callable[[DlqRecord, Republish | Skip], None],
) -> None:
    owner = _Ownership(consumer)
    consumer.subscribe([dlq], listener=owner)
    try:
        await asyncio.wait_for(owner.assigned.wait(), JOIN_TIMEOUT_S)
    except TimeoutError as exc:
        raise RedriveError(
            f"could not join the consumer group on {dlq} within {JOIN_TIMEOUT_S:.0f} s "
            f"({BROKER_HINT})"
        ) from exc
    if not owner.end:
        raise RedriveError(
            f"another member of the consumer group holds {dlq} (is another `nnmatch dlq "
            "redrive` running?); re-run when it is done"
        )
    handled = 0
    while limit is None or handled < limit:
        if await _caught_up(consumer, owner):
            return
        batches = await consumer.getmany(timeout_ms=1000)
        for tp, batch in sorted(batches.items(), key=lambda kv: kv[0].partition):
            letters = await open_letters(
                keys, [DlqRecord(r.partition, r.offset, r.key, r.value) for r in batch]
            )
            for r, record in zip(batch, letters, strict=True):
                if limit is not None and handled >= limit:
                    return
                async with owner.lock:
                    if tp not in owner.end or r.offset >= owner.end[tp]:
                        break  # revoked, or past the end as of joining
                    outcome = plan(record, target)
                    step = asyncio.ensure_future(
                        _publish_and_commit(consumer, producer, dlq, target, tp, record, outcome)
                    )
                    try:
                        await asyncio.shield(step)
                    except asyncio.CancelledError:
                        # Ctrl-C: finish the record in flight, so its commit matches its copy.
                        await step
                        raise
                summary.record(record, outcome)
                on_record(record, outcome)
                handled += 1


async def _publish_and_commit(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    dlq: str,
    target: str,
    tp: TopicPartition,
    record: DlqRecord,
    outcome: Republish | Skip,
) -> None:
    """Re-publish (acks=all) and only then commit the dead letter's offset."""
    if isinstance(outcome, Republish):
        origin = f"{dlq}/{record.partition}/{record.offset}".encode()
        await producer.send_and_wait(
            target,
            value=outcome.value,
            key=outcome.key,
            headers=[(REDRIVEN_FROM_HEADER, origin)],
        )
    await consumer.commit({tp: record.offset + 1})


async def _caught_up(consumer: AIOKafkaConsumer, owner: _Ownership) -> bool:
    async with owner.lock:
        if not owner.end:
            raise RedriveError(
                "the dead-letter partitions were moved to another member of the consumer "
                "group (is another `nnmatch dlq redrive` running?); re-run when it is done"
            )
        for tp, end in owner.end.items():
            if await consumer.position(tp) < end:
                return False
        return True


def shown_key(key: str | None) -> str:
    return "(none)" if key is None else _shorten(key, 64)


__all__ = [
    "REDRIVE_GROUP",
    "Backlog",
    "DlqRecord",
    "LetterRow",
    "RedriveError",
    "Republish",
    "Skip",
    "Summary",
    "backlog",
    "describe",
    "peek",
    "plan",
    "redrive",
    "resolve_topic",
    "shown_key",
    "tail",
]
