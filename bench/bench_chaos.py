"""Chaos benchmark: profile events flow while the matcher and the notifier are SIGKILLed on a
timer and the broker is paused once; afterwards count lost and duplicated suggestions.

Not part of `make test`. Run: `.venv/bin/python bench/bench_chaos.py --members 10000`
(about 40 minutes on 2 cores, most of it embedding; `--members 1000` for a quick run).
Writes `bench/results/chaos-<timestamp>.json`.

It always starts its own embedded broker and Redis (it must be able to SIGSTOP the broker),
and runs four processes: profiles, an embedder (matching with roles=embedder), a matcher
(roles=matcher) and notifications. The matcher and the notifier are killed with SIGKILL every
`--kill-every` seconds and restarted at once; the broker is SIGSTOPped once for `--pause-for`
seconds. Profiles are uploaded through the bulk API as an operator, in paced chunks, retrying
on 503 as a client should (`Retry-After`).

Counted at the end, against what replaying `matches.v1` through the delivery rules gives:
- lost: suggestions that should be in an inbox and are not; members with no matches at all;
- duplicated: the same candidate twice in one inbox.
The baseline, in the same run, is the same kind of run with no chaos on a fresh namespace
(`--baseline`, on by default): its wall time puts the recovery cost in proportion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from nnmatch.auth import DevTokens, Role
from nnmatch.events import MatchesComputed
from nnmatch.member_keys import RedisMemberKeys
from nnmatch.profile import BulkProfileLine
from nnmatch.shredding import open_events
from nnmatch.topics import MATCHES
from nnmatch_notifications.inbox import candidates_to_send
from nnmatch_notifications.store import RedisInbox
from nnmatch_tools import devstack
from nnmatch_tools.client import metric_sum, scrape
from nnmatch_tools.demo import CONSUMED, LAG
from nnmatch_tools.launcher import ServiceProcess
from nnmatch_tools.ports import free_port
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
PER_UPDATE = 5


@dataclass
class Run:
    """One run's processes on the private stack, under its own topic and key prefix."""

    stack: devstack.DevStack
    name: str
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = self.stack.env() | {
            "NNMATCH_TOPIC_PREFIX": f"{self.name}.",
            "NNMATCH_REDIS_PREFIX": f"nnmatch:{self.name}:",
            "NNMATCH_SUGGESTIONS_PER_UPDATE": str(PER_UPDATE),
            # Every update delivered as it comes: the count replays matches.v1 update by update.
            "NNMATCH_NOTIFY_SETTLE_SECONDS": "0",
            "NNMATCH_LOG_FORMAT": "json",
            "NNMATCH_RATE_LIMIT_WRITES": "100000/minute",
        }
        for name, service, own_env in (
            ("profiles", "profiles", {}),
            ("embedder", "matching", {"NNMATCH_ROLES": '["embedder"]'}),
            ("matcher", "matching", {"NNMATCH_ROLES": '["matcher"]'}),
            ("notifier", "notifications", {}),
        ):
            log = self.log_dir / f"{self.name}-{name}.log"
            self.processes[name] = ServiceProcess(service, free_port(), log, own_env=own_env)

    def start(self, name: str) -> None:
        self.processes[name].start(self.env)

    def start_all(self) -> None:
        for name in self.processes:
            self.start(name)
        for process in self.processes.values():
            process.wait_ready(300)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    @property
    def prefix(self) -> str:
        return self.env["NNMATCH_REDIS_PREFIX"]


def upload(
    run: Run,
    members: list[BulkProfileLine],
    chunk: int,
    pace_s: float,
    tokens: DevTokens,
    retries: list[float],
) -> None:
    """Bulk-import in paced chunks; a 503 (broker away) is retried after `Retry-After`."""
    url = f"{run.processes['profiles'].url}/v1/members/bulk"
    with httpx.Client(timeout=60) as http:
        for start in range(0, len(members), chunk):
            body = "\n".join(m.model_dump_json() for m in members[start : start + chunk])
            while True:
                headers = {
                    "content-type": "application/x-ndjson",
                    "authorization": f"Bearer {tokens.token(Role.OPERATOR)}",
                }
                try:
                    response = http.post(url, content=body.encode(), headers=headers)
                except httpx.HTTPError:
                    retries.append(time.monotonic())
                    time.sleep(2)
                    continue
                if response.status_code == 200:
                    break
                if response.status_code in (429, 503):
                    retries.append(time.monotonic())
                    time.sleep(float(response.headers.get("retry-after", "2")))
                    continue
                raise RuntimeError(f"bulk import failed: {response.status_code} {response.text}")
            time.sleep(pace_s)


def caught_up(run: Run, expected: int) -> bool:
    try:
        embedder = scrape(run.processes["embedder"].url)
        matcher = scrape(run.processes["matcher"].url)
        notifier = scrape(run.processes["notifier"].url)
    except httpx.HTTPError:
        return False
    return (
        metric_sum(embedder, CONSUMED, group="nnmatch-embedder") >= expected
        and metric_sum(matcher, LAG) + metric_sum(notifier, LAG) + metric_sum(embedder, LAG) == 0
    )


def wait_settled(run: Run, expected: int, timeout: float) -> float:
    """Seconds until every consumer has caught up, three checks in a row."""
    started = time.monotonic()
    stable = 0
    while time.monotonic() - started < timeout:
        stable = stable + 1 if caught_up(run, expected) else 0
        if stable >= 3:
            return time.monotonic() - started
        time.sleep(2)
    raise TimeoutError(f"{run.name}: pipeline not settled after {timeout:.0f} s")


@dataclass
class Chaos:
    """Kills the matcher and the notifier on a timer; pauses the broker once."""

    run: Run
    kill_every_s: float
    pause_at_s: float
    pause_for_s: float
    recoveries: list[dict[str, float]] = field(default_factory=list)
    pause: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self) -> None:
        started = time.monotonic()
        paused = False
        while not self.stop.wait(self.kill_every_s):
            if not paused and time.monotonic() - started >= self.pause_at_s:
                paused = True
                self._pause_broker()
                continue
            self._kill_and_restart()

    def _kill_and_restart(self) -> None:
        killed_at = time.monotonic()
        for name in ("matcher", "notifier"):
            self.run.processes[name].kill()
            self.run.start(name)
        recovery: dict[str, float] = {}
        for name in ("matcher", "notifier"):
            self.run.processes[name].wait_ready(300)
            recovery[f"{name}_ready_s"] = time.monotonic() - killed_at
        self.recoveries.append(recovery)

    def _pause_broker(self) -> None:
        pid = self.run.stack.kafka.pid
        assert pid is not None, "the benchmark's broker must be its own"
        os.kill(pid, signal.SIGSTOP)
        time.sleep(self.pause_for_s)
        os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        for name in ("profiles", "embedder", "matcher", "notifier"):
            self.run.processes[name].wait_ready(300)
        self.pause = {
            "paused_s": self.pause_for_s,
            "ready_after_resume_s": time.monotonic() - resumed,
        }


async def read_matches_log(run: Run) -> list[MatchesComputed]:
    consumer = AIOKafkaConsumer(
        f"{run.env['NNMATCH_TOPIC_PREFIX']}{MATCHES.name}",
        bootstrap_servers=run.stack.kafka.address,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000, max_records=5000)
            if not batch:
                break
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    records.sort(key=lambda r: (r.partition, r.offset))  # one member's records: one partition
    redis = Redis.from_url(run.stack.redis.address)
    try:  # lists are sealed under members' keys (nnmatch.shredding): open as the services do
        keys = RedisMemberKeys(redis, run.env["NNMATCH_REDIS_PREFIX"])
        values = [r.value for r in records if r.value is not None]
        opened = await open_events(keys, values, (MatchesComputed,))
    finally:
        await redis.aclose()
    return [e for e in opened if isinstance(e, MatchesComputed)]


async def count(run: Run, member_ids: list[str]) -> dict[str, int]:
    """Lost and duplicated suggestions, against the delivery rules replayed over matches.v1."""
    updates = await read_matches_log(run)
    expected: dict[str, set[str]] = defaultdict(set)
    now = datetime.now(UTC)
    for update in updates:
        added = 0
        for item in candidates_to_send(update, 0.0, PER_UPDATE, now):
            if added >= PER_UPDATE:
                break
            if item.candidate_id not in expected[update.member_id]:
                expected[update.member_id].add(item.candidate_id)
                added += 1
    redis = Redis.from_url(run.stack.redis.address)
    inbox = RedisInbox(redis, run.prefix, max_items=10_000)
    lost = duplicated = unexpected = without_matches = 0
    try:
        for member in member_ids:
            items, _ = await inbox.page(member, 10_000, None)
            ids = [i.suggestion.member_id for i in items]
            duplicated += len(ids) - len(set(ids))
            lost += len(expected.get(member, set()) - set(ids))
            unexpected += len(set(ids) - expected.get(member, set()))
            if not await redis.exists(f"{run.prefix}matches:{member}"):
                without_matches += 1
    finally:
        await redis.aclose()
    return {
        "suggestions_expected": sum(len(v) for v in expected.values()),
        "suggestions_lost": lost,
        "suggestions_duplicated": duplicated,
        "suggestions_unexpected": unexpected,
        "members_without_matches": without_matches,
        "matches_records": len(updates),
    }


def one_run(
    stack: devstack.DevStack,
    name: str,
    log_dir: Path,
    members: list[BulkProfileLine],
    args: argparse.Namespace,
    chaos: bool,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    run = Run(stack, name, log_dir)
    tokens = DevTokens(stack.auth_dir)
    progress(f"{name}: starting four processes")
    run.start_all()
    try:
        started = time.monotonic()
        retries: list[float] = []
        chaos_driver = Chaos(run, args.kill_every, args.pause_at, args.pause_for)
        killer = threading.Thread(target=chaos_driver.loop, daemon=True)
        if chaos:
            killer.start()
        upload(run, members, args.chunk, args.pace, tokens, retries)
        progress(
            f"{name}: {len(members)} profiles accepted after {time.monotonic() - started:.0f} s"
        )
        # Chaos goes on until the embedder has consumed every profile and the broker was paused.
        while chaos and not (_embedded_all(run, len(members)) and chaos_driver.pause):
            time.sleep(2)
        chaos_driver.stop.set()
        if chaos:
            killer.join()
        settle_s = wait_settled(run, len(members), args.timeout)
        elapsed = time.monotonic() - started
        progress(f"{name}: settled after {elapsed:.0f} s; counting")
        counts = asyncio.run(count(run, [m.member_id for m in members]))
    finally:
        run.stop_all()
    recoveries = chaos_driver.recoveries
    return {
        "wall_s": round(elapsed, 1),
        "settle_after_chaos_s": round(settle_s, 1),
        "upload_retries": len(retries),
        "kills": len(recoveries),
        "recovery_s": _summary([max(r.values()) for r in recoveries]),
        "broker_pause": chaos_driver.pause,
        **counts,
    }


def _embedded_all(run: Run, expected: int) -> bool:
    try:
        return metric_sum(scrape(run.processes["embedder"].url), CONSUMED) >= expected
    except httpx.HTTPError:
        return False


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": round(ordered[len(ordered) // 2], 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000, help="profile events to send")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    parser.add_argument("--pause-at", type=float, default=30.0, help="broker pause after (s)")
    parser.add_argument("--pause-for", type=float, default=15.0, help="broker pause length (s)")
    parser.add_argument("--chunk", type=int, default=250, help="profiles per bulk request")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between bulk requests")
    parser.add_argument("--timeout", type=float, default=7200, help="settling limit (s)")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run without chaos, for the wall-time ratio",
    )
    args = parser.parse_args()
    members = list(generate_members(args.members, seed=11, id_prefix="chaos-"))

    def progress(message: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="nnmatch-chaos-") as tmp:
        state = Path(tmp)
        stack = devstack.up(
            state / "stack", kafka_port=free_port(), redis_port=free_port(), environ={}
        )
        try:
            chaotic = one_run(stack, "chaos", state / "logs", members, args, True, progress)
            baseline = (
                one_run(stack, "calm", state / "logs", members, args, False, progress)
                if args.baseline
                else None
            )
        finally:
            devstack.down(state / "stack")
    result: dict[str, Any] = {
        "benchmark": "chaos",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": vars(args),
        "targets": {"suggestions_lost": 0, "suggestions_duplicated": 0},
        "chaos": chaotic,
        "baseline_no_chaos": baseline,
        "wall_time_ratio_chaos_vs_baseline": (
            round(chaotic["wall_s"] / baseline["wall_s"], 2) if baseline else None
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")
    if chaotic["suggestions_lost"] or chaotic["suggestions_duplicated"]:
        raise SystemExit("chaos lost or duplicated suggestions: see the results")


if __name__ == "__main__":
    main()
