"""`nnmatch dlq redrive` / `show` against the real broker, each test in its own topic prefix."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from nnmatch import redrive
from nnmatch.audit import AuditAction, AuditRecord, RedisAuditLog
from nnmatch.auth import Role
from nnmatch.events import DeadLetter, encode_event
from nnmatch.settings import ServiceSettings
from nnmatch.topics import MATCHES, ensure_topics
from nnmatch_tools.cli import app
from nnmatch_tools.ports import free_port
from tests.support import Namespace, produce_raw, read_all

pytestmark = pytest.mark.integration

runner = CliRunner()


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash in the middle of a run."""


def _letter(namespace: Namespace, key: str | None, raw: bytes, offset: int) -> DeadLetter:
    return DeadLetter(
        producer="notifications",
        original_topic=namespace.topic("matches.v1"),
        partition=offset % 3,
        offset=offset,
        key=key,
        value_b64=base64.b64encode(raw).decode("ascii"),
        error=f"invalid MatchesComputed: record {offset} broke the notifier",
        consumer_group="nnmatch-notifier",
    )


async def _dead_letters(namespace: Namespace, letters: list[tuple[str, bytes]], first: int) -> None:
    """Dead letters for (key, raw value) pairs, as the services write them: key = original key."""
    items: list[tuple[bytes, bytes | None]] = [
        (key.encode(), encode_event(_letter(namespace, key, raw, first + i)))
        for i, (key, raw) in enumerate(letters)
    ]
    await produce_raw(namespace, "matches.v1.dlq", items)


async def _everything_on(namespace: Namespace, topic: str) -> list[Any]:
    return await read_all(namespace, topic)


def _cli(namespace: Namespace, *args: str, stdin: str | None = None) -> Any:
    # The command runs its own event loop, so it runs beside the test's loop, not inside it.
    return asyncio.to_thread(runner.invoke, app, ["dlq", *args], env=namespace.env(), input=stdin)


async def _audit_trail(namespace: Namespace) -> list[AuditRecord]:
    redis = Redis.from_url(namespace.stack.redis.address)
    try:
        page = await RedisAuditLog(redis, namespace.redis_prefix).page(50, None, None)
    finally:
        await redis.aclose()
    return [entry.record for entry in page.items]


def _said(result: Any) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(str(result.output).split())


FIRST = [
    ("m-redrive-1", b'{"type": "MatchesComputed", "member_id": "m-redrive-1"}'),
    ("m-redrive-2", b"\xff\xfe raw bytes, not even UTF-8"),
    ("m-redrive-1", b'{"type": "MatchesComputed", "member_id": "m-redrive-1", "v": 2}'),
]


async def test_redrive_republishes_each_dead_letter_once_with_key_and_raw_value(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    await _dead_letters(namespace, FIRST, first=100)
    await produce_raw(namespace, "matches.v1.dlq", [(b"junk", b"not an envelope")])

    result = await _cli(namespace, "redrive", "matches.v1", "--yes")
    assert result.exit_code == 0, result.output
    assert "re-driven: 3" in _said(result)
    assert "skipped (left in" in _said(result)
    assert "undecodable envelope" in _said(result)

    records = await _everything_on(namespace, "matches.v1")
    assert sorted((r.key, r.value) for r in records) == sorted((k.encode(), v) for k, v in FIRST)
    trail = await _audit_trail(namespace)
    assert [(r.action, r.count, r.topic, r.actor_role) for r in trail] == [
        (AuditAction.DLQ_REDRIVE, 3, namespace.topic("matches.v1"), Role.OPERATOR)
    ], "a re-drive is an operator's action: it lands in the audit trail"
    same_key = [r.value for r in sorted(records, key=lambda r: r.offset) if r.key == b"m-redrive-1"]
    assert same_key == [FIRST[0][1], FIRST[2][1]]  # a key's records keep their order
    dlq = namespace.topic("matches.v1.dlq")
    assert sorted(dict(r.headers)[redrive.REDRIVEN_FROM_HEADER] for r in records) == [
        f"{dlq}/0/{offset}".encode() for offset in range(3)
    ]

    again = await _cli(namespace, "redrive", "matches.v1", "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to re-drive" in _said(again)
    assert len(await _everything_on(namespace, "matches.v1")) == 3

    # A later dead letter is re-driven alone: the group remembers where it stopped.
    later = ("m-redrive-3", b'{"type": "MatchesComputed", "member_id": "m-redrive-3"}')
    await _dead_letters(namespace, [later], first=200)
    third = await _cli(namespace, "redrive", "matches.v1", "--yes")
    assert third.exit_code == 0, third.output
    assert "re-driven: 1" in _said(third)
    records = await _everything_on(namespace, "matches.v1")
    assert sorted((r.key, r.value) for r in records) == sorted(
        (k.encode(), v) for k, v in [*FIRST, later]
    )

    shown = await _cli(namespace, "show", "matches.v1")
    assert shown.exit_code == 0, shown.output
    for key in ("m-redrive-1", "m-redrive-2", "m-redrive-3"):
        assert key in _said(shown)
    assert "notifications" in _said(shown)
    assert "re-driven" in _said(shown)
    assert "skipped" in _said(shown)
    assert "0 pending" in _said(shown)
    for _, raw in [*FIRST, later]:  # never the value, neither raw nor base64
        assert base64.b64encode(raw).decode()[:16] not in "".join(shown.output.split())
    assert "MatchesComputed" not in _said(shown).replace("invalid MatchesComputed", "")


async def test_dry_run_and_a_declined_prompt_publish_nothing_and_limit_takes_n(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    await _dead_letters(namespace, FIRST, first=10)

    dry = await _cli(namespace, "redrive", "matches.v1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "3 would be re-driven" in _said(dry)
    assert "m-redrive-2" in _said(dry)
    declined = await _cli(namespace, "redrive", "matches.v1", stdin="n\n")
    assert declined.exit_code == 1
    assert "Re-publish up to 3 dead letter(s)" in _said(declined)
    assert "--yes" in _said(declined)
    assert await _everything_on(namespace, "matches.v1") == []

    one = await _cli(namespace, "redrive", "matches.v1", "--limit", "1", "--yes")
    assert one.exit_code == 0, one.output
    assert "re-driven: 1" in _said(one)
    assert [(r.key, r.value) for r in await _everything_on(namespace, "matches.v1")] == [
        (FIRST[0][0].encode(), FIRST[0][1])
    ]
    rest_dry = await _cli(namespace, "redrive", "matches.v1", "--dry-run")
    assert "2 would be re-driven" in _said(rest_dry)

    rest = await _cli(namespace, "redrive", "matches.v1", "--yes")
    assert rest.exit_code == 0, rest.output
    assert "re-driven: 2" in _said(rest)
    records = await _everything_on(namespace, "matches.v1")
    assert sorted((r.key, r.value) for r in records) == sorted((k.encode(), v) for k, v in FIRST)


async def test_an_interrupted_run_resumes_after_the_last_acknowledged_dead_letter(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    await _dead_letters(namespace, FIRST, first=0)
    settings = ServiceSettings(**namespace.settings(service_name="dlq"))
    done: list[int] = []

    def crash_after_the_second(record: redrive.DlqRecord, _outcome: object) -> None:
        done.append(record.offset)
        if len(done) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await redrive.redrive(settings, MATCHES, on_record=crash_after_the_second)
    assert len(await _everything_on(namespace, "matches.v1")) == 2

    summary = await redrive.redrive(settings, MATCHES)
    assert [r.offset for r in summary.redriven] == [2]
    records = await _everything_on(namespace, "matches.v1")
    assert sorted((r.key, r.value) for r in records) == sorted((k.encode(), v) for k, v in FIRST)


def test_an_unknown_topic_is_refused_naming_the_valid_ones() -> None:
    result = runner.invoke(app, ["dlq", "redrive", "matches", "--yes"])
    assert result.exit_code == 1
    for name in ("profiles.v1", "matches.v1", "feedback.v1"):
        assert name in _said(result)


def test_an_unreachable_broker_names_the_fix() -> None:
    env = {"NNMATCH_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    for command in (["redrive", "matches.v1", "--yes"], ["show", "matches.v1"]):
        result = runner.invoke(app, ["dlq", *command], env=env)
        assert result.exit_code == 1, result.output
        assert "nnmatch dev up" in _said(result)


async def test_a_missing_dead_letter_topic_names_the_prefix(namespace: Namespace) -> None:
    result = await _cli(namespace, "redrive", "matches.v1", "--dry-run")
    assert result.exit_code == 1
    assert namespace.topic("matches.v1.dlq") in _said(result)
    assert "NNMATCH_TOPIC_PREFIX" in _said(result)
