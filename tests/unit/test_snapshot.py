"""The matcher's snapshot, without Kafka: export → file → import answers exactly as before.

Members sit on two partitions; `gone` was applied and then removed (a tombstone).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from nnmatch.events import VectorKind
from nnmatch.observability import Metrics
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.ranking import RankingWeights
from nnmatch_matching.matcher.relist_queue import RelistQueue
from nnmatch_matching.matcher.snapshot import (
    RestoreMetrics,
    Snapshot,
    SnapshotKeeper,
    SnapshotUnreadable,
    covered_offsets,
    load_snapshot,
    save_snapshot,
    snapshot_path,
    unusable_because,
)
from tests.unit.builders import E0, E1, E2, card, unit, vectors_event

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
TOPIC = "t-profile-vectors.v1"


def _engine() -> MatchEngine:
    return MatchEngine(dimensions=4, top_n=3)


def _fill(engine: MatchEngine) -> None:
    mentor = card("Mentor", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,), sdgs=[4, 13])
    mentee = card("Mentee", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,), languages=("fr", "en"))
    engine.apply(vectors_event("a", mentor, profile=E0, offers=E0, seeks=E1), LogPosition(0, 0))
    engine.apply(vectors_event("b", mentee, profile=E0, offers=E1, seeks=E0), LogPosition(1, 0))
    engine.apply(vectors_event("gone", mentee, profile=E2, offers=E1, seeks=E0), LogPosition(0, 1))
    engine.apply(
        vectors_event("c", mentee, profile=unit(1, 0, 1, 0), offers=E1, seeks=E0),
        LogPosition(1, 1),
    )
    engine.apply(
        vectors_event("a", mentor, profile=E0, offers=E0, seeks=E1, profile_version=2),
        LogPosition(0, 2),
    )
    engine.remove("gone", LogPosition(0, 3))


def _contents(engine: MatchEngine) -> dict[str, object]:
    state = engine.export_state()
    order = np.argsort(state.member_ids)
    return {
        "model": state.model_id,
        "ids": sorted(state.member_ids),
        "vectors": {k.value: v[order].tolist() for k, v in state.vectors.items()},
        "cards": [state.cards[i] for i in order],
        "versions": [state.profile_versions[i] for i in order],
        "positions": [state.positions[i] for i in order],
        "removed": state.removed,
    }


def test_a_saved_and_loaded_snapshot_answers_exactly_like_the_engine_it_came_from(
    tmp_path: Path,
) -> None:
    engine = _engine()
    _fill(engine)
    path = snapshot_path(tmp_path, TOPIC)

    save_snapshot(path, Snapshot(TOPIC, 2, engine.export_state()))
    loaded = load_snapshot(path)
    assert loaded is not None
    restored = _engine()
    restored.import_state(loaded.state)

    assert (loaded.topic, loaded.partitions) == (TOPIC, 2)
    assert _contents(restored) == _contents(engine)
    assert "gone" not in restored
    assert restored.is_stale("gone", LogPosition(0, 1)), "the tombstone's position survives"
    assert restored.matches_for(["a", "b", "c"], NOW) == engine.matches_for(["a", "b", "c"], NOW)
    assert [s.member_id for s in restored.matches_for(["a"], NOW)["a"]] == ["b", "c"]
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_covered_offsets_are_the_last_applied_per_partition_tombstones_included() -> None:
    engine = _engine()
    _fill(engine)

    assert covered_offsets(engine.export_state()) == {0: 3, 1: 1}
    assert covered_offsets(engine.export_state(with_vectors=False)) == {0: 3, 1: 1}


def test_a_snapshot_is_used_only_for_its_topic_layout_model_and_a_log_that_still_holds_it() -> None:
    engine = _engine()
    _fill(engine)
    snapshot = Snapshot(TOPIC, 2, engine.export_state())
    ends = {0: 4, 1: 2}

    def why(snapshot_topic: str, ends: dict[int, int], model: str | None) -> str | None:
        return unusable_because(snapshot, snapshot_topic, ends, model, intent_texts=False)

    assert why(TOPIC, ends, "test-model") is None
    assert why(TOPIC, ends, None) is None
    assert "topic" in str(why("other.v1", ends, "test-model"))
    assert "the topic has 3" in str(why(TOPIC, ends | {2: 0}, "test-model"))
    assert "model test-model@1" in str(why(TOPIC, ends, "other-model"))
    assert "past the topic's end" in str(why(TOPIC, {0: 3, 1: 2}, "test-model"))


def test_a_snapshot_without_the_offers_and_seeks_texts_seeds_only_a_matcher_that_needs_none(
    tmp_path: Path,
) -> None:
    """With the offers↔seeks fit off (the default) the engine holds no seeks vectors and no
    offers or seeks words, and neither does its snapshot. It loads into a matcher that also
    does not weigh the fit; one that does is told why and replays the topic instead."""
    engine = _engine()
    _fill(engine)
    assert not engine.intent_texts
    path = snapshot_path(tmp_path, TOPIC)
    save_snapshot(path, Snapshot(TOPIC, 2, engine.export_state()))
    loaded = load_snapshot(path)
    assert loaded is not None
    assert set(loaded.state.vectors) == {VectorKind.PROFILE, VectorKind.OFFERS}
    assert not loaded.state.intent_texts
    ends = {0: 4, 1: 2}
    assert unusable_because(loaded, TOPIC, ends, "test-model", intent_texts=False) is None
    assert "offers↔seeks fit" in str(
        unusable_because(loaded, TOPIC, ends, "test-model", intent_texts=True)
    )
    fitting = MatchEngine(dimensions=4, top_n=3, weights=RankingWeights(reciprocal=0.25))
    assert fitting.intent_texts
    with pytest.raises(ValueError, match="need intent_texts"):
        MatchEngine(dimensions=4, weights=RankingWeights(reciprocal=0.25), intent_texts=False)
    with pytest.raises(ValueError, match="offers and seeks texts"):
        fitting.import_state(loaded.state)

    lean = _engine()
    lean.import_state(loaded.state)  # answers as the engine it came from
    assert lean.matches_for(["a", "b", "c"], NOW) == engine.matches_for(["a", "b", "c"], NOW)

    full = MatchEngine(dimensions=4, top_n=3, intent_texts=True)  # holds every kind
    _fill(full)
    full.matches_for(["a"], NOW)  # freezes the words' statistics, as a running matcher has
    save_snapshot(path, Snapshot(TOPIC, 2, full.export_state()))
    held = load_snapshot(path)
    assert held is not None
    assert set(held.state.vectors) == set(VectorKind)
    assert unusable_because(held, TOPIC, ends, "test-model", intent_texts=True) is None

    # A snapshot from before the flag (every kind, no "intent_texts" in its meta) loads into
    # a lean engine, which keeps none of its offers and seeks words or statistics.
    with np.load(path) as arrays:
        stored = {name: arrays[name] for name in arrays.files}
    meta = json.loads(stored["meta"].tobytes())
    del meta["intent_texts"]
    stored["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **stored)
    older = load_snapshot(path)
    assert older is not None
    assert older.state.intent_texts
    assert unusable_because(older, TOPIC, ends, "test-model", intent_texts=False) is None
    from_older = _engine()
    from_older.import_state(older.state)
    assert from_older.lexical is not None
    words, _ = from_older.export_state().words_frozen or (None, None)
    assert words is not None  # frozen (its caches stay current), of nothing
    assert (words.documents, words.frequencies) == (0, {})
    assert len(from_older.lexical.index) == 0
    assert from_older.matches_for(["a", "b", "c"], NOW) == full.matches_for(["a", "b", "c"], NOW)


def test_a_damaged_file_is_unreadable_not_half_loaded(tmp_path: Path) -> None:
    engine = _engine()
    _fill(engine)
    path = snapshot_path(tmp_path, TOPIC)
    save_snapshot(path, Snapshot(TOPIC, 2, engine.export_state()))
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(SnapshotUnreadable):
        load_snapshot(path)
    assert load_snapshot(tmp_path / "none.npz") is None


def test_a_snapshot_holding_a_vector_the_grid_refuses_is_unreadable(tmp_path: Path) -> None:
    """A snapshot from before events refused vectors longer than 2^60 may hold one: it reads
    as unreadable (the topic is replayed, refusing that record), not as a start that fails
    at every try."""
    engine = _engine()
    _fill(engine)
    state = engine.export_state()
    kind = next(iter(state.vectors))
    state.vectors[kind][0, 0] = np.float32(3e38)
    path = snapshot_path(tmp_path, TOPIC)
    save_snapshot(path, Snapshot(TOPIC, 2, state))

    with pytest.raises(SnapshotUnreadable, match="longer than 2\\^60"):
        load_snapshot(path)


def test_import_into_an_engine_that_holds_members_is_refused() -> None:
    engine = _engine()
    _fill(engine)

    with pytest.raises(ValueError, match="empty engine"):
        engine.import_state(engine.export_state())


def _keeper(
    directory: Path,
    engine: MatchEngine,
    model_id: str = "test-model",
    queue: RelistQueue | None = None,
) -> SnapshotKeeper:
    return SnapshotKeeper(
        directory,
        engine,
        asyncio.Lock(),
        RestoreMetrics(Metrics("test")),
        queue=queue,
        model_id=model_id,
        interval_s=60,
        every_records=1000,
    )


async def test_the_keeper_saves_only_what_changed_and_resumes_after_its_offsets(
    tmp_path: Path,
) -> None:
    engine = _engine()
    first = _keeper(tmp_path, engine)
    assert first.resume(TOPIC, {0: 4, 1: 2}) == {}, "no snapshot yet: read from the beginning"
    assert await first.save() is False, "an empty engine covers nothing new"
    _fill(engine)
    assert first.records_since_save() == 6  # offsets 0..3 and 0..1

    assert await first.save() is True
    assert await first.save() is False
    assert first.records_since_save() == 0

    restored = _engine()
    second = _keeper(tmp_path, restored)
    assert second.resume(TOPIC, {0: 6, 1: 2}) == {0: 4, 1: 2}
    assert second.loaded_members == 3
    assert _contents(restored) == _contents(engine)


async def test_the_lists_the_background_still_owed_are_owed_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """The records behind queued lists and scans are before the snapshot's offsets, so they are
    not replayed: without the queue in the snapshot those lists would stay stale."""
    engine = _engine()
    _fill(engine)
    queue = RelistQueue()
    queue.relist(["b", "a"])
    queue.rescan(["c"])
    saving = _keeper(tmp_path, engine, queue=queue)
    saving.resume(TOPIC, {0: 4, 1: 2})
    assert await saving.save() is True

    after = RelistQueue()
    _keeper(tmp_path, _engine(), queue=after).resume(TOPIC, {0: 4, 1: 2})

    assert after.owed() == (["c"], ["b", "a"])


async def test_the_keeper_ignores_a_snapshot_it_cannot_use(tmp_path: Path) -> None:
    engine = _engine()
    _fill(engine)
    keeper = _keeper(tmp_path, engine)
    keeper.resume(TOPIC, {0: 4, 1: 2})
    await keeper.save()

    for ends, model in [({0: 4, 1: 2}, "another-model"), ({0: 2, 1: 2}, "test-model")]:
        fresh = _engine()
        assert _keeper(tmp_path, fresh, model).resume(TOPIC, ends) == {}
        assert len(fresh) == 0
    snapshot_path(tmp_path, TOPIC).write_bytes(b"not a snapshot")
    fresh = _engine()
    assert _keeper(tmp_path, fresh).resume(TOPIC, {0: 4, 1: 2}) == {}
    assert len(fresh) == 0


async def test_a_retried_start_up_gets_the_same_answer_without_loading_twice(
    tmp_path: Path,
) -> None:
    engine = _engine()
    _fill(engine)
    saving = _keeper(tmp_path, engine)
    saving.resume(TOPIC, {0: 4, 1: 2})
    await saving.save()
    restored = _engine()
    keeper = _keeper(tmp_path, restored)

    first = keeper.resume(TOPIC, {0: 6, 1: 2})
    again = keeper.resume(TOPIC, {0: 7, 1: 2})

    assert first == again == {0: 4, 1: 2}
    assert _contents(restored) == _contents(engine)
