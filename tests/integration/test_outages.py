"""Outages of the broker and of Redis: 503 with Retry-After, not ready, and back by themselves.

Each test runs its own broker and Redis (devstack on free ports in tmp_path), so pausing or
killing them never touches the stack other tests share, and the three services as real
processes pointed at them. A Redis that may evict or forget keys makes a service refuse to
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

import nnmatch
from nnmatch.auth import DevSigningKey, DevTokens, Role
from nnmatch.events import (
    ProfileVectorsComputed,
    encode_event,
)
from nnmatch_tools import devstack
from nnmatch_tools.launcher import ServiceProcess
from nnmatch_tools.ports import free_port
from tests.support import AMINA

pytestmark = pytest.mark.integration

EXAMPLES = Path(nnmatch.__file__).resolve().parent / "examples"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RETRY_AFTER_BOUND_S = 20.0
SERVICES = ("profiles", "matching", "notifications")


@dataclass
class Outage:
    """A private broker and Redis, and the services started against them."""

    state_dir: Path
    stack: devstack.DevStack
    kafka_port: int
    redis_port: int
    tokens: DevTokens
    services: dict[str, ServiceProcess]

    def env(self) -> dict[str, str]:
        return self.stack.env() | {
            "NNMATCH_KAFKA_PARTITIONS": "1",
            "NNMATCH_LOG_FORMAT": "text",
            "NNMATCH_RATE_LIMIT_WRITES": "10000/minute",
            "NNMATCH_ROLES": '["matcher"]',  # the matcher alone: no model to load
        }

    def start(self, *names: str) -> None:
        for name in names:
            self.services[name].start(self.env())
        for name in names:
            self.services[name].wait_ready(90)

    def restart_stack(self) -> None:
        """Bring back whatever of the broker and Redis is gone, on the same ports."""
        self.stack = devstack.up(
            self.state_dir,
            kafka_port=self.kafka_port,
            redis_port=self.redis_port,
            environ={},
            timeout=30,
        )

    def member(self, member_id: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens.token(Role.MEMBER, member_id)}"}


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    state_dir = tmp_path / "stack"
    kafka_port, redis_port = free_port(), free_port()
    stack = devstack.up(
        state_dir, kafka_port=kafka_port, redis_port=redis_port, environ={}, timeout=60
    )
    services = {
        name: ServiceProcess(name, free_port(), tmp_path / f"{name}.log") for name in SERVICES
    }
    world = Outage(state_dir, stack, kafka_port, redis_port, DevTokens(stack.auth_dir), services)
    try:
        yield world
    finally:
        for pid in (world.stack.kafka.pid, world.stack.redis.pid):
            if pid is not None:
                _signal(pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        for service in services.values():
            service.stop(grace=10)
        devstack.down(state_dir)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _kill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def _readiness(service: ServiceProcess) -> tuple[int, dict[str, str]]:
    try:
        response = httpx.get(f"{service.url}/readyz", timeout=10)
    except httpx.HTTPError as exc:
        return 0, {"http": repr(exc)}
    failing: dict[str, str] = response.json().get("failing", {})
    return response.status_code, failing


def _not_ready_naming(service: ServiceProcess, dependency: str) -> Callable[[], Any]:
    def check() -> Any:
        status, failing = _readiness(service)
        return failing if status == 503 and dependency in failing else None

    return check


def _put(world: Outage, member_id: str, timeout: float = 60) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.put(
        f"{world.services['profiles'].url}/v1/members/{member_id}",
        json=AMINA,
        headers=world.member(member_id),
        timeout=timeout,
    )
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("application/problem+json")
    assert elapsed < RETRY_AFTER_BOUND_S, f"took {elapsed:.1f} s to answer"


def _put_until_accepted(world: Outage, member_id: str, timeout: float) -> httpx.Response:
    """What a client does with Retry-After: retry; never a 2xx before the broker is back."""

    def attempt() -> httpx.Response | None:
        response, _ = _put(world, member_id)
        assert response.status_code in (201, 503), response.text
        return response if response.status_code == 201 else None

    response: httpx.Response = _wait(attempt, timeout, f"PUT {member_id} to be accepted")
    return response


async def _profile_ids(world: Outage) -> set[str]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=world.stack.kafka.address,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic("profiles.v1") or set()
        tps = [TopicPartition("profiles.v1", p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        ids: set[str] = set()
        async with asyncio.timeout(30):
            for tp in tps:
                while await consumer.position(tp) < ends[tp]:
                    for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                        for record in records:
                            if record.value is not None:
                                # The id is in the clear; the profile is sealed.
                                event = json.loads(record.value)
                                assert event["type"] == "ProfileUpserted"
                                ids.add(event["member_id"])
        return ids
    finally:
        await consumer.stop()


async def _topic_layout(world: Outage, topic: str) -> tuple[int, str | None]:
    """(partitions, cleanup.policy) of a topic; (0, None) when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=world.stack.kafka.address)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return 0, None
        [described] = await admin.describe_topics([topic])
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = answer.to_object()["resources"][0]["config_entries"]
        policy = next(
            (e["config_value"] for e in entries if e["config_names"] == "cleanup.policy"), None
        )
        return len(described["partitions"]), policy
    finally:
        await admin.close()


def _send_vectors(world: Outage, member_id: str) -> None:
    """A member's vectors on profile-vectors.v1, as the embedder would write them."""
    data = json.loads((EXAMPLES / "profile-vectors.v1/1/ProfileVectorsComputed.json").read_text())
    event = ProfileVectorsComputed.model_validate(data | {"member_id": member_id})

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=world.stack.kafka.address, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                "profile-vectors.v1", encode_event(event), key=member_id.encode()
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def _matched(world: Outage, member_id: str) -> bool:
    """Whether the matcher computed (and stored) the member's matches."""
    try:
        response = httpx.get(
            f"{world.services['matching'].url}/v1/members/{member_id}/matches",
            headers=world.member(member_id),
            timeout=10,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("computed_at"))


def _inbox(world: Outage, member_id: str) -> httpx.Response:
    return httpx.get(
        f"{world.services['notifications'].url}/v1/members/{member_id}/inbox",
        headers=world.member(member_id),
        timeout=30,
    )


def _assert_flows(world: Outage, member_id: str) -> None:
    """A write is accepted and lands on profiles.v1; the matcher consumes and stores; the
    member's inbox answers."""
    response = _put_until_accepted(world, member_id, timeout=60)
    assert response.json()["version"] == 1
    assert member_id in asyncio.run(_profile_ids(world))
    _send_vectors(world, member_id)
    _wait(lambda: _matched(world, member_id), 60, f"{member_id}'s matches")
    inbox = _inbox(world, member_id)
    assert inbox.status_code == 200, inbox.text


def test_broker_paused_answers_503_then_recovers_by_itself(outage: Outage) -> None:
    outage.start(*SERVICES)
    _assert_flows(outage, "m-before")
    kafka_pid = outage.stack.kafka.pid
    assert kafka_pid is not None

    os.kill(kafka_pid, signal.SIGSTOP)
    try:
        response, elapsed = _put(outage, "m-paused")
        _assert_unavailable(response, elapsed)
        for name in SERVICES:
            failing = _wait(
                _not_ready_naming(outage.services[name], "kafka"), 30, f"{name} not ready"
            )
            assert failing["kafka"], failing  # says why: "kafka does not answer"
    finally:
        os.kill(kafka_pid, signal.SIGCONT)

    for service in outage.services.values():
        _wait(service.ready, 60, f"{service.name} ready again")
        assert service.alive()
    _assert_flows(outage, "m-after")


def test_broker_killed_and_restarted_empty_services_recover_by_themselves(
    outage: Outage,
) -> None:
    outage.start(*SERVICES)
    _assert_flows(outage, "m-before")

    _kill(outage.stack.kafka.pid)
    response, elapsed = _put(outage, "m-gone")
    _assert_unavailable(response, elapsed)
    for name in SERVICES:
        _wait(_not_ready_naming(outage.services[name], "kafka"), 30, f"{name} not ready")

    outage.restart_stack()  # Tansu keeps topics in memory: this one starts empty
    assert outage.stack.kafka.address.endswith(f":{outage.kafka_port}")
    for service in outage.services.values():
        _wait(service.ready, 90, f"{service.name} ready again")
        assert service.alive()
    _assert_flows(outage, "m-after")
    # Re-created as configured (1 partition, compacted), not auto-created by the write.
    layout = asyncio.run(_topic_layout(outage, "profiles.v1"))
    assert layout == (1, "compact"), layout
    _wait(lambda: asyncio.run(_topic_layout(outage, "profiles.v1.dlq"))[0] == 1, 15, "the DLQ")


def test_redis_gone_answers_503_without_spinning_and_recovers(outage: Outage) -> None:
    outage.start(*SERVICES)
    _assert_flows(outage, "m-before")
    pids = {name: s.process.pid for name, s in outage.services.items() if s.process}

    _kill(outage.stack.redis.pid)
    response, elapsed = _put(outage, "m-gone")
    _assert_unavailable(response, elapsed)
    started = time.monotonic()
    matches = httpx.get(
        f"{outage.services['matching'].url}/v1/members/m-before/matches",
        headers=outage.member("m-before"),
        timeout=30,
    )
    _assert_unavailable(matches, time.monotonic() - started)
    started = time.monotonic()
    _assert_unavailable(_inbox(outage, "m-before"), time.monotonic() - started)
    for name in SERVICES:
        _wait(_not_ready_naming(outage.services[name], "redis"), 30, f"{name} not ready")

    # Ten seconds of outage, with a record for the notifier to fail on: no busy loop.
    _send_vectors(outage, "m-during")
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(10)
    for name, pid in pids.items():
        used = _cpu_seconds(pid) - cpu_before[name]
        assert used < 2.5, f"{name} used {used:.1f} s of CPU in a 10 s Redis outage"
    for name, service in outage.services.items():
        assert service.alive(), f"{name} exited during the outage:\n{service.log_tail()}"

    outage.restart_stack()
    for name, service in outage.services.items():
        _wait(service.ready, 60, f"{name} ready again")
        assert service.process is not None
        assert service.process.pid == pids[name], f"{name} was restarted: no crash loop wanted"
    _wait(lambda: _matched(outage, "m-during"), 60, "the held-back record processed")
    _assert_flows(outage, "m-after")


@pytest.mark.parametrize(
    ("redis_args", "fix"),
    [
        (("--appendonly", "no", "--save", ""), "appendonly yes"),
        (
            ("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"),
            "maxmemory-policy noeviction",
        ),
    ],
    ids=["no-persistence", "evicting"],
)
def test_service_refuses_to_start_on_a_redis_that_may_lose_keys(
    tmp_path: Path, redis_args: tuple[str, ...], fix: str
) -> None:
    port = free_port()
    redis = subprocess.Popen(
        [
            devstack._redis_bin(),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path)),
            *redis_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    auth_dir = tmp_path / "auth"
    try:
        stack = devstack.DevStack(
            kafka=devstack.Component("kafka", f"127.0.0.1:{free_port()}", False, None, None),
            redis=devstack.Component("redis", f"redis://127.0.0.1:{port}/0", True, None, None),
            kafka_embedded=True,
            auth_dir=auth_dir,
        )
        DevSigningKey.load_or_create(auth_dir)
        service = ServiceProcess("profiles", free_port(), tmp_path / "profiles.log")
        service.start(stack.env())
        assert service.process is not None
        try:
            code = service.process.wait(timeout=60)
        finally:
            service.kill()
        log = service.log_path.read_text()
        assert code != 0, log
        assert fix in log, log
        assert not service.ready()
    finally:
        redis.terminate()
        redis.wait(timeout=10)
