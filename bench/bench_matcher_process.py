"""Matcher process benchmark (issue 15): the matcher role alone, as a real process, replaying
N members' vectors from `profile-vectors.v1`: its memory, its time to every member's list, and
one member's matches over HTTP.

Not part of `make test`. Run: `.venv/bin/python bench/bench_matcher_process.py --members 55000`
(about 25 minutes on 2 cores). Writes `bench/results/matcher-process-<timestamp>.json`.

What it does, on a private broker and Redis (the dev stack, as `bench_import.py` uses it):

1. Vectors: `--embed-sample` seeded members are embedded with the configured backend; every
   other member gets a blend of two sampled members' vectors plus noise (`bench_scale`'s
   `blended_vectors`), so the matcher holds N members without an hour of embedding.
2. All N `ProfileVectorsComputed` records are written to `profile-vectors.v1` first, as after
   an import; then the matching service starts with `NNMATCH_ROLES=["matcher"]` and replays
   them, as a restarted replica does.
3. Every `--sample-s` seconds: the process's RSS, the members indexed, lists computed and the
   matcher group's lag. Done when all N are indexed, the lag is 0 and lists stopped changing
   for two samples.
4. Then `GET /v1/members/{id}/matches` for `--queries` members, and `POST /v1/search` for
   about as many hub searches (a third narrowed by a country or an SDG), timed from outside;
   each search beside its baseline timed right after it: the same query embedded by the
   bench with the same backend, then a raw FAISS top 20 on the offers vectors.

With `--replicas N` (N > 1) N matcher processes run as `k8s/overlays/prod` runs them: each
holds the whole index (it replays every partition in a group of its own) and ranks and
publishes the lists of the partitions it owns. Then lists computed are summed over them, the
lag is every replica's, the members indexed the fewest any holds, and the RSS reported the
largest one's (each one's is in the JSON too).

With `--update-rate R` (and `--update-duration S`), after that: an embedder process starts
(`NNMATCH_ROLES=["embedder"]`) and the bench writes R profile edits a second for S seconds to
`profiles.v1` (`bench_scale`'s realistic edits: a new seeks, offers or bio text) of members
from the embedded sample, whose earlier vectors it first put in the embedder's cache as a
live embedder would have left them, so each edit embeds only the text that changed. A
reader on `matches.v1` times each edit from its write to the first list of that member at
the new version: update → own list through Kafka (embedder, both replicas, the list's
owner publishing it). After the last edit it polls every process's consumer lag and the
matchers' queued lists: when the lag was 0 again and when the lists the edits altered were
all out. Baseline, timed after in this process on a sample of the same edits: embedding
the changed text with the same backend and one raw FAISS top 100 (what any design must do
for an edit, with no Kafka, no replicas and no lists).

With `--failover` as well, the last replica is then SIGKILLed and the bench reads the
survivor's log: when the group gave it the dead one's partitions (`matcher partitions
assigned` with partitions gained) and when it had checked every list of those partitions
(`checked the lists of gained partitions`: each member ranked from a scan, the lists that
differ published). Judged against the raw FAISS top-100 for the same share of members.

"Every member's list" is the time from the process's start to its settling (every member
indexed, the lag 0, and no list computed over the last three samples): the replay, the lists
and their publishing, through Kafka.

Baselines measured in the same run: the raw bytes of the N members' vectors (what any design
must hold), the RSS of a bare interpreter that imports the matching service (what any design
pays before holding a member), and one raw batched FAISS top-100 search for every member
(seeks against offers, `IndexFlatIP`): the figure "every member's list" is judged against.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np
from aiokafka import TopicPartition
from bench_import import Sampler as ImportSampler
from bench_import import _status_kib
from bench_scale import Update, _percentiles, blended_vectors, make_updates, sampled_vectors, upsert
from redis.asyncio import Redis
from rich.console import Console

from nnmatch.auth import DevTokens, Role
from nnmatch.events import ProfileVectorsComputed, VectorKind, encode_event
from nnmatch.kafka_clients import consumer, producer, start
from nnmatch.profile import BulkProfileLine
from nnmatch.topics import MATCHES, PROFILE_VECTORS, PROFILES, ensure_topics, topic_name
from nnmatch_matching.bootstrap import MATCHER_GROUP, replica_group
from nnmatch_matching.embedding.embedder import Embedder, configured_embedder, embed_documents
from nnmatch_matching.embedding.embedding_cache import (
    CachedEmbedding,
    RedisEmbeddingCache,
    model_key,
)
from nnmatch_matching.embedding.texts import member_texts, text_hash
from nnmatch_matching.embedding.vectorize import vectorize
from nnmatch_matching.settings import MatchingSettings
from nnmatch_tools import devstack
from nnmatch_tools.client import metric_sum, scrape
from nnmatch_tools.demo import CONSUMED, LAG
from nnmatch_tools.evaluate import build_queries
from nnmatch_tools.launcher import ServiceGroup, ServiceProcess
from nnmatch_tools.machine import describe_machine
from nnmatch_tools.ports import free_port
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"
STATE = Path(tempfile.gettempdir()) / "nnmatch-bench-matcher-process"
TARGETS = {
    "matcher_rss_after_replay_mib": 1200.0,
    "every_members_list_s": 180.0,
    "hub_search_p99_ms": 30.0,
    "update_own_list_p50_ms": 200.0,
    "update_own_list_p99_ms": 1000.0,
    "lag_zero_after_last_update_s": 5.0,
}
QUEUED = "nnmatch_matcher_queued_members"
STAGE_AGE = "nnmatch_pipeline_latency_seconds"
HANDLER = "nnmatch_kafka_handler_duration_seconds"
RANKING = "nnmatch_ranking_batch_duration_seconds"
Page = dict[str, list[tuple[dict[str, str], float]]]
TOP_K = 100
console = Console()


def vector_records(
    lines: list[BulkProfileLine], embed_sample: int, embedder: Embedder
) -> list[ProfileVectorsComputed]:
    """N members' vector records: the sample embedded, the rest blended from it."""
    settings = MatchingSettings()
    sampled_lines = lines[:embed_sample]
    records: list[ProfileVectorsComputed] = []
    batch = settings.embedder_max_records
    with console.status(f"embedding {len(sampled_lines)} members …"):
        for start_at in range(0, len(sampled_lines), batch):
            chunk = sampled_lines[start_at : start_at + batch]
            done = asyncio.run(
                vectorize(embedder, [upsert(line, line.profile(), 1) for line in chunk], {}, "b")
            )
            records.extend(done.events)
    records.extend(blended_vectors(sampled_vectors(records), lines, records[0].model))
    return records


async def produce(records: list[ProfileVectorsComputed], env: dict[str, str]) -> float:
    """Write every record to `profile-vectors.v1` (keyed by member); seconds taken."""
    os.environ.update(env)  # the service's own settings, pointed at the bench's stack
    kafka = MatchingSettings().kafka()
    await ensure_topics(kafka)
    topic = topic_name(PROFILE_VECTORS, kafka)
    client = producer(kafka, client_id="bench-matcher-process")
    await start(client, kafka)
    started = time.monotonic()
    try:
        pending = []
        for record in records:
            pending.append(
                await client.send(topic, encode_event(record), key=record.member_id.encode())
            )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await client.stop()
    return time.monotonic() - started


def bare_import_rss_mib() -> float:
    """RSS of an interpreter that has imported the matching service and nothing more."""
    code = (
        "import nnmatch_matching.bootstrap, nnmatch_matching.matcher.engine, pathlib;"
        "print([l for l in pathlib.Path('/proc/self/status').read_text().splitlines()"
        " if l.startswith('VmRSS:')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip()) / 1024, 1)


def raw_faiss_every_list(
    records: list[ProfileVectorsComputed],
) -> tuple[dict[str, Any], faiss.IndexFlatIP]:
    """One batched FAISS top-100 search for every member: seeks against offers (exact, flat);
    and the offers index, which hub search's baseline searches."""
    from nnmatch.events import decode_vector

    def matrix(kind: VectorKind) -> np.ndarray:
        rows = [r.vectors.get(kind) for r in records]
        dims = len(decode_vector(next(v for v in rows if v)))
        return np.stack(
            [decode_vector(v) if v else np.zeros(dims, np.float32) for v in rows]
        ).astype(np.float32)

    offers, seeks = matrix(VectorKind.OFFERS), matrix(VectorKind.SEEKS)
    index = faiss.IndexFlatIP(offers.shape[1])
    index.add(offers)
    started = time.perf_counter()
    index.search(seeks, TOP_K + 1)
    seconds = time.perf_counter() - started
    raw_bytes = offers.nbytes + seeks.nbytes + matrix(VectorKind.PROFILE).nbytes
    figures = {
        "raw_faiss_top100_every_member_s": round(seconds, 2),
        "raw_vectors_mib": round(raw_bytes / 2**20, 1),
    }
    return figures, index


def replica_id(index: int, replicas: int) -> str:
    """`NNMATCH_REPLICA_ID` of the bench's replica `index`: empty for a lone matcher."""
    return f"r{index}" if replicas > 1 else ""


def replicas_of(logs: Path, count: int) -> ServiceGroup:
    """`count` matcher processes: one as the service runs alone, or replicas that each hold
    the whole index and rank the lists of the partitions they own."""
    if count == 1:
        return ServiceGroup.create(logs, ports={"matching": 0}, names=("matching",))
    services = {}
    for index in range(count):
        rid = replica_id(index, count)
        process = ServiceProcess("matching", free_port(), logs / f"matching-{rid}.log")
        process.own_env = {"NNMATCH_REPLICA_ID": rid, "NNMATCH_SERVICE_NAME": f"matching-{rid}"}
        services[f"matching-{rid}"] = process
    return ServiceGroup(services)


class Sampler(ImportSampler):
    """`bench_import`'s sampler on the matcher replicas alone: each one's RSS, members
    indexed (the fewest any replica holds), lists computed (all replicas') and the lag of
    each one's group."""

    def _one(self) -> dict[str, float]:
        sample: dict[str, float] = {"t": round(time.monotonic() - self.started, 1)}
        services = list(self._group.services.values())
        rss = {}
        for name, service in self._group.services.items():
            if service.process_id is not None:
                rss[name] = round(_status_kib(service.process_id, "VmRSS") / 1024)
        if rss:
            sample["rss_mib"] = max(rss.values())  # one process's figure: the largest
            if len(services) > 1:
                sample |= {f"{name}_rss_mib": value for name, value in rss.items()}
        try:
            indexed, computed, consumed, lag = [], 0.0, 0.0, 0.0
            for index, service in enumerate(services):
                page = scrape(service.url, timeout=10)
                group = replica_group(MATCHER_GROUP, replica_id(index, len(services)))
                indexed.append(metric_sum(page, "nnmatch_index_members"))
                computed += metric_sum(page, "nnmatch_matches_computed_total")
                consumed += metric_sum(page, CONSUMED, group=group)
                lag += metric_sum(page, LAG, group=group)
            sample |= {"indexed": min(indexed), "lists_computed": computed}
            sample |= {"consumed": consumed, "lag": lag}
        except (httpx.HTTPError, OSError):
            pass  # not up yet, or too busy to answer: the RSS alone is still a sample
        return sample

    def settled_at(self, members: int) -> float | None:
        """When the matcher was last busy: all N indexed, lag 0 and no list computed since,
        over the last three samples (None: still working)."""
        full = [s for s in self.samples if "indexed" in s]
        if len(full) < 3:
            return None
        a, b, c = full[-3:]
        settled = (
            c["indexed"] >= members
            and c["lag"] == 0
            and c["lists_computed"] >= members
            and a["lists_computed"] == b["lists_computed"] == c["lists_computed"]
        )
        return a["t"] if settled else None


def first_time(samples: list[dict[str, float]], key: str, at_least: float) -> float | None:
    return next((s["t"] for s in samples if s.get(key, -1) >= at_least), None)


def http_matches(url: str, tokens: DevTokens, ids: list[str]) -> dict[str, Any]:
    seconds: list[float] = []
    sizes: list[int] = []
    with httpx.Client(timeout=30) as http:
        for member in ids:
            headers = {"authorization": f"Bearer {tokens.token(Role.MEMBER, member)}"}
            started = time.perf_counter()
            answer = http.get(f"{url}/v1/members/{member}/matches", headers=headers)
            seconds.append(time.perf_counter() - started)
            answer.raise_for_status()
            sizes.append(len(answer.json()["items"]))
    return {"latency": _percentiles(seconds), "items_mean": statistics.fmean(sizes)}


def search_queries(lines: list[BulkProfileLine], count: int) -> list[dict[str, Any]]:
    """Hub search bodies as bench_scale makes them: realistic texts; every third narrowed by
    a country or an SDG."""
    rng = random.Random(5)
    texts = [q.text for q in build_queries(lines[:3000], max(1, count // 2), rng)]
    bodies: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        member = rng.choice(lines)
        filters: dict[str, list[Any]] = {}
        if i % 6 == 1:
            filters = {"countries": [member.country]}
        elif i % 6 == 4 and member.sdgs:
            filters = {"sdgs": [member.sdgs[0]]}
        bodies.append({"query": text, "filters": filters, "limit": 20})
    return bodies


def hub_search_over_http(
    url: str,
    tokens: DevTokens,
    bodies: list[dict[str, Any]],
    embedder: Embedder,
    offers: faiss.IndexFlatIP,
) -> dict[str, Any]:
    """POST /v1/search timed from outside, each beside its baseline timed right after it in
    this process: the same query embedded with the same backend, then a raw FAISS top 20."""
    headers = {"authorization": f"Bearer {tokens.token(Role.HUB, 'bench-hub')}"}
    timed: dict[str, tuple[list[float], list[float]]] = {
        "unfiltered": ([], []),
        "filtered": ([], []),
    }
    with httpx.Client(timeout=60) as http:
        http.post(f"{url}/v1/search", json=bodies[0], headers=headers).raise_for_status()  # warm
        for body in bodies:
            started = time.perf_counter()
            answer = http.post(f"{url}/v1/search", json=body, headers=headers)
            ours = time.perf_counter() - started
            answer.raise_for_status()
            started = time.perf_counter()
            vector = embed_documents(embedder, [body["query"]])
            offers.search(np.asarray(vector, dtype=np.float32), 20)
            raw = time.perf_counter() - started
            kind = "filtered" if body["filters"] else "unfiltered"
            timed[kind][0].append(ours)
            timed[kind][1].append(raw)
    out: dict[str, Any] = {}
    for kind, (ours_s, raw_s) in timed.items():
        if not ours_s:
            continue
        mine, theirs = _percentiles(ours_s), _percentiles(raw_s)
        out[kind] = {
            "nnmatch_search_over_http": mine,
            "raw_embedding_plus_faiss_top20": theirs,
            "ratio_p99_to_raw": round(mine["p99_ms"] / theirs["p99_ms"], 2),
        }
    return out


def log_events(path: Path, start: int, messages: set[str]) -> list[dict[str, Any]]:
    """The JSON log entries after byte `start` of `path` whose message is one of `messages`."""
    with path.open("rb") as log:
        log.seek(start)
        lines = log.read().splitlines()
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a partial last line, or not JSON
        if isinstance(entry, dict) and entry.get("message") in messages:
            found.append(entry)
    return found


GAINED = "matcher partitions assigned"
CHECKED = "checked the lists of gained partitions"


def failover(group: ServiceGroup, timeout_s: float) -> dict[str, Any]:
    """SIGKILL the last replica; time the survivor's takeover from its log (see the module
    docstring). The times are seconds after the kill, from the log's own timestamps."""
    services = list(group.services.values())
    survivor, victim = services[0], services[-1]
    start = survivor.log_path.stat().st_size
    killed_at = datetime.now(UTC)
    victim.kill()
    deadline = time.monotonic() + timeout_s
    gained: dict[str, Any] | None = None
    checked: dict[str, Any] | None = None
    with console.status("failover: waiting for the survivor to take over …"):
        while checked is None and time.monotonic() < deadline:
            time.sleep(1.0)
            events = log_events(survivor.log_path, start, {GAINED, CHECKED})
            gained = next((e for e in events if e["message"] == GAINED and e.get("gained")), None)
            if gained is not None:
                checked = next((e for e in events if e["message"] == CHECKED), None)

    def after_kill(entry: dict[str, Any] | None) -> float | None:
        if entry is None:
            return None
        return round((datetime.fromisoformat(entry["time"]) - killed_at).total_seconds(), 1)

    return {
        "partitions_gained": gained.get("gained") if gained else None,
        "rebalanced_after_s": after_kill(gained),
        "lists_checked_after_s": after_kill(checked),
        "members_checked": checked.get("members") if checked else None,
        "lists_published": checked.get("published") if checked else None,
    }


# --- update → own list through Kafka ------------------------------------------------------------


def cached_embeddings(records: list[ProfileVectorsComputed]) -> list[tuple[str, CachedEmbedding]]:
    """The embedder's cache entries of `records`, as a live embedder leaves them after
    embedding those members: their texts' hashes and vectors, so an edit embeds only the text
    that changed."""
    return [
        (
            r.member_id,
            CachedEmbedding(
                model_key(r.model),
                r.profile_version,
                r.text_hashes,
                {kind: r.vector(kind).astype("<f4").tobytes() for kind in VectorKind},
            ),
        )
        for r in records
    ]


async def put_in_embedder_cache(entries: list[tuple[str, CachedEmbedding]]) -> None:
    settings = MatchingSettings()  # the bench's stack: `produce` put its env in os.environ
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    try:
        await RedisEmbeddingCache(redis, settings.redis_prefix).put_many(entries)
    finally:
        await redis.aclose()


def embedder_process(logs: Path) -> ServiceProcess:
    """The embedder role alone, as a deployment's embedder pods run it."""
    process = ServiceProcess("matching", free_port(), logs / "embedder.log")
    process.own_env = {
        "NNMATCH_ROLES": '["embedder"]',
        "NNMATCH_SERVICE_NAME": "matching-embedder",
    }
    return process


def histogram_delta(before: Page, after: Page, name: str, **labels: str) -> dict[str, Any]:
    """A histogram's observations between two scrapes of one process: how many, their mean,
    and the share within each of a few bounds."""

    def delta(suffix: str, **more: str) -> float:
        return metric_sum(after, name + suffix, **labels, **more) - metric_sum(
            before, name + suffix, **labels, **more
        )

    count = delta("_count")
    if not count:
        return {"count": 0}
    within = {le: round(delta("_bucket", le=le) / count, 3) for le in ("0.1", "0.25", "0.5", "1.0")}
    return {
        "count": int(count),
        "mean_ms": round(delta("_sum") / count * 1000, 1),
        "share_within_s": {le: v for le, v in within.items() if v or le == "0.1"},
    }


def where_the_time_went(
    before: dict[str, Page], after: dict[str, Page], topics: dict[str, str]
) -> dict[str, Any]:
    """Each process's own view of the edits, from its metrics: the embedder's age of a profile
    event when its vectors were out (stage `embedded`, its batch handler's time on
    `profiles.v1`); each replica's age of a vectors event when the lists it ranks for that
    batch were out (stage `matched`: the owner's includes the member's own list), its batch
    handler's time on `profile-vectors.v1` (the engine lock's wait included) and its ranking
    batches' time."""
    out: dict[str, Any] = {}
    for name in after:
        b, a = before.get(name, {}), after[name]
        if name == "embedder":
            out[name] = {
                "stage_embedded": histogram_delta(b, a, STAGE_AGE, stage="embedded"),
                "batch_handler": histogram_delta(b, a, HANDLER, topic=topics["profiles"]),
            }
        else:
            out[name] = {
                "stage_matched": histogram_delta(b, a, STAGE_AGE, stage="matched"),
                "batch_handler": histogram_delta(b, a, HANDLER, topic=topics["vectors"]),
                "ranking_batches": histogram_delta(b, a, RANKING),
            }
    return out


def scrape_each(urls: dict[str, str]) -> dict[str, Page]:
    pages = {}
    for name, url in urls.items():
        with contextlib.suppress(httpx.HTTPError, OSError):
            pages[name] = scrape(url, timeout=10)
    return pages


def processes_idle(urls: list[str]) -> tuple[float, float] | None:
    """Every process's consumer lag and the matchers' queued lists, summed (None: a process
    did not answer)."""
    try:
        page = scrape(*urls, timeout=5)  # the processes' pages read as one
    except (httpx.HTTPError, OSError):
        return None
    return metric_sum(page, LAG), metric_sum(page, QUEUED)


async def updates_through_kafka(
    updates: list[Update], urls: dict[str, str], drain_s: float
) -> dict[str, Any]:
    """Write `updates` to `profiles.v1` on their schedule; time each to its member's first list
    at the new version on `matches.v1`; then poll until the lag is 0 and no list is queued."""
    kafka = MatchingSettings().kafka()
    matches_topic = topic_name(MATCHES, kafka)
    # The reader's own fetch wait is short so that it adds little to what it times.
    reader = consumer(kafka, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10)
    writer = producer(kafka, client_id="bench-matcher-process-updates", linger_ms=0)
    await start(reader, kafka)
    await start(writer, kafka)
    sent: dict[str, float] = {}
    own_s: dict[str, float] = {}
    versions = {u.event.member_id: u.event.version for u in updates}
    lists_seen = 0

    async def read() -> None:
        nonlocal lists_seen
        while True:
            batch = await reader.getmany(timeout_ms=100, max_records=5000)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    lists_seen += 1
                    member = record.key.decode() if record.key else None
                    if member not in sent or member in own_s or record.value is None:
                        continue  # another member's list, or a tombstone: not parsed
                    head = json.loads(record.value)  # only `suggestions` is sealed
                    if head.get("profile_version", 0) >= versions[member]:
                        own_s[member] = now - sent[member]

    try:
        await reader.topics()  # the cluster's metadata, so the topic's partitions are known
        parts = reader.partitions_for_topic(matches_topic) or set()
        assigned = [TopicPartition(matches_topic, p) for p in sorted(parts)]
        reader.assign(assigned)
        await reader.seek_to_end(*assigned)
        for tp in assigned:
            await reader.position(tp)  # the end, fixed before the first edit is written
        reading = asyncio.create_task(read())
        profiles_topic = topic_name(PROFILES, kafka)
        pages_before = await asyncio.to_thread(scrape_each, urls)
        begin = time.monotonic()
        with console.status(f"{len(updates)} edits through Kafka …") as status:
            for n, update in enumerate(updates):
                delay = begin + update.at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = update.event.model_copy(update={"occurred_at": datetime.now(UTC)})
                sent[event.member_id] = time.monotonic()
                await writer.send(profiles_topic, encode_event(event), key=event.member_id.encode())
                if reading.done():
                    reading.result()  # the reader failed: raise its error, not a silent gap
                if n % 25 == 0:
                    status.update(f"edits written {n + 1}/{len(updates)}, own lists {len(own_s)}")
            await writer.flush()
            last_sent = time.monotonic()
            lag_zero_s: float | None = None
            queue_empty_s: float | None = None
            while time.monotonic() < last_sent + drain_s:
                await asyncio.sleep(0.25)
                if reading.done():
                    reading.result()
                idle = await asyncio.to_thread(processes_idle, list(urls.values()))
                after = round(time.monotonic() - last_sent, 2)
                if idle is not None and len(own_s) == len(updates):
                    lag, queued = idle
                    if lag == 0 and lag_zero_s is None:
                        lag_zero_s = after
                    if queued == 0 and queue_empty_s is None:
                        queue_empty_s = after
                if lag_zero_s is not None and queue_empty_s is not None:
                    break
                status.update(f"after the last edit {after} s: own lists {len(own_s)}")
        reading.cancel()
        pages_after = await asyncio.to_thread(scrape_each, urls)
    finally:
        await writer.stop()
        await reader.stop()
    elapsed = last_sent - begin
    result: dict[str, Any] = {
        "edits_written": len(updates),
        "written_in_s": round(elapsed, 1),
        "written_per_s": round(len(updates) / max(elapsed, 1e-9), 2),
        "own_lists_received": len(own_s),
        "own_list_missing_after_drain": len(updates) - len(own_s),
        "lists_on_matches_v1_during_run": lists_seen,
        "lag_zero_after_last_edit_s": lag_zero_s,
        "queued_lists_out_after_last_edit_s": queue_empty_s,
        "drain_limit_s": drain_s,
    }
    if own_s:
        result["update_to_own_list"] = _percentiles(list(own_s.values()))
    topics = {"profiles": profiles_topic, "vectors": topic_name(PROFILE_VECTORS, kafka)}
    result["each_process"] = where_the_time_went(pages_before, pages_after, topics)
    return result


def edit_baseline(
    updates: list[Update],
    before: dict[str, ProfileVectorsComputed],
    embedder: Embedder,
    offers: faiss.IndexFlatIP,
    sample: int,
) -> dict[str, Any]:
    """Per edit, in this process: embed the texts that changed (same backend), then one raw
    FAISS top 100 with a new vector: the least any design does for an edit."""
    seconds: list[float] = []
    texts = 0
    for update in updates[:sample]:
        new = member_texts(update.event.profile)
        old = before[update.event.member_id].text_hashes
        changed = [kind for kind in VectorKind if text_hash(new[kind]) != old[kind]]
        started = time.perf_counter()
        if changed:
            rows = embed_documents(embedder, [new[kind] for kind in changed])
            texts += len(changed)
            query = np.asarray(rows[-1:], dtype=np.float32)
        else:
            query = before[update.event.member_id].vector(VectorKind.SEEKS)[None, :]
        offers.search(query, TOP_K + 1)
        seconds.append(time.perf_counter() - started)
    return {
        "edits": len(seconds),
        "texts_embedded": texts,
        "embed_changed_text_plus_raw_faiss_top100": _percentiles(seconds),
    }


def run_updates(
    updates: list[Update],
    before: dict[str, ProfileVectorsComputed],
    group: ServiceGroup,
    logs: Path,
    drain_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """The edits through an embedder process and the replicas (see the module docstring)."""
    asyncio.run(put_in_embedder_cache(cached_embeddings(list(before.values()))))
    embedder = embedder_process(logs)
    embedder.start(group.env)
    try:
        embedder.wait_ready(timeout_s)
        urls = {name: s.url for name, s in group.services.items()} | {"embedder": embedder.url}
        result = asyncio.run(updates_through_kafka(updates, urls, drain_s))
        if embedder.process_id is not None:
            result["embedder_rss_mib"] = round(_status_kib(embedder.process_id, "VmRSS") / 1024)
    finally:
        embedder.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=55_000)
    parser.add_argument("--embed-sample", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200, help="GET matches timed over HTTP")
    parser.add_argument("--sample-s", type=float, default=2.0)
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="matcher processes: each holds the whole index and ranks the lists of the "
        "partitions it owns (the RSS reported is the largest one's)",
    )
    parser.add_argument(
        "--failover",
        action="store_true",
        help="with --replicas 2 or more: at the end, SIGKILL the last replica and time the "
        "survivor's takeover of its partitions' lists",
    )
    parser.add_argument(
        "--update-rate",
        type=float,
        default=0.0,
        help="edits a second written to profiles.v1 once the lists are out (0: none), each "
        "timed to its member's new list on matches.v1 through an embedder process",
    )
    parser.add_argument("--update-duration", type=float, default=120.0, help="seconds of edits")
    parser.add_argument(
        "--update-drain",
        type=float,
        default=120.0,
        help="after the last edit, how long to wait at most for the lists and the lag",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.failover and args.replicas < 2:
        parser.error("--failover needs --replicas 2 or more: a lone matcher has no survivor")
    edits = int(args.update_rate * args.update_duration)
    if edits > min(args.embed_sample, args.members):
        parser.error(
            f"--update-rate × --update-duration is {edits} edits: edits go to distinct members "
            f"of the embedded sample, so raise --embed-sample to {edits} or more"
        )

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    logs = Path(tempfile.mkdtemp(prefix="bench-matcher-process-"))
    report: dict[str, Any] = {
        "benchmark": "matcher-process",
        "command": f"python bench/bench_matcher_process.py --members {args.members} "
        f"--embed-sample {args.embed_sample} --queries {args.queries}"
        + (f" --replicas {args.replicas}" if args.replicas > 1 else "")
        + (
            f" --update-rate {args.update_rate:g} --update-duration {args.update_duration:g}"
            if edits
            else ""
        )
        + (" --failover" if args.failover else ""),
        "replicas": args.replicas,
        "when": stamp,
        "machine": describe_machine(),
        "targets": TARGETS,
        "logs": str(logs),
    }
    lines = list(generate_members(args.members))
    embedder = configured_embedder(MatchingSettings())
    records = vector_records(lines, args.embed_sample, embedder)
    console.print(f"{len(records)} vector records built")
    rng = random.Random(9)
    chosen = rng.sample(range(min(args.embed_sample, args.members)), edits)
    updates = make_updates(lines, chosen, args.update_rate or 1.0, rng) if edits else []
    before = {records[i].member_id: records[i] for i in chosen}
    raw_figures, offers = raw_faiss_every_list(records)
    report["baselines"] = raw_figures | {"bare_import_rss_mib": bare_import_rss_mib()}
    console.print(report["baselines"])
    stack = devstack.up(STATE, timeout=120)
    name = f"bm{stamp.lower()}"
    env = stack.env() | {
        "NNMATCH_TOPIC_PREFIX": f"{name}.",
        "NNMATCH_REDIS_PREFIX": f"nnmatch:{name}:",
        "NNMATCH_ROLES": '["matcher"]',
        "NNMATCH_RATE_LIMIT_SEARCH": "100000/minute",  # the bench is one client, on purpose
        "NNMATCH_LOG_FORMAT": "json",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"matcher-process-{stamp}.json"
    try:
        with console.status("writing profile-vectors.v1 …"):
            report["produce_s"] = round(asyncio.run(produce(records, env)), 1)
        del records
        group = replicas_of(logs, args.replicas)
        with Sampler(group, args.sample_s) as sampler:
            group.start(env, timeout=args.timeout_s)
            ready_s = time.monotonic() - sampler.started
            deadline = time.monotonic() + args.timeout_s
            with console.status("replaying …") as status:
                while sampler.settled_at(args.members) is None and time.monotonic() < deadline:
                    time.sleep(args.sample_s)
                    last = sampler.samples[-1] if sampler.samples else {}
                    status.update(f"replaying … {last}")
            settled_s = sampler.settled_at(args.members)
            finished = settled_s is not None
            pids = [s.process_id for s in group.services.values()]
            assert all(pid is not None for pid in pids)
            peaks = [round(_status_kib(pid, "VmHWM") / 1024) for pid in pids if pid]
            afters = [round(_status_kib(pid, "VmRSS") / 1024) for pid in pids if pid]
            peak, after = max(peaks), max(afters)
        every_list_s = settled_s
        raw_s = report["baselines"]["raw_faiss_top100_every_member_s"]
        report["process"] = {  # recorded before the HTTP part, which may fail on its own
            "finished": finished,
            "ready_s": round(ready_s, 1),
            "all_indexed_at_s": first_time(sampler.samples, "indexed", args.members),
            "lists_computed_reached_n_at_s": first_time(
                sampler.samples, "lists_computed", args.members
            ),
            "every_members_list_s": every_list_s,
            "lists_computed": sampler.samples[-1].get("lists_computed"),
            "rss_after_replay_mib": after,
            "peak_rss_mib": peak,
            "rss_after_replay_mib_each": afters,
            "peak_rss_mib_each": peaks,
            "rss_vs_raw_vectors": round(after / report["baselines"]["raw_vectors_mib"], 2),
            "rss_above_bare_import_mib": round(after - report["baselines"]["bare_import_rss_mib"]),
            "every_list_vs_raw_faiss": round(every_list_s / raw_s, 1) if every_list_s else None,
            "series": sampler.samples,
        }
        path.write_text(json.dumps(report, indent=1) + "\n")
        tokens = DevTokens(devstack.dev_auth_dir(STATE))
        ids = [line.member_id for line in generate_members(args.queries)]
        url = next(iter(group.services.values())).url
        try:
            http = http_matches(url, tokens, ids) if finished else {}
            report["process"]["get_matches_over_http"] = http
            bodies = search_queries(lines, args.queries)
            searches = {}
            if finished:
                searches = hub_search_over_http(url, tokens, bodies, embedder, offers)
            report["process"]["hub_search_over_http"] = searches
            if finished and updates:
                path.write_text(json.dumps(report, indent=1) + "\n")
                edited = run_updates(
                    updates, before, group, logs, args.update_drain, args.timeout_s
                )
                edited["baseline"] = edit_baseline(updates, before, embedder, offers, 100)
                report["process"]["updates_through_kafka"] = edited
                console.print(edited)
            if finished and args.failover:
                path.write_text(json.dumps(report, indent=1) + "\n")
                taken = failover(group, args.timeout_s)
                checked_s, checked = taken["lists_checked_after_s"], taken["members_checked"]
                if checked_s is not None and checked and taken["rebalanced_after_s"] is not None:
                    raw_share = raw_s * checked / args.members  # the members the check ranked
                    taken["raw_faiss_top100_same_share_s"] = round(raw_share, 1)
                    check_s = checked_s - taken["rebalanced_after_s"]
                    taken["check_s"] = round(check_s, 1)
                    taken["check_vs_raw_faiss"] = round(check_s / raw_share, 1)
                report["process"]["failover"] = taken
                console.print(taken)
        finally:
            group.stop()
        report["judged"] = {
            "matcher_rss_after_replay_mib": {
                "value": after,
                "target": TARGETS["matcher_rss_after_replay_mib"],
                "met": after <= TARGETS["matcher_rss_after_replay_mib"],
            },
            "every_members_list_s": {
                "value": every_list_s,
                "target": TARGETS["every_members_list_s"],
                "met": bool(every_list_s and every_list_s <= TARGETS["every_members_list_s"]),
            },
        }
        own = report["process"].get("updates_through_kafka", {}).get("update_to_own_list")
        if own:
            for figure in ("p50_ms", "p99_ms"):
                report["judged"][f"update_own_list_{figure}"] = {
                    "value": own[figure],
                    "target": TARGETS[f"update_own_list_{figure}"],
                    "met": own[figure] <= TARGETS[f"update_own_list_{figure}"],
                }
            lag_s = report["process"]["updates_through_kafka"]["lag_zero_after_last_edit_s"]
            report["judged"]["lag_zero_after_last_update_s"] = {
                "value": lag_s,
                "target": TARGETS["lag_zero_after_last_update_s"],
                "met": lag_s is not None and lag_s <= TARGETS["lag_zero_after_last_update_s"],
            }
        for kind, figures in searches.items():
            p99 = figures["nnmatch_search_over_http"]["p99_ms"]
            report["judged"][f"hub_search_{kind}_p99_ms"] = {
                "value": p99,
                "target": TARGETS["hub_search_p99_ms"],
                "met": p99 <= TARGETS["hub_search_p99_ms"],
            }
    finally:
        path.write_text(json.dumps(report, indent=1) + "\n")
        devstack.down(STATE)
    shown = {k: v for k, v in report.items() if k != "process"}
    shown["process"] = {k: v for k, v in report.get("process", {}).items() if k != "series"}
    console.print_json(json.dumps(shown))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
