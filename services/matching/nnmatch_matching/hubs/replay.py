"""Read a compacted topic from its start to its current end: the latest value per key.

The hubs role needs every hub and every member's vectors, not only records that arrive after
it started, so it reads hubs.v1 and profile-vectors.v1 whole before its consumer groups join
(re-applying what the groups then deliver is harmless: the latest state per key wins).
Sealed fields are opened as every consumer opens them; an erased member's records read as
gone, and an undecodable record is skipped here (the group consumer dead-letters it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from nnmatch import kafka_clients
from nnmatch.events import E, UndecodableRecord
from nnmatch.member_keys import MemberKeys
from nnmatch.settings import KafkaSettings
from nnmatch.shredding import open_events
from nnmatch.topics import TopicSpec, topic_name

log = logging.getLogger(__name__)


async def latest_values(
    kafka: KafkaSettings,
    spec: TopicSpec,
    keys: MemberKeys,
    accepted: tuple[type[E], ...],
    refuse: Callable[[str, Any], str | None] | None = None,
) -> dict[str, E | None]:
    """Each key's latest event up to the end offsets seen at start (None: deleted); a record
    `refuse` gives a cause for is skipped, as the group consumer dead-letters it."""
    topic = topic_name(spec, kafka)
    consumer = kafka_clients.consumer(
        kafka,
        client_id=f"{kafka.client_id}-hubs-replay",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await kafka_clients.start(consumer, kafka)
    latest: dict[str, E | None] = {}
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return latest
        consumer.assign(tps)
        ends = await kafka_clients.end_offsets(consumer, tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                wanted = [r for r in records if r.offset < ends[tp] and r.key is not None]
                valued = [r.value for r in wanted if r.value is not None]
                opened = iter(await open_events(keys, valued, accepted))
                for record in wanted:
                    key = record.key.decode("utf-8", errors="replace")
                    event = next(opened) if record.value is not None else None
                    if isinstance(event, UndecodableRecord):
                        log.warning("skipping record during replay", extra={"error": str(event)})
                        continue
                    cause = refuse(key, event) if refuse and event is not None else None
                    if cause is not None:
                        log.warning("skipping record during replay", extra={"error": cause})
                        continue
                    latest.pop(key, None)
                    latest[key] = event
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return latest
