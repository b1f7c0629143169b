"""Import benchmark: new inbox items per member after importing N seeded members, quiet imports
against today's behaviour in the same run.

Not part of `make test`. Run: `.venv/bin/python bench/bench_import.py --members 2000`
(each mode embeds every member once: a few minutes per mode on 2 cores). Writes
`bench/results/import-<timestamp>.json`.

Each mode is a fresh namespace on one private broker and Redis, with the three services as
processes: the seeded members go through `nnmatch import`'s own code (the importer, the bulk
API), then Kafka, the embedder, the matcher and notifications. Modes differ only by
`NNMATCH_NOTIFY_SETTLE_SECONDS`: 0 is today's behaviour (every update delivered at once), the
quiet mode uses the default. Once the pipeline has caught up and no list is held any more,
every member's whole inbox and whole current list are read, and the bench reports the new
inbox items per member (mean, p50, p95, max) and the suggestions delivered that are no longer
in the member's own list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

from nnmatch.auth import DevTokens, Role
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_tools import devstack
from nnmatch_tools.demo import wait_for_pipeline
from nnmatch_tools.import_source import read_ndjson
from nnmatch_tools.importer import BulkPoster, ResumeState, run_import
from nnmatch_tools.launcher import ServiceGroup
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
QUIET_DEFAULT_S = NotificationsSettings.model_fields["notify_settle_seconds"].default


def _write_members(path: Path, members: int, seed: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for line in generate_members(members, seed=seed):
            out.write(line.model_dump_json() + "\n")


async def _import(source: Path, profiles_url: str, tokens: DevTokens) -> int:
    async with httpx.AsyncClient(timeout=120) as http:
        poster = BulkPoster(http, profiles_url, tokens)
        begun = ResumeState(file=str(source), fingerprint="bench", target=profiles_url)
        done = await run_import(read_ndjson(source), poster, begun, lambda _s: None, chunk=500)
    return done.accepted


def _paged(http: httpx.Client, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        response = http.get(url, params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _wait_for_pipeline(matching: str, notifications: str, members: int, timeout: float) -> None:
    """demo's wait, carrying on when a loaded service answers /metrics too slowly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            wait_for_pipeline(matching, notifications, members, deadline - time.monotonic())
            return
        except httpx.TimeoutException:
            time.sleep(2)


def _wait_released(redis_url: str, prefix: str, timeout: float) -> float:
    """Until no list is held (quiet mode); seconds waited."""
    started = time.monotonic()
    redis = Redis.from_url(redis_url)
    try:
        while time.monotonic() - started < timeout:
            if not redis.zcard(f"{prefix}settle-due"):
                return time.monotonic() - started
            time.sleep(1.0)
    finally:
        redis.close()
    raise TimeoutError(f"lists still held after {timeout:.0f} s")


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 2),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def one_mode(
    stack: devstack.DevStack, name: str, settle_s: float, source: Path, members: int, logs: Path
) -> dict[str, Any]:
    prefix = f"nnmatch:{name}:"
    env = stack.env() | {
        "NNMATCH_TOPIC_PREFIX": f"{name}.",
        "NNMATCH_REDIS_PREFIX": prefix,
        "NNMATCH_NOTIFY_SETTLE_SECONDS": str(settle_s),
        "NNMATCH_RATE_LIMIT_WRITES": "100000/minute",
        "NNMATCH_LOG_FORMAT": "json",
    }
    services = ("profiles", "matching", "notifications")
    (logs / name).mkdir(parents=True, exist_ok=True)
    group = ServiceGroup.create(logs / name, ports=dict.fromkeys(services, 0), names=services)
    tokens = DevTokens(devstack.dev_auth_dir(STATE))
    group.start(env, timeout=300)
    try:
        started = time.monotonic()
        accepted = asyncio.run(_import(source, group["profiles"].url, tokens))
        imported_s = time.monotonic() - started
        _wait_for_pipeline(group["matching"].url, group["notifications"].url, members, 3600)
        caught_up_s = time.monotonic() - started
        held_s = _wait_released(stack.redis.address, prefix, 600) if settle_s else 0.0
        time.sleep(3)  # one more tick of the releaser and the consumers
        settled_s = time.monotonic() - started
        items_per_member: list[int] = []
        dropped_per_member: list[int] = []
        with httpx.Client(timeout=30) as http:
            for line in generate_members(members, seed=SEED):
                member = line.member_id
                headers = {"authorization": f"Bearer {tokens.token(Role.MEMBER, member)}"}
                inbox = _paged(
                    http, f"{group['notifications'].url}/v1/members/{member}/inbox", headers
                )
                current = {
                    m["member_id"]
                    for m in _paged(
                        http, f"{group['matching'].url}/v1/members/{member}/matches", headers
                    )
                }
                shown = [i["suggestion"]["member_id"] for i in inbox if i["kind"] == "suggestion"]
                items_per_member.append(len(shown))
                dropped_per_member.append(sum(1 for c in shown if c not in current))
    finally:
        group.stop()
    delivered = sum(items_per_member)
    dropped = sum(dropped_per_member)
    return {
        "notify_settle_seconds": settle_s,
        "accepted": accepted,
        "import_s": round(imported_s, 1),
        "pipeline_caught_up_s": round(caught_up_s, 1),
        "held_lists_released_after_s": round(held_s, 1),
        "settled_s": round(settled_s, 1),
        "members_read": len(items_per_member),
        "inbox_items_per_member": _summary(items_per_member),
        "members_over_5": sum(1 for n in items_per_member if n > 5),
        "members_with_none": sum(1 for n in items_per_member if n == 0),
        "delivered": delivered,
        "no_longer_in_list": dropped,
        "no_longer_in_list_share": round(dropped / delivered, 4) if delivered else 0.0,
        "members_with_dropped": sum(1 for n in dropped_per_member if n),
    }


STATE = Path(tempfile.gettempdir()) / "nnmatch-bench-import"
SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=QUIET_DEFAULT_S, help="quiet mode window")
    parser.add_argument(
        "--baseline-members",
        type=int,
        default=None,
        help="members in today's mode (default: --members; 0: no baseline)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    stack = devstack.up(STATE, timeout=120)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    baseline = args.members if args.baseline_members is None else args.baseline_members
    modes = [("quiet", args.settle, args.members)] + (
        [("today", 0.0, baseline)] if baseline else []
    )
    results: dict[str, Any] = {}
    report: dict[str, Any] = {
        "benchmark": "import",
        "command": f"python bench/bench_import.py --members {args.members} --settle "
        f"{args.settle} --baseline-members {baseline}",
        "when": stamp,
        "modes": results,
        "logs": str(work),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"import-{stamp}.json"
    try:
        for mode, settle_s, members in modes:
            source = work / f"members-{members}.ndjson"
            _write_members(source, members, SEED)
            print(f"{mode}: {members} members, NNMATCH_NOTIFY_SETTLE_SECONDS={settle_s} …")
            results[mode] = {"members": members} | one_mode(
                stack, f"bi{stamp.lower()}{mode}", settle_s, source, members, work
            )
            print(json.dumps(results[mode], indent=1), flush=True)
            path.write_text(json.dumps(report, indent=1) + "\n")  # each mode as it ends
    finally:
        devstack.down(STATE)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
