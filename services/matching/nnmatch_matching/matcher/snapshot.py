"""The matcher's snapshot: its engine state with the `profile-vectors.v1` offsets it covers.

A restart loads the snapshot and replays only the records after those offsets, instead of the
whole compacted topic. One file per topic (`<topic>.snapshot.npz`: the vectors as float32
arrays, members, cards and positions as JSON), written to a temporary file, synced and renamed
over the old one, so a crash mid-write leaves the previous snapshot whole. A snapshot is used
only if it was made for the same model, topic and partition count, and the topic still holds
every offset it covers (a broker that lost its data starts over from the topic). The lists and
scans the background still owed are in it too: the records behind them are not replayed.
Feedback exclusions are not in it: Redis keeps them (feedback_store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from prometheus_client import Counter, Gauge

from nnmatch.events import MAX_VECTOR_LENGTH, MemberCard, VectorKind
from nnmatch.memory import release_free_memory
from nnmatch.observability import Metrics
from nnmatch_matching.matcher.engine import CacheState, EngineState, LogPosition, MatchEngine
from nnmatch_matching.matcher.fact_codes import ODDS_FORMULA
from nnmatch_matching.matcher.lexical import FrozenStats
from nnmatch_matching.matcher.relist_queue import RelistQueue

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 5
"""3: each member's whole-profile words; 4: the words' frozen statistics; 5: each member's words
in their own written forms (4 saved the form shown, which could be a word no current member
wrote: a replica restoring one would show it for good, so a format-4 snapshot is replayed)."""


class SnapshotUnreadable(ValueError):
    """The file is not a snapshot this code wrote (truncated, another format)."""


@dataclass(frozen=True)
class Snapshot:
    topic: str
    partitions: int
    state: EngineState
    owed_rescans: list[str] = field(default_factory=list)
    """Caches the background had still to scan (relist_queue.py): a restart owes them."""
    owed_relists: list[str] = field(default_factory=list)
    """Lists the background had still to rank and publish: a restart owes them."""

    @property
    def offsets(self) -> dict[int, int]:
        return covered_offsets(self.state)


def covered_offsets(state: EngineState) -> dict[int, int]:
    """The last applied offset per partition: every record at or before it is in `state`.

    Records of one partition are applied in order and each member keeps the position of its
    last record (removed members theirs), so the highest position is the last record applied.
    """
    covered: dict[int, int] = {}
    for position in [*state.positions, *state.removed.values()]:
        if position.offset > covered.get(position.partition, -1):
            covered[position.partition] = position.offset
    return covered


def snapshot_path(directory: Path, topic: str) -> Path:
    return directory / f"{topic}.snapshot.npz"


def write_snapshot(file: BinaryIO, snapshot: Snapshot) -> None:
    """The snapshot as an .npz archive, straight into `file` (no copy of it in memory)."""
    state = snapshot.state
    meta = {
        "format": SNAPSHOT_FORMAT,
        "topic": snapshot.topic,
        "partitions": snapshot.partitions,
        "model_id": state.model_id,
        "members": [
            [m, version, position.partition, position.offset, card.model_dump(mode="json"), words]
            for m, version, position, card, words in zip(
                state.member_ids,
                state.profile_versions,
                state.positions,
                state.cards,
                state.terms or [{} for _ in state.member_ids],
                strict=True,
            )
        ],
        "removed": [[m, p.partition, p.offset] for m, p in state.removed.items()],
        "owed_rescans": snapshot.owed_rescans,
        "owed_relists": snapshot.owed_relists,
        "intent_texts": state.intent_texts,
    }
    arrays: dict[str, Any] = {  # the kinds held (no seeks without the offers↔seeks texts)
        kind.value: np.asarray(vectors, dtype=np.float32) for kind, vectors in state.vectors.items()
    }
    if state.words_frozen is not None:  # what the caches were scored under
        meta["words_frozen"] = [asdict(stats) for stats in state.words_frozen]
    if state.caches is not None:  # the candidate caches, so a restart patches on at once
        meta["cache_unpatched"] = state.caches.unpatched
        meta["cache_odds_formula"] = ODDS_FORMULA
        arrays["cache_candidates"] = state.caches.candidates
        arrays["cache_odds"] = state.caches.odds
        arrays["cache_bound"] = state.caches.bound
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(file, allow_pickle=False, **arrays)


def _check_lengths(kind: VectorKind, rows: np.ndarray) -> None:
    """SnapshotUnreadable if a vector is not finite or longer than the matcher holds (a
    snapshot from before events refused such vectors): the topic is replayed instead, where
    those records are refused one by one."""
    for start in range(0, len(rows), 4096):  # float64 a few MB at a time
        chunk = rows[start : start + 4096].astype(np.float64)
        squares = np.einsum("ij,ij->i", chunk, chunk)
        if not bool(np.all(squares <= MAX_VECTOR_LENGTH**2)):  # NaN compares False
            raise SnapshotUnreadable(f"a {kind.value} vector not finite or longer than 2^60")


def read_snapshot(file: BinaryIO | Path) -> Snapshot:
    try:
        with np.load(file, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            vectors = {
                kind: np.asarray(arrays[kind.value], np.float32)
                for kind in VectorKind
                if kind.value in arrays.files
            }
            caches = (
                CacheState(
                    candidates=np.asarray(arrays["cache_candidates"], np.int32),
                    odds=np.asarray(arrays["cache_odds"], np.float64),
                    bound=np.asarray(arrays["cache_bound"], np.float64),
                    unpatched=[str(m) for m in meta.get("cache_unpatched", [])],
                )
                if "cache_candidates" in arrays and meta.get("cache_odds_formula") == ODDS_FORMULA
                else None  # scored another way: the restart scans them again
            )
        if meta.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotUnreadable(f"snapshot format {meta.get('format')!r}")
        members = meta["members"]
        state = EngineState(
            model_id=meta["model_id"],
            member_ids=[m[0] for m in members],
            vectors=vectors,
            cards=[MemberCard.model_validate(m[4]) for m in members],
            profile_versions=[int(m[1]) for m in members],
            positions=[LogPosition(int(m[2]), int(m[3])) for m in members],
            removed={m: LogPosition(int(p), int(o)) for m, p, o in meta["removed"]},
            terms=[{str(t): int(c) for t, c in m[5].items()} for m in members],
            caches=caches,
            words_frozen=_frozen_stats(meta.get("words_frozen")),
            intent_texts=bool(meta.get("intent_texts", True)),  # older ones held every kind
        )
        missing = [
            k.value
            for k in VectorKind
            if k not in vectors and (k is not VectorKind.SEEKS or state.intent_texts)
        ]
        if missing:
            raise SnapshotUnreadable(f"no {', '.join(missing)} vectors")
        if any(len(v) != len(members) for v in vectors.values()):
            raise SnapshotUnreadable("vector rows do not match the members")
        for kind, rows in vectors.items():
            _check_lengths(kind, rows)
        return Snapshot(
            topic=str(meta["topic"]),
            partitions=int(meta["partitions"]),
            state=state,
            owed_rescans=[str(m) for m in meta.get("owed_rescans", [])],
            owed_relists=[str(m) for m in meta.get("owed_relists", [])],
        )
    except SnapshotUnreadable:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as exc:
        raise SnapshotUnreadable(f"{type(exc).__name__}: {exc}") from exc


def _frozen_stats(held: Any) -> tuple[FrozenStats, FrozenStats] | None:
    if held is None:
        return None
    words, profiles = (
        FrozenStats(
            documents=int(stats["documents"]),
            frequencies={str(t): int(c) for t, c in stats["frequencies"].items()},
            average_length=float(stats["average_length"]),
        )
        for stats in held
    )
    return words, profiles


def save_snapshot(path: Path, snapshot: Snapshot) -> int:
    """Write atomically (temporary file, fsync, rename, fsync the directory); returns bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write_snapshot(file, snapshot)
            file.flush()
            os.fsync(file.fileno())
            size = file.tell()
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size


def load_snapshot(path: Path) -> Snapshot | None:
    """The snapshot at `path`, or None if there is none; SnapshotUnreadable if it is damaged."""
    if not path.exists():
        return None
    return read_snapshot(path)


def unusable_because(
    snapshot: Snapshot,
    topic: str,
    ends: Mapping[int, int],
    model_id: str | None,
    *,
    intent_texts: bool,
) -> str | None:
    """Why a snapshot cannot seed this matcher (which needs the offers and seeks texts if
    `intent_texts`), or None if it can."""
    if snapshot.topic != topic:
        return f"made for topic {snapshot.topic}, not {topic}"
    if snapshot.partitions != len(ends):
        return f"made for {snapshot.partitions} partitions; the topic has {len(ends)}"
    stored = snapshot.state.model_id
    if model_id and stored and stored != model_id and not stored.startswith(model_id + "@"):
        return f"made with model {stored}; this matcher compares {model_id}"
    if intent_texts and not snapshot.state.intent_texts:
        return (
            "holds no seeks vectors or offers and seeks words (made with the offers↔seeks fit "
            "off); this matcher scores that fit"
        )
    for partition, offset in snapshot.offsets.items():
        if offset >= ends.get(partition, 0):
            return f"covers offset {offset} of partition {partition}, past the topic's end"
    return None


class RestoreMetrics:
    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        self.snapshot_members = Gauge(
            "nnmatch_snapshot_loaded_members",
            "Members the matcher loaded from its snapshot at start (0: none used).",
            registry=reg,
        )
        self.replayed_records = Gauge(
            "nnmatch_replayed_records",
            "profile-vectors records the matcher replayed at start (after its snapshot, if any).",
            registry=reg,
        )
        self.saves = Counter(
            "nnmatch_snapshot_saves_total",
            "Snapshots written, by outcome (ok, failed).",
            ["outcome"],
            registry=reg,
        )


class SnapshotKeeper:
    """Restores the engine from its snapshot at start, then writes one now and then.

    `resume` is given to `replay_vectors`; `run` writes a snapshot every `interval_s` or every
    `every_records` vector records (by offsets covered), whichever comes first, while records
    arrive; `save` at shutdown writes the last one. The engine is read under `lock` (the
    consumers change it under the same lock), and the file written in a worker thread.
    """

    def __init__(
        self,
        directory: Path,
        engine: MatchEngine,
        lock: asyncio.Lock,
        metrics: RestoreMetrics,
        *,
        queue: RelistQueue | None = None,
        model_id: str | None,
        interval_s: float,
        every_records: int,
    ) -> None:
        self.directory = directory
        self._engine = engine
        self._lock = lock
        self._metrics = metrics
        self._queue = queue
        self._model_id = model_id
        self._interval_s = interval_s
        self._every_records = every_records
        self._topic: str | None = None
        self._partitions = 0
        self._saved: dict[int, int] = {}
        self._saved_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._starts: dict[int, int] | None = None  # decided by the first resume
        self.loaded_members = 0
        self.saves = 0

    def resume(self, topic: str, ends: Mapping[int, int]) -> dict[int, int]:
        """Load the snapshot into the (empty) engine; the offsets to replay from, per partition.

        A start-up retried after a failed replay gets the first answer again: the engine
        already holds what was loaded and replayed, and re-reading from there is harmless.
        """
        if self._starts is None:
            self._starts = self._load(topic, ends)
        return dict(self._starts)

    def _load(self, topic: str, ends: Mapping[int, int]) -> dict[int, int]:
        self._topic = topic
        self._partitions = len(ends)
        path = snapshot_path(self.directory, topic)
        try:
            snapshot = load_snapshot(path)
        except SnapshotUnreadable as exc:
            log.warning("snapshot unreadable; replaying the whole topic", extra={"error": str(exc)})
            return {}
        if snapshot is None:
            log.info("no snapshot; replaying the whole topic", extra={"path": str(path)})
            return {}
        # The engine knows the exact model (id@version) once start-up resolved it (bootstrap).
        reason = unusable_because(
            snapshot,
            topic,
            ends,
            self._engine.model_id or self._model_id,
            intent_texts=self._engine.intent_texts,
        )
        if reason is not None:
            log.warning("snapshot not used; replaying the whole topic", extra={"reason": reason})
            return {}
        self._engine.import_state(snapshot.state)
        if self._queue is not None:
            self._queue.rescan(snapshot.owed_rescans)
            self._queue.relist(snapshot.owed_relists)
        self._saved = snapshot.offsets
        self.loaded_members = len(snapshot.state.member_ids)
        self._metrics.snapshot_members.set(self.loaded_members)
        log.info(
            "snapshot loaded",
            extra={"members": self.loaded_members, "offsets": self._saved, "path": str(path)},
        )
        return {partition: offset + 1 for partition, offset in self._saved.items()}

    def records_since_save(self) -> int:
        """Vector records applied since the last snapshot (counted by offsets)."""
        now = covered_offsets_of(self._engine)
        return sum(offset - self._saved.get(partition, -1) for partition, offset in now.items())

    async def save(self) -> bool:
        """Write a snapshot if anything changed since the last one; True if written."""
        if self._topic is None:
            return False  # start-up never got as far as reading the topic
        async with self._lock:
            state = self._engine.export_state()
            rescans, relists = self._queue.owed() if self._queue is not None else ([], [])
        snapshot = Snapshot(self._topic, self._partitions, state, rescans, relists)
        offsets = snapshot.offsets
        if offsets == self._saved:
            return False
        path = snapshot_path(self.directory, self._topic)
        started = time.monotonic()
        try:
            size = await asyncio.to_thread(save_snapshot, path, snapshot)
        except OSError:
            self._metrics.saves.labels("failed").inc()
            log.exception("snapshot not written", extra={"path": str(path)})
            return False
        self._saved = offsets
        self._saved_at = time.monotonic()
        self.saves += 1
        self._metrics.saves.labels("ok").inc()
        log.info(
            "snapshot written",
            extra={
                "members": len(state.member_ids),
                "bytes": size,
                "seconds": round(self._saved_at - started, 3),
            },
        )
        del state, snapshot  # the copies it was written from: freed before the trim
        await asyncio.to_thread(release_free_memory, "a snapshot")
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matcher snapshots")

    async def _run(self) -> None:
        tick = min(1.0, self._interval_s)
        while True:
            await asyncio.sleep(tick)
            pending = self.records_since_save()
            due = time.monotonic() - self._saved_at >= self._interval_s
            if pending > 0 and (due or pending >= self._every_records):
                await self.save()

    async def stop(self) -> None:
        """Stop the periodic writes and write the last snapshot (after the consumers stopped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.save()


def covered_offsets_of(engine: MatchEngine) -> dict[int, int]:
    """covered_offsets of the live engine, without copying its vectors."""
    return covered_offsets(engine.export_state(with_vectors=False))
