"""Import benchmark: new inbox items per member after importing N seeded members, quiet imports
against today's behaviour in the same run; with `--backfill`, the backfill's own figures.

Not part of `make test`. Run: `.venv/bin/python bench/bench_import.py --members 2000`
(each mode embeds every member once: a few minutes per mode on 2 cores). Writes
`bench/results/import-<timestamp>.json`. `--backfill --members 5000` runs the quiet mode alone
and skips reading inboxes: the figures of loading a community (see `backfill` below);
`--split-roles` runs the matching service as the Kubernetes manifests deploy it, an embedder
process and a matcher process, instead of one process with both roles.

Each mode is a fresh namespace on one private broker and Redis, with the three services as
processes: the seeded members go through `nnmatch import`'s own code (the importer, the bulk
API), then Kafka, the embedder, the matcher and notifications. Modes differ only by
`NNMATCH_NOTIFY_SETTLE_SECONDS` (and `NNMATCH_MATCHER_IMPORT_QUIET_S`): 0 is today's behaviour
(every update ranked and delivered as it comes), the quiet mode uses the defaults. Once the
pipeline has caught up and no list is held any more, every member's whole inbox and whole
current list are read, and the bench reports the new
inbox items per member (mean, p50, p95, max) and the suggestions delivered that are no longer
in the member's own list.

Every mode also records the backfill: the services' time to ready, wall time from the first
bulk request to a caught-up pipeline, texts/s (the seeded members' non-empty texts over that
time, and over the embedder's own busy seconds), a series sampled every `--sample-s` seconds
of what each consumer group consumed and its lag, and each process's peak RSS (VmHWM). Before
the services start, the bench process encodes a sample of the same texts with the same
backend (NNMATCH_EMBEDDING_BACKEND, default openvino) on the idle machine: the raw figure the
pipeline's texts/s is divided by.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx
from redis import Redis

from nnmatch.auth import DevTokens, Role
from nnmatch.profile import MAX_BIO, BulkProfileLine
from nnmatch_matching.embedding.embedder import configured_embedder
from nnmatch_matching.embedding.texts import chunk_text, member_texts
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_tools import devstack
from nnmatch_tools.client import metric_sum, scrape
from nnmatch_tools.demo import CONSUMED, LAG, QUEUED, PipelineTimeout, wait_for_pipeline
from nnmatch_tools.import_source import read_ndjson
from nnmatch_tools.importer import BulkPoster, ResumeState, run_import
from nnmatch_tools.launcher import ServiceGroup, ServiceProcess
from nnmatch_tools.machine import describe_machine
from nnmatch_tools.ports import free_port
from nnmatch_tools.realset import load as realset
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
QUIET_DEFAULT_S = NotificationsSettings.model_fields["notify_settle_seconds"].default


def seeded_members(members: int, long_bios: int = 0) -> Iterator[BulkProfileLine]:
    """The members the bench imports. With `long_bios`, each seeded bio is followed by a real
    researcher's papers (the ACL set's titles and abstracts, as `nnmatch eval --set real` loads
    them, person by person in turn) and cut at a word near that many characters: the
    research-length bios of a real community's import, several chunks each to embed."""
    lines = generate_members(members, seed=SEED)
    if long_bios <= 0:
        yield from lines
        return
    people = realset.load().people
    limit = min(long_bios, MAX_BIO)
    for index, line in enumerate(lines):
        bio = f"{line.bio}\n\n{realset.bio_of(people[index % len(people)])}"
        yield line.model_copy(update={"bio": realset.cut_at_word(bio, limit)})


def _write_members(path: Path, members: int, long_bios: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for line in seeded_members(members, long_bios):
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


def _wait_for_pipeline(
    matching: list[str], notifications: str, members: int, timeout: float
) -> None:
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


def _wait_model_ranked(redis_url: str, prefix: str, timeout: float) -> dict[str, str]:
    """Until the embedder's model change is complete and a matcher re-ranked everyone with
    the new model (the `embedding-model` hash); its fields then."""
    deadline = time.monotonic() + timeout
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        while time.monotonic() < deadline:
            status: dict[str, str] = redis.hgetall(f"{prefix}embedding-model")  # type: ignore[assignment]
            if (
                status.get("replacing")
                and status.get("state") == "complete"
                and status.get("ranked") == status.get("current")
            ):
                return status
            time.sleep(2.0)
    finally:
        redis.close()
    raise PipelineTimeout(f"the model change was not complete and ranked after {timeout:.0f} s")


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 2),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def member_documents(members: int, long_bios: int = 0) -> list[str]:
    """The non-empty texts the embedder gets for the first `members` seeded members."""
    return [
        text
        for line in seeded_members(members, long_bios)
        for text in member_texts(line.profile()).values()
        if text.strip()
    ]


def raw_encode(sample_members: int, rounds: int = 3, long_bios: int = 0) -> dict[str, Any]:
    """The configured backend's raw `encode` on the distinct chunks of a sample's texts, in
    this process on the idle machine (median of `rounds`); texts/s counts the texts."""
    embedder = configured_embedder(MatchingSettings(service_name="bench-backfill"))
    documents = member_documents(sample_members, long_bios)
    chunks = list(dict.fromkeys(c for d in documents for c in chunk_text(d)))
    embedder.encode(chunks[:64])  # warm-up
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        embedder.encode(chunks)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "model": f"{embedder.model.id}@{embedder.model.version}",
        "members": sample_members,
        "texts": len(documents),
        "chunks": len(chunks),
        "seconds": [round(x, 2) for x in seconds],
        "texts_per_s": round(len(documents) / median, 1),
    }


def _status_kib(pid: int, field_name: str) -> int:
    """A /proc/<pid>/status size (VmHWM: peak resident set; VmRSS: now) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    return 0


class Sampler:
    """Every `interval` seconds until stopped: consumed records and lag per consumer group,
    texts embedded, the embedder's busy seconds and each process's RSS."""

    def __init__(self, group: ServiceGroup, interval: float) -> None:
        self._group = group
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()
        self.samples: list[dict[str, float]] = []

    def __enter__(self) -> Self:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _one(self) -> dict[str, float]:
        matching = scrape(*matching_urls(self._group), timeout=10)
        notifications = scrape(self._group["notifications"].url, timeout=10)
        sample: dict[str, float] = {"t": round(time.monotonic() - self.started, 1)}
        for role in ("embedder", "matcher"):
            group = f"nnmatch-{role}"
            sample[f"{role}_consumed"] = metric_sum(matching, CONSUMED, group=group)
            sample[f"{role}_lag"] = metric_sum(matching, LAG, group=group)
        sample["matcher_queued"] = metric_sum(matching, QUEUED)
        # Batches whose handler failed and were redelivered (every group of the matching
        # processes), and publishes of lists retried: a real import once failed 39 batches.
        sample["batch_failures"] = metric_sum(matching, "nnmatch_kafka_batch_failures_total")
        sample["matches_publish_retries"] = metric_sum(
            matching, "nnmatch_matches_publish_retries_total"
        )
        sample["matcher_import_streaming"] = metric_sum(
            matching, "nnmatch_matcher_import_streaming"
        )
        sample["notifications_consumed"] = metric_sum(notifications, CONSUMED)
        sample["notifications_lag"] = metric_sum(notifications, LAG)
        sample["texts_embedded"] = metric_sum(
            matching, "nnmatch_embedding_texts_total", outcome="embedded"
        )
        sample["embedding_busy_s"] = round(
            metric_sum(matching, "nnmatch_embedding_batch_duration_seconds_sum"), 2
        )
        for name, service in self._group.services.items():
            if service.process_id is not None:
                sample[f"{name}_rss_mib"] = round(_status_kib(service.process_id, "VmRSS") / 1024)
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            # a loaded service answering too slowly skips one sample
            with contextlib.suppress(httpx.HTTPError, OSError):
                self.samples.append(self._one())
            self._stop.wait(self.interval)


def matching_urls(group: ServiceGroup) -> list[str]:
    """The matching service's processes: one, or an embedder and a matcher (`--split-roles`)."""
    return [s.url for s in group.services.values() if s.name == "matching"]


def service_group(log_dir: Path, split_roles: bool) -> ServiceGroup:
    """Profiles, matching and notifications; with `split_roles` matching runs as two
    processes, as the Kubernetes manifests deploy it: an embedder, and a matcher with hubs."""
    if not split_roles:
        services = ("profiles", "matching", "notifications")
        return ServiceGroup.create(log_dir, ports=dict.fromkeys(services, 0), names=services)
    roles = {"embedder": '["embedder"]', "matcher": '["matcher", "hubs"]'}
    matching = {
        name: ServiceProcess(
            "matching", free_port(), log_dir / f"{name}.log", own_env={"NNMATCH_ROLES": value}
        )
        for name, value in roles.items()
    }
    return ServiceGroup(
        {
            "profiles": ServiceProcess("profiles", free_port(), log_dir / "profiles.log"),
            **matching,
            "notifications": ServiceProcess(
                "notifications", free_port(), log_dir / "notifications.log"
            ),
        }
    )


def backfill_figures(
    sampler: Sampler,
    group: ServiceGroup,
    members: int,
    wall_s: float,
    raw: dict[str, Any] | None,
    long_bios: int = 0,
) -> dict[str, Any]:
    """What loading `members` cost: texts/s (wall and embedder-busy), the ratio to the raw
    encode, the matcher's lag (peak, and when it last exceeded 0) and each peak RSS."""
    texts = len(member_documents(members, long_bios))
    last = sampler.samples[-1] if sampler.samples else {}
    busy = last.get("embedding_busy_s", 0.0)
    wall_rate = texts / wall_s if wall_s else 0.0
    busy_rate = texts / busy if busy else 0.0
    lagging = [x["t"] for x in sampler.samples if x["matcher_lag"] > 0]
    figures: dict[str, Any] = {
        "texts": texts,
        "texts_per_s_wall": round(wall_rate, 1),
        "embedder_busy_s": busy,
        "texts_per_s_embedder_busy": round(busy_rate, 1),
        "matcher_lag_peak": max((x["matcher_lag"] for x in sampler.samples), default=0),
        "batch_failures": last.get("batch_failures"),
        "matches_publish_retries": last.get("matches_publish_retries"),
        "matcher_lag_last_above_0_at_s": lagging[-1] if lagging else 0.0,
        "peak_rss_mib": {
            name: round(_status_kib(service.process_id, "VmHWM") / 1024)
            for name, service in group.services.items()
            if service.process_id is not None
        },
        "sample_interval_s": sampler.interval,
        "series": sampler.samples,
    }
    if raw:
        figures["wall_vs_raw_encode"] = round(wall_rate / raw["texts_per_s"], 3)
        figures["embedder_busy_vs_raw_encode"] = round(busy_rate / raw["texts_per_s"], 3)
    return figures


def one_mode(
    stack: devstack.DevStack,
    name: str,
    settle_s: float,
    source: Path,
    members: int,
    logs: Path,
    read_inboxes: bool = True,
    raw: dict[str, Any] | None = None,
    sample_s: float = 2.0,
    deadline_s: float = 3600.0,
    split_roles: bool = False,
    upgrade_to: str | None = None,
    long_bios: int = 0,
) -> dict[str, Any]:
    """One import, measured; a pipeline not caught up within `deadline_s` still gives its
    figures so far (`caught_up` false, the series up to the deadline), inboxes not read.
    `upgrade_to`: once caught up, the matching processes restart on that backend (a first
    pass switched back), and the re-embed and re-rank of everyone are timed before the
    inboxes are read."""
    prefix = f"nnmatch:{name}:"
    env = stack.env() | {
        "NNMATCH_TOPIC_PREFIX": f"{name}.",
        "NNMATCH_REDIS_PREFIX": prefix,
        "NNMATCH_NOTIFY_SETTLE_SECONDS": str(settle_s),
        "NNMATCH_RATE_LIMIT_WRITES": "100000/minute",
        "NNMATCH_LOG_FORMAT": "json",
    }
    if not settle_s:  # today's mode is the behaviour before quiet imports: no matcher pause
        env["NNMATCH_MATCHER_IMPORT_QUIET_S"] = "0"
    (logs / name).mkdir(parents=True, exist_ok=True)
    group = service_group(logs / name, split_roles)
    tokens = DevTokens(devstack.dev_auth_dir(STATE))
    booting = time.monotonic()
    group.start(env, timeout=300)
    ready_s = time.monotonic() - booting
    try:
        with Sampler(group, sample_s) as sampler:
            started = time.monotonic()
            accepted = asyncio.run(_import(source, group["profiles"].url, tokens))
            imported_s = time.monotonic() - started
            timed_out = None
            try:
                _wait_for_pipeline(
                    matching_urls(group), group["notifications"].url, members, deadline_s
                )
            except PipelineTimeout as error:
                timed_out = str(error)
            caught_up_s = time.monotonic() - started
        backfill = backfill_figures(sampler, group, members, caught_up_s, raw, long_bios)
        if timed_out:
            print(f"not caught up: {timed_out}", flush=True)
            backfill |= {"caught_up": False, "not_caught_up": timed_out}
            read_inboxes = False
            settle_s = 0.0  # lists still change: do not wait for them to be released
        else:
            backfill["caught_up"] = True
        held_s: float | None = 0.0
        if settle_s:
            try:
                held_s = _wait_released(stack.redis.address, prefix, 600)
            except TimeoutError as error:  # recorded, not fatal: the figures above still stand
                print(f"{error}", flush=True)
                held_s, read_inboxes = None, False
        upgrade: dict[str, Any] | None = None
        if upgrade_to and not timed_out:
            upgrade = _upgrade(group, upgrade_to, stack.redis.address, prefix, deadline_s)
        time.sleep(3)  # one more tick of the releaser and the consumers
        settled_s = time.monotonic() - started
        items_per_member: list[int] = []
        dropped_per_member: list[int] = []
        lists_url = matching_urls(group)[-1]  # the matcher's process, when split
        with httpx.Client(timeout=30) as http:
            for line in generate_members(members if read_inboxes else 0, seed=SEED):
                member = line.member_id
                headers = {"authorization": f"Bearer {tokens.token(Role.MEMBER, member)}"}
                inbox = _paged(
                    http, f"{group['notifications'].url}/v1/members/{member}/inbox", headers
                )
                current = {
                    m["member_id"]
                    for m in _paged(http, f"{lists_url}/v1/members/{member}/matches", headers)
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
        "services_ready_s": round(ready_s, 1),
        "accepted": accepted,
        "import_s": round(imported_s, 1),
        "pipeline_caught_up_s": round(caught_up_s, 1),
        "held_lists_released_after_s": None if held_s is None else round(held_s, 1),
        "settled_s": round(settled_s, 1),
        "backfill": backfill,
        "upgrade": upgrade,
        "members_read": len(items_per_member),
        "inbox_items_per_member": _summary(items_per_member) if items_per_member else {},
        "members_over_5": sum(1 for n in items_per_member if n > 5),
        "members_with_none": sum(1 for n in items_per_member if n == 0),
        "delivered": delivered,
        "no_longer_in_list": dropped,
        "no_longer_in_list_share": round(dropped / delivered, 4) if delivered else 0.0,
        "members_with_dropped": sum(1 for n in dropped_per_member if n),
    }


def _upgrade(
    group: ServiceGroup,
    backend: str,
    redis_url: str,
    prefix: str,
    deadline_s: float,
) -> dict[str, Any]:
    """Restart the matching processes on `backend` and time the switch: the re-embed of
    everyone, the re-rank once it is complete, and the delivery of the settled lists."""
    matching = [s for s in group.services.values() if s.name == "matching"]
    for process in matching:
        process.stop()
        process.own_env = process.own_env | {"NNMATCH_EMBEDDING_BACKEND": backend}
    started = time.monotonic()
    for process in matching:
        process.start(group.env)  # what the group started with: its addresses and `env`
    for process in matching:
        process.wait_ready(300)
    print(f"upgrade: matching restarted on {backend}; re-embedding everyone …", flush=True)
    status = _wait_model_ranked(redis_url, prefix, deadline_s)
    ranked_s = time.monotonic() - started
    _wait_for_pipeline(
        [p.url for p in matching], group["notifications"].url, 0, deadline_s - ranked_s
    )
    caught_up_s = time.monotonic() - started
    held_s = _wait_released(redis_url, prefix, 600)
    return {
        "backend": backend,
        "model": status.get("current"),
        "reembedded": int(status.get("reembedded") or 0),
        "reembedded_and_ranked_s": round(ranked_s, 1),
        "pipeline_caught_up_s": round(caught_up_s, 1),
        "held_lists_released_after_s": round(held_s, 1),
    }


STATE = Path(tempfile.gettempdir()) / "nnmatch-bench-import"
SEED = 42


def backend_prefix() -> str:
    """The embedding backend chosen in the environment, as the command's prefix."""
    backend = os.environ.get("NNMATCH_EMBEDDING_BACKEND")
    return f"NNMATCH_EMBEDDING_BACKEND={backend} " if backend else ""


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
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="the quiet mode alone, inboxes not read: the backfill's figures",
    )
    parser.add_argument("--raw-sample", type=int, default=500, help="members of the raw encode")
    parser.add_argument("--sample-s", type=float, default=2.0, help="series sampling interval")
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=3600.0,
        help="seconds the pipeline has to catch up; past it the figures so far are recorded",
    )
    parser.add_argument(
        "--split-roles",
        action="store_true",
        help="matching as two processes, an embedder and a matcher (as in k8s/), not one",
    )
    parser.add_argument(
        "--upgrade-to",
        default=None,
        help="after the import (e.g. on NNMATCH_EMBEDDING_BACKEND=static), restart matching on "
        "this backend and time the re-embed and re-rank of everyone (inboxes read after it)",
    )
    parser.add_argument(
        "--long-bios",
        type=int,
        default=0,
        metavar="CHARS",
        help="each seeded bio followed by a real researcher's papers, up to about CHARS "
        f"characters (at most {MAX_BIO}; 0: the seeded bios alone)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    baseline = args.members if args.baseline_members is None else args.baseline_members
    if args.backfill:
        baseline = 0
    modes = [("quiet", args.settle, args.members)] + (
        [("today", 0.0, baseline)] if baseline else []
    )
    machine = describe_machine()  # first: the load before our own work
    print(f"raw encode of {args.raw_sample} members' texts …", flush=True)
    raw = raw_encode(min(args.raw_sample, args.members), long_bios=args.long_bios)
    print(json.dumps(raw), flush=True)
    results: dict[str, Any] = {}
    report: dict[str, Any] = {
        "benchmark": "import",
        "command": backend_prefix()
        + f"python bench/bench_import.py --members {args.members} --settle "
        f"{args.settle} --baseline-members {baseline}"
        + (" --backfill" if args.backfill else "")
        + f" --raw-sample {args.raw_sample} --sample-s {args.sample_s}"
        + f" --deadline-s {args.deadline_s}"
        + (" --split-roles" if args.split_roles else "")
        + (f" --upgrade-to {args.upgrade_to}" if args.upgrade_to else "")
        + (f" --long-bios {args.long_bios}" if args.long_bios else ""),
        "when": stamp,
        "machine": machine,
        "raw_encode": raw,
        "modes": results,
        "logs": str(work),
    }
    stack = devstack.up(STATE, timeout=120)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"import-{stamp}.json"
    try:
        for mode, settle_s, members in modes:
            source = work / f"members-{members}.ndjson"
            _write_members(source, members, args.long_bios)
            print(f"{mode}: {members} members, NNMATCH_NOTIFY_SETTLE_SECONDS={settle_s} …")
            results[mode] = {"members": members} | one_mode(
                stack,
                f"bi{stamp.lower()}{mode}",
                settle_s,
                source,
                members,
                work,
                read_inboxes=not args.backfill,
                raw=raw,
                sample_s=args.sample_s,
                deadline_s=args.deadline_s,
                split_roles=args.split_roles,
                upgrade_to=args.upgrade_to if mode == "quiet" else None,
                long_bios=args.long_bios,
            )
            shown = {k: v for k, v in results[mode].items() if k != "backfill"}
            shown["backfill"] = {
                k: v for k, v in results[mode]["backfill"].items() if k != "series"
            }
            print(json.dumps(shown, indent=1), flush=True)
            path.write_text(json.dumps(report, indent=1) + "\n")  # each mode as it ends
    finally:
        devstack.down(STATE)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
