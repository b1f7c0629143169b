"""The embedded dev stack really serves Kafka and Redis, and `down` stops only what it started.

These start real Tansu and redis-server processes on free ports, so they run anywhere the `dev`
extra is installed, with or without a system Redis or Kafka.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from nnmatch_tools.devstack import (
    EMBEDDED_FETCH_MAX_WAIT_MS,
    STATE_FILE,
    DevStack,
    DevStackError,
    down,
    status,
    up,
)
from nnmatch_tools.ports import free_port

pytestmark = pytest.mark.integration


def _port_of(address: str) -> int:
    """Port of `host:port` or `redis://host:port/db`."""
    return int(address.removesuffix("/0").rsplit(":", 1)[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _running(pid: int) -> bool:
    """True unless the pid is gone or a zombie waiting for its parent."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _redis(stack: DevStack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis.address, decode_responses=True)


async def _round_trip(bootstrap: str) -> None:
    """Produce one record to a new topic the way services do (no idempotence) and read it back."""
    topic = f"devstack-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k", b"hello")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory that is always torn down, even when the test fails."""
    path = tmp_path / "state"
    try:
        yield path
    finally:
        down(path)


@pytest.fixture
def plain_listener() -> Iterator[int]:
    """A port held by a TCP listener that speaks neither Redis nor Kafka."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_up_serves_kafka_and_redis_and_down_stops_both(state_dir: Path) -> None:
    # Called from inside a running event loop on purpose: async fixtures will do the same.
    stack = up(state_dir, kafka_port=free_port(), redis_port=free_port(), environ={})
    assert stack.kafka.started_by_us
    assert stack.redis.started_by_us
    assert stack.kafka_embedded
    env = stack.env()
    assert {k: env[k] for k in list(env)[:6]} == {
        "NNMATCH_KAFKA_BOOTSTRAP_SERVERS": stack.kafka.address,
        "NNMATCH_REDIS_URL": stack.redis.address,
        "NNMATCH_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "NNMATCH_KAFKA_FETCH_MAX_WAIT_MS": str(EMBEDDED_FETCH_MAX_WAIT_MS),
        "NNMATCH_AUTH_JWKS_FILE": str(stack.jwks_file),
        "NNMATCH_AUTH_ISSUER": "nnmatch-dev",
    }
    assert len(env["NNMATCH_UNSUBSCRIBE_KEY"]) >= 32
    assert env["NNMATCH_SECRETS_KEY"] == stack.env()["NNMATCH_SECRETS_KEY"]  # made once

    await _round_trip(stack.kafka.address)
    client = _redis(stack)
    assert client.ping()
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
    assert [s.alive for s in status(state_dir)] == [True, True]

    assert sorted(down(state_dir)) == ["kafka", "redis"]
    for component in (stack.kafka, stack.redis):
        assert component.pid is not None
        assert not _running(component.pid)
        assert not _accepts(_port_of(component.address))
    assert not (state_dir / STATE_FILE).exists()
    assert down(state_dir) == []
    assert status(state_dir) == []


def test_up_twice_reuses_what_runs_and_replaces_what_died(state_dir: Path) -> None:
    first = up(state_dir, kafka_port=free_port(), redis_port=free_port(), environ={})
    again = up(state_dir, kafka_port=free_port(), redis_port=free_port(), environ={})
    assert again == first

    assert first.kafka.pid is not None
    os.kill(first.kafka.pid, 9)
    restarted = up(state_dir, kafka_port=free_port(), redis_port=free_port(), environ={})
    assert restarted.kafka.pid != first.kafka.pid
    assert restarted.redis == first.redis
    assert sorted(down(state_dir)) == ["kafka", "redis"]


def test_servers_we_did_not_start_are_never_stopped(tmp_path: Path, state_dir: Path) -> None:
    owner = up(state_dir, kafka_port=free_port(), redis_port=free_port(), environ={})
    guest_dir = tmp_path / "guest"
    try:
        # Both named by the environment (as another checkout or CI would).
        env = {
            "REDIS_URL": owner.redis.address,
            "KAFKA_BOOTSTRAP_SERVERS": owner.kafka.address,
            "NNMATCH_KAFKA_ENABLE_IDEMPOTENCE": "false",
        }
        guest = up(guest_dir, kafka_port=free_port(), redis_port=free_port(), environ=env)
        assert not guest.kafka.started_by_us
        assert not guest.redis.started_by_us
        assert guest.kafka_embedded
        assert guest.env()["NNMATCH_REDIS_URL"] == owner.redis.address
        assert down(guest_dir) == []

        # Redis found answering on the requested port: used, not owned.
        guest = up(
            guest_dir, kafka_port=free_port(), redis_port=_port_of(owner.redis.address), environ={}
        )
        assert guest.redis.address == owner.redis.address
        assert not guest.redis.started_by_us
        assert guest.kafka.started_by_us
        assert down(guest_dir) == ["kafka"]

        assert _redis(owner).ping()
        assert owner.redis.pid is not None
        assert _running(owner.redis.pid)
        assert owner.kafka.pid is not None
        assert _running(owner.kafka.pid)
    finally:
        down(guest_dir)


def test_taken_ports_move_to_free_ones(state_dir: Path, plain_listener: int) -> None:
    stack = up(state_dir, kafka_port=plain_listener, redis_port=plain_listener, environ={})
    assert _port_of(stack.redis.address) != plain_listener
    assert _port_of(stack.kafka.address) != plain_listener
    assert stack.redis.started_by_us
    assert _redis(stack).ping()
    assert [s.alive for s in status(state_dir)] == [True, True]


def test_unreachable_external_kafka_names_the_variable(state_dir: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(DevStackError, match=rf"{address}.*KAFKA_BOOTSTRAP_SERVERS"):
        up(state_dir, timeout=1.0, environ={"KAFKA_BOOTSTRAP_SERVERS": address})
    assert not (state_dir / STATE_FILE).exists()


def test_down_leaves_a_reused_pid_alone(state_dir: Path) -> None:
    """A recorded pid now running some other program (pid reuse) is not signalled."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state_dir.mkdir(parents=True)
        record = {
            "name": "kafka",
            "address": "127.0.0.1:1",
            "started_by_us": True,
            "pid": stranger.pid,
            "log_path": None,
            "argv": ["/nonexistent/tansu", "broker"],
        }
        (state_dir / STATE_FILE).write_text(json.dumps({"kafka_embedded": True, "kafka": record}))
        assert down(state_dir) == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
