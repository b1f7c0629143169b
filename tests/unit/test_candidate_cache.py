"""Candidate caches (`candidate_cache.py`) and the lists patched from them.

The claim under test: after any sequence of changes, removals and additions, the list each
member's patched cache gives equals a full re-rank of that member over everyone
(`MatchEngine.exact_picks`: its odds with every member, shaped, no cache): 0 differences,
with diversity and the exposure cap on. And each changed member is in every list whose
cut-off it beats (brute force over everyone, exposure off: a candidate's exposure counts at
a list's next ranking, by design). A change re-ranks at most `sync_relists` lists itself; the
rest are queued for the background, which publishes them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nnmatch.events import ProfileVectorsComputed, VectorKind
from nnmatch.topics import MATCHES
from nnmatch_matching.matcher import snapshot
from nnmatch_matching.matcher.background import BackgroundRerank
from nnmatch_matching.matcher.candidate_cache import CandidateCache
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.fact_codes import fast_path
from nnmatch_matching.matcher.handlers import MatchChangedMembers, publish_matches
from nnmatch_matching.matcher.ranking import RankingWeights
from nnmatch_matching.matcher.relist_queue import ImportPause
from nnmatch_matching.matcher.snapshot import Snapshot, load_snapshot, save_snapshot
from tests.unit.builders import mentee_vectors, mentor_vectors
from tests.unit.test_matching_handlers import Fakes
from tests.unit.test_reverse_exact import NOW, _community, _member

# --------------------------------------------------------------------------- the cache alone


def _filled(odds: list[float], size: int) -> CandidateCache:
    cache = CandidateCache(size, rows=4)
    values = np.asarray(odds, dtype=np.float64)
    cache.fill(0, values, np.argsort(-values, kind="stable"))
    return cache


def _held(cache: CandidateCache) -> list[tuple[int, float]]:
    rows, odds = cache.held(0)
    return list(zip(rows.tolist(), odds.tolist(), strict=True))


def test_a_fill_keeps_the_best_and_bounds_the_rest() -> None:
    cache = _filled([5.0, 1.0, 4.0, 2.0, 3.0], size=3)
    assert _held(cache) == [(0, 5.0), (2, 4.0), (4, 3.0)]
    assert cache.bound[0] == 2.0
    assert _filled([5.0, 1.0], size=3).bound[0] == -np.inf, "every eligible one is held"


def test_a_patch_moves_inserts_and_drops() -> None:
    cache = _filled([5.0, 1.0, 4.0, 2.0, 3.0], size=3)

    assert cache.patch(0, 2, 6.0)  # moved up
    assert _held(cache) == [(2, 6.0), (0, 5.0), (4, 3.0)]
    assert cache.patch(0, 3, 3.5)  # inserted: the last leaves and bounds the rest
    assert _held(cache) == [(2, 6.0), (0, 5.0), (3, 3.5)]
    assert cache.bound[0] == 3.0
    assert not cache.patch(0, 1, 2.5), "below the bound: stays outside"
    assert cache.patch(0, 0, -np.inf)  # no longer eligible
    assert _held(cache) == [(2, 6.0), (3, 3.5)]
    assert cache.bound[0] == 3.0, "what is outside is still bounded, the cache shorter"
    assert cache.patch(0, 3, 1.0)  # falls below the bound: out
    assert _held(cache) == [(2, 6.0)]


def test_a_full_cache_keeps_an_equal_newcomer_outside_and_raises_its_bound() -> None:
    cache = _filled([5.0, 4.0, 3.0, 1.0], size=3)
    assert not cache.patch(0, 3, 3.0)
    assert cache.bound[0] == 3.0
    assert _held(cache) == [(0, 5.0), (1, 4.0), (2, 3.0)]


def test_holders_and_purge_find_every_cache_holding_a_member() -> None:
    cache = CandidateCache(2, rows=3)
    for row, held in enumerate(([1, 2], [2, 0], [0, 1])):
        odds = np.zeros(3)
        odds[held] = [2.0, 1.0]
        odds[row] = -np.inf
        cache.fill(row, odds, np.asarray(held, dtype=np.int64))
    assert cache.holders(2, 3).tolist() == [0, 1]
    assert cache.purge(2, 3).tolist() == [0, 1]
    assert cache.holders(2, 3).size == 0


# --------------------------------------------------------------------------- patched lists

EXPOSED = RankingWeights(exposure_cap=3)  # diversity as by default; the cap bites at 300


def _engine_with(rng: np.random.Generator, weights: RankingWeights, cache_k: int) -> MatchEngine:
    engine = _community(rng)
    engine.weights = weights
    engine.cache = CandidateCache(cache_k)
    engine.cache.ensure(engine.columns.used)
    engine.matches_for(list(engine.members), NOW)
    return engine


def _step(rng: np.random.Generator, engine: MatchEngine, step: int) -> tuple[set[str], str]:
    """One random change: a member changes (words and all), is removed, or one is added;
    the affected lists are re-ranked. Returns (affected, the member changed)."""
    events: dict[str, ProfileVectorsComputed] = engine.events  # type: ignore[attr-defined]
    kind = step % 4
    position = LogPosition(0, 10_000 + step)
    if kind == 3:
        gone = str(rng.choice(sorted(engine.members)))
        engine.remove(gone, position)
        affected = engine.affected_by([], [gone])
        engine.matches_for(affected, NOW)
        return affected, gone
    if kind == 2:
        x = f"new-{step:03d}"
        events[x] = _member(rng, x)
    else:
        x = str(rng.choice(sorted(engine.members)))
        events[x] = _member(rng, x, engine.profile_version(x) + 1)
    engine.apply(events[x], position)
    affected = engine.affected_by([x], [])
    engine.matches_for(affected, NOW)
    return affected, x


@pytest.mark.parametrize("cache_k", [50, 8], ids=["cache-50", "cache-of-top-n"])
def test_every_patched_list_equals_a_full_re_rank(cache_k: int) -> None:
    """Diversity and the exposure cap on; a cache as deep as the list runs dry often and is
    scanned again. At every step every member's list from its cache equals the full re-rank
    over everyone: 0 differences (odds to float rounding)."""
    rng = np.random.default_rng(11)
    engine = _engine_with(rng, EXPOSED, cache_k)
    differences = dry = 0
    for step in range(16):
        _step(rng, engine, step)
        for member_id in engine.members:
            dry += engine.cached_picks(member_id) is None
            cached = engine.picks(member_id)  # a dry cache is scanned again
            exact = engine.exact_picks(member_id)
            same = [m for m, _ in cached] == [m for m, _ in exact]
            differences += not same
            if same:
                assert [o for _, o in cached] == pytest.approx([o for _, o in exact], rel=1e-6)
    assert differences == 0
    assert (dry > 0) is (cache_k < 50), "a cache as deep as the list runs dry"
    assert any(len(engine.listed_in.get(m, ())) >= 3 for m in engine.members), "cap reached"


@pytest.mark.parametrize("cache_k", [50, 8], ids=["cache-50", "cache-of-top-n"])
def test_each_changed_member_is_in_every_list_whose_cut_off_it_beats(cache_k: int) -> None:
    """Brute force: after each change, every member whose full re-rank now lists the changed
    one was affected (and so re-ranked): 0 missed. Also where caches run dry (as deep as the
    list): a dry cache's list was shaped from a full scan, its cut-off below its bound."""
    rng = np.random.default_rng(12)
    engine = _engine_with(rng, replace(EXPOSED, exposure_cap=0), cache_k)
    missed: list[tuple[int, str]] = []
    reached = 0
    for step in range(40):
        affected, x = _step(rng, engine, step)
        if x not in engine.members:
            continue
        for member_id in engine.members:
            if member_id != x and x in {m for m, _ in engine.exact_picks(member_id)}:
                reached += 1
                if member_id not in affected:
                    missed.append((step, member_id))
                assert x in engine._lists[member_id]
    assert missed == []
    assert reached > 16


def test_the_caches_survive_a_snapshot_round_trip() -> None:
    rng = np.random.default_rng(13)
    engine = _engine_with(rng, EXPOSED, 50)
    for step in range(3):
        _step(rng, engine, step)
    restored = MatchEngine(
        dimensions=engine.dimensions, top_n=engine.top_n, weights=engine.weights, cache_k=50
    )
    restored.import_state(engine.export_state())
    for member_id in engine.members:
        mine, theirs = engine.members[member_id].row, restored.members[member_id].row
        held = [engine.columns.ids[r] for r in engine.cache.held(mine)[0]]
        assert [restored.columns.ids[r] for r in restored.cache.held(theirs)[0]] == held
        assert restored.cache.bound[theirs] == engine.cache.bound[mine]


# --------------------------------------------------------------------------- the cap


async def test_the_lists_a_change_alters_are_published_by_the_background() -> None:
    """By default (`sync_relists` 0) a batch publishes its changed members' own lists and
    queues the others, so the next batch's own lists never wait behind them."""
    rng = np.random.default_rng(14)
    community = _community(rng, 80)
    fakes = Fakes()
    fakes.engine = community
    fakes.state = replace(fakes.state, engine=community, sync_relists=0)
    community.matches_for(list(community.members), NOW)
    events: dict[str, ProfileVectorsComputed] = community.events  # type: ignore[attr-defined]
    x = max(community.listed_in, key=lambda m: len(community.listed_in[m]))
    listers = set(community.listed_in[x])
    hidden = events[x].card.model_copy(update={"discoverable": False})
    fakes.next_offset = 500

    await MatchChangedMembers(fakes.state)(
        fakes.records((x, events[x].model_copy(update={"card": hidden, "profile_version": 2})))
    )

    assert set(fakes.published_lists()) == {x}, "the changed member's own list first"
    assert set(fakes.state.queue._relist) == listers
    background = BackgroundRerank(
        fakes.state, per_s=1000, refresh_interval_s=0, relists_per_s=20, interval_s=0.05
    )
    background._next_refresh = float("inf")  # no refresh in this test
    queued = fakes.metrics.queued.labels("relist")
    await background.step()
    assert queued._value.get() == len(listers), "operators see the lists waiting"
    assert fakes.state.queue.relists == len(listers) - 1, "one list a step (20/s × 0.05 s)"
    while len(fakes.state.queue):
        await background.step()
    await background.step()
    assert queued._value.get() == 0
    published = fakes.published_lists()
    assert set(published) == {x} | listers
    assert all(x not in published[m] for m in listers), "the hidden one left every list"


async def test_an_imports_lists_are_ranked_once_it_pauses_and_an_own_edit_at_once() -> None:
    """While imported vectors keep arriving the background ranks none of the lists they
    alter, the imported members' own included (each would be ranked again as the next ones
    arrive); once none came for the quiet window, each is ranked once. A member's own edit
    meanwhile gets its list in its batch, and the lists it alters from the background, as
    always."""
    rng = np.random.default_rng(14)
    community = _community(rng, 80)
    now = [0.0]
    fakes = Fakes()
    fakes.engine = community
    pause = ImportPause(quiet_s=10.0, clock=lambda: now[0])
    fakes.state = replace(fakes.state, engine=community, sync_relists=0, imports=pause)
    community.matches_for(list(community.members), NOW)
    events: dict[str, ProfileVectorsComputed] = community.events  # type: ignore[attr-defined]
    x, y, editor = sorted(community.listed_in, key=lambda m: -len(community.listed_in[m]))[:3]
    by_import = set(community.listed_in[x]) | set(community.listed_in[y])
    by_editor = set(community.listed_in[editor]) - {x, y}

    def hidden(member_id: str, origin: str | None) -> ProfileVectorsComputed:
        card = events[member_id].card.model_copy(update={"discoverable": False})
        update = {"card": card, "profile_version": 2, "origin": origin}
        return events[member_id].model_copy(update=update)

    fakes.next_offset = 500
    changes = MatchChangedMembers(fakes.state)
    background = BackgroundRerank(fakes.state, per_s=1000, refresh_interval_s=0)
    background._next_refresh = float("inf")  # no refresh in this test

    await changes(fakes.records((x, hidden(x, "import"))))
    await background.step()
    now[0] = 4.0
    await changes(fakes.records((y, hidden(y, "import"))))
    await background.step()
    assert list(fakes.publisher.on(MATCHES)) == [], "nothing ranked while the import runs"
    assert fakes.metrics.import_streaming._value.get() == 1, "operators see why lists wait"
    now[0] = 5.0
    await changes(fakes.records((editor, hidden(editor, None))))
    assert [r.key for r in fakes.publisher.on(MATCHES)] == [editor], "the own edit, at once"
    while fakes.state.queue._relist:
        await background.step()
    during = {r.key for r in fakes.publisher.on(MATCHES)}
    assert by_editor
    assert during == {editor} | by_editor, "what an own edit alters does not wait"
    assert all(m in fakes.state.queue for m in ({x, y} | by_import) - during)

    now[0] = 14.1  # no imported record for the quiet window
    while len(fakes.state.queue):
        await background.step()
    assert fakes.metrics.import_streaming._value.get() == 0
    keys = [r.key for r in fakes.publisher.on(MATCHES)]
    assert {x, y} | by_import <= set(keys)
    assert all(keys.count(m) == 1 for m in by_import | {x, y}), "each list ranked once"
    published = fakes.published_lists()
    assert all(x not in published[m] and y not in published[m] for m in by_import - {x, y})


def _bulk_import_world(
    rng: np.random.Generator, size: int
) -> tuple[MatchEngine, Fakes, ImportPause, list[float]]:
    """A ranked community on fakes whose import pause (10 s, by the returned clock) defers
    an import's scans from a tenth of the index."""
    community = _community(rng, size)
    now = [0.0]
    fakes = Fakes()
    fakes.engine = community
    pause = ImportPause(quiet_s=10.0, clock=lambda: now[0], bulk_share=0.1)
    fakes.state = replace(fakes.state, engine=community, sync_relists=0, imports=pause)
    community.matches_for(list(community.members), NOW)
    return community, fakes, pause, now


def _reimported(
    rng: np.random.Generator, engine: MatchEngine, member_id: str
) -> ProfileVectorsComputed:
    """New vectors for an indexed member, written by a bulk import."""
    event = _member(rng, member_id, engine.profile_version(member_id) + 1)
    return event.model_copy(update={"origin": "import"})


def _off_full_rerank(engine: MatchEngine, members: list[str]) -> list[str]:
    """Members whose list from their cache differs from their full re-rank over everyone."""
    return [
        m
        for m in members
        if [c for c, _ in engine.picks(m)] != [c for c, _ in engine.exact_picks(m)]
    ]


async def test_a_bulk_import_is_indexed_unscanned_and_every_cache_is_scanned_when_it_pauses() -> (
    None
):
    """An import as large as `bulk_share` of the index defers its members' scans: no cache
    learns of them while it streams (a live edit is still ranked at once, from a scan of
    everyone). When it pauses, every cache is scanned once, and then every member's list from
    its cache equals its full re-rank over everyone: 0 differences."""
    rng = np.random.default_rng(15)
    community, fakes, pause, now = _bulk_import_world(rng, 80)
    members = sorted(community.members)
    imported, editor = members[:24], members[-1]
    fakes.next_offset = 500
    changes = MatchChangedMembers(fakes.state)
    background = BackgroundRerank(fakes.state, per_s=1000, refresh_interval_s=0)
    background._next_refresh = float("inf")  # no periodic refresh in this test

    for start in (0, 12):  # two batches: the first already brings 0.1 of the index
        batch = [(m, _reimported(rng, community, m)) for m in imported[start : start + 12]]
        await changes(fakes.records(*batch))
        await background.step()
        now[0] += 2.0
    assert pause.deferring
    assert list(fakes.publisher.on(MATCHES)) == [], "nothing ranked while the import runs"
    stale = _off_full_rerank(community, members)
    assert stale, "the caches did not learn of the imported members: their scans wait"
    edit = _member(rng, editor, community.profile_version(editor) + 1)
    await changes(fakes.records((editor, edit)))
    assert [r.key for r in fakes.publisher.on(MATCHES)] == [editor], "the own edit, at once"

    now[0] += 10.1  # the import paused
    while len(fakes.state.queue) or pause.deferring:
        await background.step()
    assert background.refreshes == 1, "one scan of everyone, as at start"
    differences = _off_full_rerank(community, members)
    assert differences == []
    keys = [r.key for r in fakes.publisher.on(MATCHES)]
    assert set(imported) <= set(keys)
    assert all(keys.count(m) == 1 for m in imported), "each imported list ranked once"


async def test_a_restart_during_a_bulk_import_scans_everyone_at_start() -> None:
    """A snapshot taken while a bulk import defers its scans keeps them owed, but not the
    pause that would scan everyone: a matcher restarted from it refreshes every cache at
    start even though the caches came with the statistics they were scored under, and then
    every list from its cache equals its full re-rank."""
    rng = np.random.default_rng(16)
    community, fakes, _, _ = _bulk_import_world(rng, 60)
    members = sorted(community.members)
    fakes.next_offset = 500
    batch = [(m, _reimported(rng, community, m)) for m in members[:12]]
    await MatchChangedMembers(fakes.state)(fakes.records(*batch))
    assert community.owed_scans == 12

    restored = MatchEngine(
        dimensions=community.dimensions,
        top_n=community.top_n,
        weights=community.weights,
        cache_k=community.cache.size,
        lexical_k=2 * 60,
    )
    restored.import_state(community.export_state())
    assert restored.caches_current
    assert restored.owed_scans == 12
    state = replace(fakes.state, engine=restored, imports=ImportPause(quiet_s=10.0))
    background = BackgroundRerank(state, per_s=1000, refresh_interval_s=3600)
    for _ in range(200):
        await background.step()
        if background.refreshes and not len(state.queue):
            break
    assert background.refreshes == 1
    assert restored.owed_scans == 0
    differences = _off_full_rerank(restored, members)
    assert differences == []


def test_an_import_defers_its_scans_once_it_is_a_bulk_share_of_the_index() -> None:
    now = [0.0]
    pause = ImportPause(quiet_s=10.0, clock=lambda: now[0], bulk_share=0.1)
    pause.arrived(5)
    assert not pause.defers(100), "5 of 100: each scanned as it comes"
    pause.arrived(5)
    assert pause.defers(100)
    assert not pause.take_deferred(), "still streaming"
    now[0] = 20.0
    assert pause.take_deferred(), "paused: scan everyone, once"
    assert not pause.take_deferred()
    assert not pause.deferring
    pause.arrived(5)
    assert pause.imported == 5, "a record after the pause begins another import"
    assert not pause.defers(100)


def test_the_import_pause_holds_for_its_quiet_window_after_the_last_imported_record() -> None:
    now = [0.0]
    pause = ImportPause(quiet_s=10.0, clock=lambda: now[0])
    assert not pause.streaming(), "no import seen"
    pause.arrived()
    now[0] = 9.9
    assert pause.streaming()
    pause.arrived()
    now[0] = 19.8
    assert pause.streaming(), "the window runs from the last imported record"
    now[0] = 20.0
    assert not pause.streaming()
    assert not ImportPause(0.0).enabled
    assert pause.enabled


async def test_a_renamed_member_is_shown_renamed_in_the_lists_the_background_publishes() -> None:
    """The background publishes a list only where it differs from the stored one; a new name
    or headline of a suggested member is such a difference, though its pair odds are not."""
    rng = np.random.default_rng(16)
    community = _community(rng, 60)
    fakes = Fakes()
    fakes.engine = community
    fakes.state = replace(fakes.state, engine=community, sync_relists=0)
    await publish_matches(fakes.state, set(community.members))  # stored, as served
    events: dict[str, ProfileVectorsComputed] = community.events  # type: ignore[attr-defined]
    x = max(community.listed_in, key=lambda m: len(community.listed_in[m]))
    listers = set(community.listed_in[x])
    renamed = events[x].card.model_copy(update={"display_name": "Renamed", "headline": "New"})
    fakes.next_offset = 500

    await MatchChangedMembers(fakes.state)(
        fakes.records((x, events[x].model_copy(update={"card": renamed, "profile_version": 2})))
    )
    background = BackgroundRerank(fakes.state, per_s=1000, refresh_interval_s=0)
    background._next_refresh = float("inf")  # no refresh in this test
    while len(fakes.state.queue):
        await background.step()

    stored = await fakes.matches.get_many(sorted(listers))
    assert listers
    assert set(stored) == listers
    for lister in listers:
        shown = [s for s in stored[lister].suggestions if s.member_id == x]
        assert [(s.display_name, s.headline) for s in shown] == [("Renamed", "New")], lister


async def test_the_refresh_scans_every_cache_again() -> None:
    fakes = Fakes(mentor_vectors("me"), *(mentee_vectors(f"m-{i}", i) for i in range(11)))
    fakes.engine.matches_for(list(fakes.engine.members), NOW)
    for member_id in fakes.engine.members:
        fakes.engine.cache.clear(fakes.engine.members[member_id].row)
    now = [0.0]
    background = BackgroundRerank(
        fakes.state,
        per_s=4,
        refresh_interval_s=60,
        interval_s=1,
        clock=lambda: now[0],
        start_chunk=5,
    )

    await background.step()  # at start: every member queued, a start chunk taken (not paced)

    assert background.refreshes == 1
    assert len(fakes.state.queue) == 7
    assert background.trims == 0
    while len(fakes.state.queue):
        await background.step()
    assert fakes.engine.unbuilt(100) == []
    assert background.trims == 1, "the heap the refresh freed is handed back, once"
    assert background.freezes == 2, "what the replay and the refresh built is frozen"

    now[0] = 61.0
    await background.step()  # a later refresh is paced: per_s x interval members a step
    assert background.refreshes == 2
    assert len(fakes.state.queue) == 8
    await asyncio.sleep(0)


async def test_caches_restored_with_their_statistics_wait_for_the_interval() -> None:
    """A restart from a snapshot that holds the caches and the words' statistics they were
    scored under refreshes nothing at start; one without them does."""
    fakes = Fakes(mentor_vectors("me"), *(mentee_vectors(f"m-{i}", i) for i in range(11)))
    fakes.engine.matches_for(list(fakes.engine.members), NOW)
    for statistics in (True, False):
        state = fakes.engine.export_state()
        restored = MatchEngine(dimensions=fakes.engine.dimensions, top_n=fakes.engine.top_n)
        restored.import_state(state if statistics else replace(state, words_frozen=None))
        assert restored.caches_current is statistics
        background = BackgroundRerank(
            replace(fakes.state, engine=restored), per_s=4, refresh_interval_s=60
        )
        await background.step()
        assert background.refreshes == (0 if statistics else 1)


def test_the_caches_survive_the_snapshot_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    engine = _engine_with(rng, EXPOSED, 50)
    _step(rng, engine, 0)
    path = tmp_path / "vectors.snapshot.npz"
    save_snapshot(path, Snapshot("topic", 1, engine.export_state()))
    loaded = load_snapshot(path)
    assert loaded is not None
    assert loaded.state.caches is not None
    restored = MatchEngine(
        dimensions=engine.dimensions, top_n=engine.top_n, weights=engine.weights, cache_k=50
    )
    restored.import_state(loaded.state)
    assert restored.unbuilt(10) == []
    for member_id in sorted(engine.members):
        mine, theirs = engine.members[member_id].row, restored.members[member_id].row
        rows, odds = engine.cache.held(mine)
        restored_rows, restored_odds = restored.cache.held(theirs)
        assert restored.columns.ids[restored_rows].tolist() == engine.columns.ids[rows].tolist()
        assert restored_odds.tolist() == odds.tolist()


# --------------------------------------------------------------------------- the work skipped


def test_without_the_reciprocal_fit_its_inputs_are_skipped_and_the_odds_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `NNMATCH_RANKING_RECIPROCAL_WEIGHT` 0 (the default) a scan computes neither the
    offers↔seeks dense products nor the offers and seeks words' cosines; the odds are exactly
    those of the full computation (where the fit counts × 0), so cached pair odds stay exact
    whichever way they were scored. An engine that holds no seeks vectors and no offers or
    seeks words (the default with the fit off) scores the same odds, bit for bit."""
    lean = _community(np.random.default_rng(21))
    assert lean.weights.reciprocal == 0
    assert not lean.intent_texts
    assert VectorKind.SEEKS not in lean.indexes
    assert lean.lexical is not None
    assert len(lean.lexical.index) == 0
    engine = _community(np.random.default_rng(21), intent_texts=True)
    assert len(engine.indexes[VectorKind.SEEKS]) == len(engine.members)
    members = sorted(engine.members)[:70]  # more than one scan block
    skipped = dict(engine.scans(members))
    dots = engine._dots_block(engine._rows_of(members[:3]), engine.columns.used)
    assert all(d.seek_to_offer is None and d.offer_to_seek is None for d in dots)
    fit = next(iter(engine._fits(members[:1])))
    assert fit is not None
    assert fit.wanted is None
    assert fit.wanting is None

    for module in ("engine", "ranking"):  # every input computed, the fit weighed by 0
        monkeypatch.setattr(
            f"nnmatch_matching.matcher.{module}.scores_directions", lambda weights: True
        )
    full = dict(engine.scans(members))
    assert (
        engine._dots_block(engine._rows_of(members[:3]), engine.columns.used)[0].seek_to_offer
        is not None
    )

    for member_id in members:
        assert np.array_equal(skipped[member_id], full[member_id]), member_id
    assert any(np.isfinite(odds).sum() > 100 for odds in full.values())
    monkeypatch.undo()
    for member_id, odds in lean.scans(members):
        assert np.array_equal(odds, skipped[member_id]), member_id
    # The same off the fast path (weights large enough that the reference scores the pairs,
    # reading every held vector and the features' offers and seeks).
    slow = replace(lean.weights, profile=200.0)
    assert not fast_path(slow)
    lean.weights = engine.weights = slow
    for (member_id, odds), (_, full_odds) in zip(
        lean.scans(members), engine.scans(members), strict=True
    ):
        assert np.array_equal(odds, full_odds), member_id
    with pytest.raises(ValueError, match="intent_texts"):
        lean.signals(members[0], members[1:5])


def test_caches_scored_by_another_odds_formula_are_scanned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached odds from another way of computing them differ from a new scan's in the last
    bits: a snapshot saved under another `ODDS_FORMULA` loads without its caches."""
    rng = np.random.default_rng(16)
    engine = _engine_with(rng, EXPOSED, 30)
    _step(rng, engine, 0)
    path = tmp_path / "vectors.snapshot.npz"
    monkeypatch.setattr(snapshot, "ODDS_FORMULA", "an older formula")
    save_snapshot(path, Snapshot("topic", 1, engine.export_state()))
    monkeypatch.undo()

    loaded = load_snapshot(path)
    assert loaded is not None
    assert loaded.state.caches is None
    restored = MatchEngine(
        dimensions=engine.dimensions, top_n=engine.top_n, weights=engine.weights, cache_k=50
    )
    restored.import_state(loaded.state)
    assert not restored.caches_current
    assert len(restored.unbuilt(len(engine.members) + 1)) == len(engine.members)


async def test_the_refresh_scans_each_cache_once_though_lists_run_dry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cache whose list this replica ranks is scanned by the ranking itself, which keeps the
    scan for the shaping when the cache runs dry (here: a cache as deep as the list, and a
    country penalty that pushes picks below its bound), instead of being scanned twice."""
    members = [mentor_vectors("me"), *(mentee_vectors(f"m-{i}", i) for i in range(11))]
    fakes = Fakes(*members)
    engine = MatchEngine(
        dimensions=4,
        top_n=2,
        model_id=fakes.engine.model_id,
        cache_k=2,
        weights=RankingWeights(country_allowance=1, country_penalty=0.9, exposure_cap=0),
    )
    for offset, event in enumerate(members):
        engine.apply(event, LogPosition(0, offset))
    state = replace(fakes.state, engine=engine)
    scanned: list[str] = []
    shaped: list[str] = []
    scans, shape = engine.scans, engine._shaped

    def counting_scans(member_ids: list[str]) -> object:
        scanned.extend(member_ids)
        return scans(member_ids)

    def counting_shape(member_id: str, scan: np.ndarray) -> list[tuple[str, float]]:
        shaped.append(member_id)
        return shape(member_id, scan)

    monkeypatch.setattr(engine, "scans", counting_scans)
    monkeypatch.setattr(engine, "_shaped", counting_shape)
    background = BackgroundRerank(state, per_s=4, refresh_interval_s=60, start_chunk=5)
    await background.step()
    while len(state.queue):
        await background.step()

    assert shaped, "some lists ran dry: the case under test"
    assert sorted(scanned) == sorted(engine.members), "each cache scanned once"
    assert set(fakes.published_lists()) == set(engine.members)
