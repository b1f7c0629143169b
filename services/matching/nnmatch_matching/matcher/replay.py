"""Rebuild the matcher's index by reading the compacted `profile-vectors.v1` from the start.

Runs before the matcher's consumer group starts: the index must hold every member, not only
those whose records arrive after this process started. Reads up to the end offsets seen at
start; the group consumer then continues from its committed offset, and skips the records
the replay read that are still the ones applied (`MatchEngine.replayed_to`): their lists are
the start refresh's work (background.py), not one re-rank each. With a snapshot (`resume`, see
snapshot.py) the engine starts from it and only the records after its offsets are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from aiokafka import TopicPartition

from nnmatch import kafka_clients
from nnmatch.events import ProfileVectorsComputed, UndecodableRecord, check_key
from nnmatch.member_keys import MemberKeys
from nnmatch.settings import KafkaSettings
from nnmatch.shredding import open_events
from nnmatch.topics import PROFILE_VECTORS, topic_name
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine, ModelMismatch

log = logging.getLogger(__name__)


async def replay_vectors(
    kafka: KafkaSettings,
    engine: MatchEngine,
    *,
    keys: MemberKeys,
    progress: Callable[[int], None] | None = None,
    resume: Callable[[str, Mapping[int, int]], Mapping[int, int]] | None = None,
) -> int:
    """Apply every record up to the current end of the topic; returns records read.

    `resume(topic, end offset per partition)` may seed the engine and answer the offset to
    read each partition from (partitions it leaves out are read from the beginning).
    Sealed fields are opened with one key lookup per fetched batch; an erased member's
    records are skipped.
    """
    topic = topic_name(PROFILE_VECTORS, kafka)
    consumer = kafka_clients.consumer(
        kafka,
        client_id=f"{kafka.client_id}-replay",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await kafka_clients.start(consumer, kafka)
    read = 0
    skipped: dict[str, int] = {}
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            if resume:
                resume(topic, {})
            return 0
        consumer.assign(tps)
        ends = await kafka_clients.end_offsets(consumer, tps)
        engine.replayed_to = {tp.partition: ends[tp] for tp in tps}
        starts = resume(topic, {tp.partition: ends[tp] for tp in tps}) if resume else {}
        await consumer.seek_to_beginning(*[tp for tp in tps if tp.partition not in starts])
        for tp in tps:
            if tp.partition in starts:
                consumer.seek(tp, starts[tp.partition])
        pending = {tp for tp in tps if ends[tp] > 0}
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                wanted = [r for r in records if r.offset < ends[tp]]
                read += len(wanted)
                valued = [r.value for r in wanted if r.value is not None]
                opened = iter(await open_events(keys, valued, (ProfileVectorsComputed,)))
                for record in wanted:
                    _apply(
                        engine, record, next(opened) if record.value is not None else None, skipped
                    )
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if progress:
                progress(read)
    finally:
        await consumer.stop()
    log.info("vectors replayed", extra={"records": read, "members": len(engine)})
    if skipped:
        # After a model change the topic holds the old model's vectors until re-embedded.
        log.warning("replay skipped vectors of other models", extra={"records": skipped})
    return read


def _apply(
    engine: MatchEngine,
    record: object,
    event: ProfileVectorsComputed | UndecodableRecord | None,
    skipped: dict[str, int],
) -> None:
    """Apply one record: a tombstone removes, an erased member's record is skipped."""
    key = getattr(record, "key", None)
    value = getattr(record, "value", None)
    position = LogPosition(getattr(record, "partition", 0), getattr(record, "offset", 0))
    if key is None:
        return
    member_id = key.decode("utf-8", errors="replace")
    if value is None:
        engine.remove(member_id, position)
        return
    if event is None:
        return  # sealed under a key that is gone: the member was erased
    try:
        if isinstance(event, UndecodableRecord):
            raise event
        check_key(member_id, event)
    except UndecodableRecord as exc:
        # The group consumer dead-letters it with the cause; replay only skips it.
        log.warning("skipping record during replay", extra={"error": str(exc)})
        return
    try:
        engine.apply(event, position)
    except ModelMismatch:
        model = f"{event.model.id}@{event.model.version}"
        skipped[model] = skipped.get(model, 0) + 1
