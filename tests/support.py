"""Helpers shared by integration and end-to-end tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from nnmatch import kafka_clients
from nnmatch.auth import DEV_ISSUER, DevTokens, Role
from nnmatch.events import MatchesComputed
from nnmatch.settings import KafkaSettings
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_tools import devstack
from nnmatch_tools.cleanup import forget_prefix

# Where the session's dev stack is recorded; another directory gives a run its own stack.
STATE_DIR = Path(
    os.environ.get("NNMATCH_TEST_STATE_DIR")
    or Path(__file__).resolve().parents[1] / ".nnmatch" / "test-stack"
)


@dataclass(frozen=True)
class Namespace:
    """One test's slice of the shared broker and Redis."""

    name: str
    stack: devstack.DevStack

    @property
    def topic_prefix(self) -> str:
        return f"{self.name}."

    @property
    def redis_prefix(self) -> str:
        return f"nnmatch:{self.name}:"

    def env(self) -> dict[str, str]:
        return self.stack.env() | {
            "NNMATCH_TOPIC_PREFIX": self.topic_prefix,
            "NNMATCH_REDIS_PREFIX": self.redis_prefix,
            "NNMATCH_KAFKA_PARTITIONS": "3",
        }

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for any service's settings class."""
        return {
            "kafka_bootstrap_servers": self.stack.kafka.address,
            "kafka_enable_idempotence": not self.stack.kafka_embedded,
            "kafka_fetch_max_wait_ms": self.stack.fetch_max_wait_ms,
            "kafka_partitions": 3,
            "redis_url": self.stack.redis.address,
            "topic_prefix": self.topic_prefix,
            "redis_prefix": self.redis_prefix,
            "log_format": "text",
            "auth_jwks_file": self.stack.jwks_file,
            "auth_issuer": DEV_ISSUER,
            "secrets_key": self.stack.env()["NNMATCH_SECRETS_KEY"],
            "unsubscribe_key": self.stack.env()["NNMATCH_UNSUBSCRIBE_KEY"],
            "webhook_require_https": False,
            "webhook_allow_networks": ["127.0.0.0/8", "::1/128"],
        } | overrides

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.stack.kafka.address,
            enable_idempotence=not self.stack.kafka_embedded,
            partitions=3,
            replication_factor=1,
            topic_prefix=self.topic_prefix,
            client_id="nnmatch-tests",
            fetch_max_wait_ms=self.stack.fetch_max_wait_ms,
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@functools.cache
def dev_tokens() -> DevTokens:
    """Tokens signed with the test stack's dev key (the one its services trust)."""
    return DevTokens(devstack.dev_auth_dir(STATE_DIR))


def as_member(member_id: str) -> dict[str, str]:
    return {"authorization": f"Bearer {dev_tokens().token(Role.MEMBER, member_id)}"}


def as_operator() -> dict[str, str]:
    return {"authorization": f"Bearer {dev_tokens().token(Role.OPERATOR)}"}


def as_hub(hub: str) -> dict[str, str]:
    return {"authorization": f"Bearer {dev_tokens().token(Role.HUB, hub)}"}


def all_inbox_ids(client: httpx.Client, url: str, member: str) -> list[str]:
    """Every suggestion in a member's inbox, page by page, as the member reads it."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = client.get(
            f"{url}/v1/members/{member}/inbox", params=params, headers=as_member(member)
        ).json()
        ids += [item["suggestion"]["member_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def expected_inboxes(updates: list[MatchesComputed], per_update: int) -> dict[str, set[str]]:
    """What the delivery rules make of matches.v1, in log order, each pair once and each record
    once (a publish retried without the idempotent producer may write one twice)."""
    suggested: dict[str, set[str]] = defaultdict(set)
    now = datetime.now(UTC)
    applied: set[tuple[str, str]] = set()
    for update in updates:
        if (update.member_id, str(update.event_id)) in applied:
            continue
        applied.add((update.member_id, str(update.event_id)))
        added = 0
        for item in candidates_to_send(update, 0.0, per_update, now):
            if added >= per_update:
                break
            if item.candidate_id not in suggested[update.member_id]:
                suggested[update.member_id].add(item.candidate_id)
                added += 1
    return suggested


async def forget(namespace: Namespace) -> None:
    await forget_prefix(namespace.kafka(), namespace.stack.redis.address, namespace.redis_prefix)


def new_namespace(stack: devstack.DevStack) -> Namespace:
    return Namespace(f"t{uuid.uuid4().hex[:10]}", stack)


@asynccontextmanager
async def serving(
    app: FastAPI, ready_timeout: float = 120.0, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app in-process with its lifespan, and wait until `/readyz` says ready.

    The client sends `headers` (an operator's token unless told otherwise) on every request."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers=as_operator() if headers is None else headers,
        ) as client:
            deadline = asyncio.get_running_loop().time() + ready_timeout
            while True:
                response = await client.get("/readyz")
                if response.status_code == 200:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"app not ready: {response.text}")
                await asyncio.sleep(0.2)
            yield client


async def eventually(check: Any, timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Poll an async `check` until it returns something truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")


async def read_topic(
    namespace: Namespace, topic: str, count: int, timeout: float = 30.0, *, sealed: bool = False
) -> list[Any]:
    """Read a topic from the start (no consumer group) until `count` records or the timeout.

    For "what is on the topic now" use `read_all`: a timeout on a loaded machine returns part
    of the log, and an assertion on part of the log fails for the wrong reason.

    Values come opened, as a service reads them (sealed personal fields decrypted with the
    namespace's member keys), unless `sealed`: then exactly as the broker holds them. A value
    that does not open (an erased member's, or not JSON) is left as it was."""
    return await _read(namespace, topic, count, timeout, sealed=sealed)


async def read_all(
    namespace: Namespace, topic: str, timeout: float = 60.0, *, sealed: bool = False
) -> list[Any]:
    """Every record the topic holds when called: read up to each partition's end.

    The ends are `kafka_clients.end_offsets`, as the services' replays find them (the Tansu
    dev broker lists an end short of its last batch). Fails if the end is not reached within
    `timeout` rather than returning part of the log. Values are opened as in `read_topic`; a
    topic that does not exist yet holds nothing."""
    return await _read(namespace, topic, None, timeout, sealed=sealed)


async def _read(
    namespace: Namespace, topic: str, count: int | None, timeout: float, *, sealed: bool
) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.stack.kafka.address,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    name = namespace.topic(topic)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        partitions: set[int] = set()
        while not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(name) or set()
            if partitions:
                break
            if count is None:
                return []
            if loop.time() > deadline:
                raise AssertionError(f"topic {name} does not exist")
            await asyncio.sleep(0.2)
        assigned = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if count is None:
            ends = await kafka_clients.end_offsets(consumer, assigned)
            await consumer.seek_to_beginning(*assigned)
            while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
                if loop.time() > deadline:
                    raise AssertionError(
                        f"{name}: read {len(records)} records in {timeout} s, short of its end"
                    )
                batches = await consumer.getmany(timeout_ms=500)
                for tp, batch in batches.items():
                    # What arrived after the ends is for the next call: one call, one cut.
                    records.extend(r for r in batch if r.offset < ends[tp])
        else:
            while len(records) < count and loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    if not sealed:
        records = await opened_records(namespace, records)
    return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))


async def opened_records(namespace: Namespace, records: list[Any]) -> list[Any]:
    """`records` with their sealed fields opened (see `read_topic`)."""
    from redis.asyncio import Redis

    from nnmatch.events import UndecodableRecord, parse_record
    from nnmatch.member_keys import RedisMemberKeys
    from nnmatch.shredding import open_datas

    datas: list[Any] = []
    for record in records:
        try:
            datas.append(parse_record(record.value) if record.value is not None else None)
        except UndecodableRecord as exc:
            datas.append(exc)
    client = Redis.from_url(namespace.stack.redis.address)
    try:
        keys = RedisMemberKeys(client, namespace.redis_prefix)
        opened = await open_datas(keys, [d for d in datas if d is not None])
    finally:
        await client.aclose()
    values = iter(opened)
    result = []
    for record, data in zip(records, datas, strict=True):
        value = next(values) if data is not None else None
        if isinstance(value, dict):
            record = dataclasses.replace(record, value=json.dumps(value).encode())
        result.append(record)
    return result


async def produce_raw(
    namespace: Namespace,
    topic: str,
    items: list[tuple[bytes, bytes | None]],
    batched: bool = False,
) -> None:
    """Write raw key/value pairs (bad ones included) straight onto a topic, acks=all; one at a
    time, or `batched` (sent together in batches of up to 1 MB, as a busy publisher does)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=namespace.stack.kafka.address,
        acks="all",
        enable_idempotence=not namespace.stack.kafka_embedded,
        linger_ms=50 if batched else 0,
        max_batch_size=1 << 20 if batched else 16384,
    )
    await producer.start()
    try:
        if batched:
            sent = [await producer.send(namespace.topic(topic), value=v, key=k) for k, v in items]
            await asyncio.gather(*sent)
            return
        for key, value in items:
            await producer.send_and_wait(namespace.topic(topic), value=value, key=key)
    finally:
        await producer.stop()


AMINA: dict[str, Any] = {
    "display_name": "Amina Yusuf",
    "headline": "Computer vision for crop disease",
    "bio": "I build computer vision models that detect cassava disease from phone photos.",
    "expertise": ["computer vision", "agritech"],
    "interests": ["food security", "remote sensing"],
    "sdgs": [2, 13],
    "offers": {"kinds": ["mentor"], "text": "Mentoring on deploying vision models in the field"},
    "seeks": {"kinds": ["collaborator"], "text": "Partners with field data on cassava disease"},
    "country": "KE",
    "languages": ["en", "sw"],
    "organisation": {"name": "University of Nairobi", "type": "academia"},
    "hubs": ["yail-nairobi"],
    "visibility": {"discoverable": True, "show_organisation": True},
}

KOFI: dict[str, Any] = {
    "display_name": "Kofi Mensah",
    "headline": "Agronomist with labelled cassava field data",
    "bio": "I run cassava field trials across Ghana and label disease outbreaks.",
    "expertise": ["agronomy", "field data collection"],
    "interests": ["computer vision", "food security"],
    "sdgs": [2],
    "offers": {"kinds": ["collaborator"], "text": "Labelled field data on cassava disease"},
    "seeks": {"kinds": ["mentor"], "text": "Mentoring on computer vision models for crops"},
    "country": "GH",
    "languages": ["en"],
    "organisation": {"name": "CSIR Crops Research Institute", "type": "government"},
}

# A hub body as CONTRACTS.md shapes it, and one of its projects.
NAIROBI_HUB: dict[str, Any] = {
    "name": "YAIL Nairobi",
    "country": "KE",
    "sdgs": [2, 13],
    "focus": "Machine learning for smallholder farming and climate resilience",
    "offers": {"kinds": ["partner"], "text": "Field data networks and crop disease models"},
    "seeks": {"kinds": ["collaborator"], "text": "Remote sensing for drought early warning"},
    "languages": ["en", "sw"],
    "leaders": [{"member_id": "amina-lead", "role": "leader"}],
    "visibility": {"discoverable": True},
}

DROUGHT_PROJECT: dict[str, Any] = {
    "title": "Drought watch for Turkana",
    "description": "An early-warning map from satellite imagery and farmers' SMS reports.",
    "sdgs": [13],
    "seeks": {"kinds": ["volunteer"], "text": "Sentinel-2 processing and Swahili SMS surveys"},
    "languages": ["en", "sw"],
    "open": True,
}


async def redis_mentions(redis_url: str, prefix: str, needle: str) -> list[str]:
    """Every key under `prefix` whose name or any stored value contains `needle`."""
    from redis.asyncio import Redis

    found: list[str] = []
    client: Any = Redis.from_url(redis_url)  # redis-py's types do not narrow by command
    try:
        async for raw_key in client.scan_iter(match=f"{prefix}*", count=1000):
            key = raw_key.decode()
            kind = (await client.type(raw_key)).decode()
            values: list[Any] = []
            if kind == "string":
                values = [await client.get(raw_key) or b""]
            elif kind == "hash":
                values = [b for kv in (await client.hgetall(raw_key)).items() for b in kv]
            elif kind == "set":
                values = list(await client.smembers(raw_key))
            elif kind == "zset":
                values = await client.zrange(raw_key, 0, -1)
            elif kind == "list":
                values = await client.lrange(raw_key, 0, -1)
            elif kind == "stream":
                values = [
                    b
                    for _, fields in await client.xrange(raw_key)
                    for kv in fields.items()
                    for b in kv
                ]
            if needle in key or any(needle.encode() in v for v in values):
                found.append(key)
    finally:
        await client.aclose()
    return found


async def latest_values(namespace: Namespace, topic: str) -> dict[bytes, bytes | None]:
    """What a compacted topic holds per key once compacted: the last value (None = tombstone)."""
    records = await read_all(namespace, topic)
    records.sort(key=lambda r: (r.partition, r.offset))
    return {r.key: r.value for r in records}
