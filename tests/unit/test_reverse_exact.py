"""Reverse updates are exact: a changed member is scored against everyone at once, so every
member whose list it now enters is re-ranked (`MatchEngine.affected_by`).

Checked by brute force on a random community: after each change every member is ranked again
and the lists are compared with those before. The FAISS candidate pools are wider than the
community, so each list is the exact top-N over everyone and a list can only change through
what is under test; the exposure cap is off (by design a candidate's exposure counts at the
next ranking, it re-ranks no one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from nnmatch.events import FeedbackAction, MemberCard, ProfileVectorsComputed
from nnmatch.profile import Kind
from nnmatch_matching.matcher.engine import (
    DENSE_KINDS,
    MATRIX_VECTOR_ROWS,
    LogPosition,
    MatchEngine,
)
from nnmatch_matching.matcher.ranking import (
    WORD_BITS,
    Pairs,
    RankingWeights,
    score_all,
)
from nnmatch_matching.matcher.snapshot import Snapshot, load_snapshot, save_snapshot, snapshot_path
from tests.unit.builders import card, vectors_event

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SIZE = 300
DIMS = 12
TOP_N = 8
WEIGHTS = RankingWeights(exposure_cap=0)
COUNTRIES = ("KE", "NG", "GH", "FR", "BR", "IN")
LANGUAGES = ("en", "fr", "sw", "pt", "ar")
HUBS = ("hub-nairobi", "hub-lagos", "hub-paris", "hub-recife")
ORGANISATIONS = (None, None, "Acme Labs", "University of Nairobi", "Kwame Institute")
WORDS = tuple(
    """cassava disease detection satellite imagery rainfall forecasting drought soil carbon
    malaria diagnosis microscopy maternal health clinic records translation swahili speech
    recognition corpus parsing treebank fintech payments mobile money lending credit scoring
    solar microgrid battery storage irrigation sensors livestock vaccine supply logistics
    education tutoring curriculum literacy climate adaptation flood mapping drones wildlife
    poaching acoustic monitoring genomics sequencing wheat rust epidemiology surveillance""".split()  # noqa: SIM905
)


def _unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=DIMS).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _some(rng: np.random.Generator, values: tuple[str, ...], low: int, high: int) -> list[str]:
    k = int(rng.integers(low, high + 1))
    return [str(v) for v in rng.choice(values, size=k, replace=False)]


def _text(rng: np.random.Generator) -> str:
    return " ".join(_some(rng, WORDS, 0, 4))


def _member(
    rng: np.random.Generator,
    member_id: str,
    version: int = 1,
    words_of: ProfileVectorsComputed | None = None,
) -> ProfileVectorsComputed:
    """A member with random vectors (one in ten says nothing it offers or seeks), kinds,
    languages, SDGs, place, organisation and words (`words_of`: those of that event); one in
    fifteen is hidden."""
    kinds = list(Kind)
    quiet = rng.random() < 0.1
    zero = np.zeros(DIMS, dtype=np.float32)
    offers_text, seeks_text = _text(rng), _text(rng)
    terms = {w: int(rng.integers(1, 4)) for w in _some(rng, WORDS, 0, 10)}
    if words_of is not None:
        offers_text, seeks_text = words_of.card.offers_text, words_of.card.seeks_text
        terms = dict(words_of.terms)
    sdgs = rng.choice(np.arange(1, 18), size=int(rng.integers(0, 4)), replace=False)
    member: MemberCard = card(
        member_id,
        offers=tuple(
            Kind(k) for k in rng.choice(kinds, size=int(rng.integers(0, 3)), replace=False)
        ),
        seeks=tuple(
            Kind(k) for k in rng.choice(kinds, size=int(rng.integers(0, 3)), replace=False)
        ),
        languages=tuple(_some(rng, LANGUAGES, 1, 2)),
        country=str(rng.choice(COUNTRIES)),
        hubs=_some(rng, HUBS, 0, 1),
        sdgs=sorted(int(s) for s in sdgs),
        organisation_name=ORGANISATIONS[int(rng.integers(len(ORGANISATIONS)))],
        offers_text=offers_text,
        seeks_text=seeks_text,
        discoverable=bool(rng.random() > 1 / 15),
    )
    return vectors_event(
        member_id,
        member,
        profile=_unit(rng),
        offers=zero if quiet else _unit(rng),
        seeks=zero if quiet else _unit(rng),
        profile_version=version,
        terms=terms,
    )


def _community(
    rng: np.random.Generator,
    size: int = SIZE,
    words: bool = True,
    feedback: bool = True,
    intent_texts: bool | None = None,
) -> MatchEngine:
    """`size` random members, some feedback between them unless not `feedback` (accepts make
    connections); without `words` no words are indexed or weighed (`intent_texts`: as
    `MatchEngine`'s)."""
    engine = MatchEngine(
        dimensions=DIMS,
        top_n=TOP_N,
        candidate_k=2 * size,
        weights=WEIGHTS if words else replace(WEIGHTS, lexical=0.0),
        lexical_k=2 * size if words else 0,
        intent_texts=intent_texts,
    )
    events: dict[str, ProfileVectorsComputed] = {}
    for i in range(size):
        events[f"m-{i:04d}"] = _member(rng, f"m-{i:04d}")
        engine.apply(events[f"m-{i:04d}"], LogPosition(0, i))
    engine.events = events  # type: ignore[attr-defined]  # what each member was last sent
    ids = sorted(engine.members)
    for action, count in (
        (
            (FeedbackAction.ACCEPT, size // 2),
            (FeedbackAction.BLOCK, size // 15),
            (FeedbackAction.DISMISS, size // 15),
        )
        if feedback
        else ()
    ):
        for _ in range(count):
            giver, candidate = rng.choice(ids, size=2, replace=False)
            engine.record_feedback(str(giver), str(candidate), action)
    return engine


def _lists(engine: MatchEngine) -> dict[str, list[str]]:
    """Every member ranked again, each list checked against the brute force: its odds with
    everyone shaped, no cache (`exact_picks`)."""
    ranked = engine.matches_for(list(engine.members), NOW)
    lists = {m: [s.member_id for s in suggestions] for m, suggestions in ranked.items()}
    for member_id, listed in lists.items():
        assert listed == [m for m, _ in engine.exact_picks(member_id)], member_id
    return lists


def _changes(
    rng: np.random.Generator, engine: MatchEngine, steps: int, add: bool, same_words: bool
) -> Iterator[str]:
    """Change a random member (or, every third step if `add`, add one) `steps` times; yield
    each changed member once applied. `same_words`: a changed member keeps its words."""
    events: dict[str, ProfileVectorsComputed] = engine.events  # type: ignore[attr-defined]
    for step in range(steps):
        if add and step % 3 == 2:
            x = f"new-{step:03d}"
            events[x] = _member(rng, x)
        else:
            x = str(rng.choice(sorted(engine.members)))
            version = engine.profile_version(x) + 1
            events[x] = _member(rng, x, version, events[x] if same_words else None)
        engine.apply(events[x], LogPosition(0, 1000 + step))
        yield x


@pytest.mark.parametrize(
    ("seed", "words", "add"),
    [(1, False, True), (3, True, False)],
    ids=["no-words", "same-words"],
)
def test_a_change_re_ranks_every_list_it_alters_and_no_other(
    seed: int, words: bool, add: bool
) -> None:
    """Exact: every list a change alters (X enters it, or leaves it) belongs to an affected
    member. Words stay the same here (or there are none): a member's words move the BM25
    IDF, so a words change nudges every pair's word likeness (see the test below)."""
    rng = np.random.default_rng(seed)
    engine = _community(rng, words=words)
    before = _lists(engine)
    reached = 0
    for step, x in enumerate(_changes(rng, engine, 10, add=add, same_words=True)):
        affected = engine.affected_by([x], [])
        after = _lists(engine)

        entered = {m for m, listed in after.items() if x in listed and m != x}
        assert entered <= affected, f"step {step}: missed {sorted(entered - affected)}"
        changed = {m for m in after if after[m] != before.get(m)}
        assert changed <= affected, f"step {step}: unexpected changes {sorted(changed - affected)}"
        reached += len(entered)
        before = after
    assert reached > 10  # the changes did reach other members' lists


def test_a_member_whose_words_change_reaches_every_list_it_enters() -> None:
    """Words, vectors and card all change, members are added: every member whose list the
    changed member now enters is affected (0 missed), and every list shaped from its patched
    cache equals the full re-rank (0 differences). A change of words would move the BM25 IDF,
    so every pair's word likeness, by a hair: the statistics are frozen between refreshes
    (`LexicalIndex.freeze`), so cached pair odds stay exact."""
    rng = np.random.default_rng(5)
    engine = _community(rng)
    reached = 0
    engine.matches_for(list(engine.members), NOW)
    for step, x in enumerate(_changes(rng, engine, 24, add=True, same_words=False)):
        affected = engine.affected_by([x], [])
        engine.matches_for(affected, NOW)

        for member_id in engine.members:
            exact = engine.exact_picks(member_id)
            if member_id != x and x in {m for m, _ in exact}:
                assert member_id in affected, f"step {step}: missed {member_id}"
                reached += 1
            cached = engine.cached_picks(member_id)
            assert cached is not None
            assert [m for m, _ in cached] == [m for m, _ in exact], (step, member_id)
            assert [o for _, o in cached] == pytest.approx([o for _, o in exact], rel=1e-6)
    assert reached > 24


def test_a_removed_members_lists_are_re_ranked_and_nothing_else_changes() -> None:
    rng = np.random.default_rng(3)
    engine = _community(rng, 200, words=False)  # a removal moves the IDF (see above)
    before = _lists(engine)
    gone = max(engine.listed_in, key=lambda m: len(engine.listed_in[m]))

    engine.remove(gone, LogPosition(0, 999))
    affected = engine.affected_by([], [gone])
    after = _lists(engine)

    changed = {m for m in after if after[m] != before[m]}
    assert changed
    assert changed <= affected


def _assert_columns_match(engine: MatchEngine) -> None:
    """Each member's row of the columns holds its card's facts and its vectors' index rows."""
    columns = engine.columns
    rows = {state.row for state in engine.members.values()}
    assert len(rows) == len(engine.members)  # one row each
    assert set(np.flatnonzero(columns.live[: columns.used]).tolist()) == rows
    for member_id, state in engine.members.items():
        row, member = state.row, state.card
        assert columns.ids[row] == member_id
        assert columns.discoverable[row] == member.discoverable
        features = engine._features([member_id])
        for i, kind in enumerate(DENSE_KINDS):
            if kind in engine.indexes:  # no seeks held with the offers↔seeks fit off
                assert np.array_equal(
                    engine.indexes[kind].vectors([member_id])[0],
                    [features.profile, features.offers, features.seeks][i][0],
                )
        assert columns.sdgs[row] == sum(1 << s for s in member.sdgs)
        assert bin(int(columns.offers_kinds[row])).count("1") == len(member.offers_kinds)
        languages = engine._languages
        spoken = {
            code
            for code in range(columns.languages.shape[1] * WORD_BITS)
            if int(columns.languages[row, code // WORD_BITS]) >> (code % WORD_BITS) & 1
        }
        assert spoken == {languages.code(lang) for lang in member.languages}
        assert columns.countries[row] == engine._countries.code(member.country)
        assert engine.lexical is not None
        assert tuple(columns.lexical_rows[row]) == engine.lexical.rows(member_id)


def test_columns_stay_in_step_after_removal_reuse_and_import() -> None:
    rng = np.random.default_rng(4)
    engine = _community(rng, 60)
    engine.matches_for(list(engine.members), NOW)
    removed = sorted(engine.members)[:10]
    freed = {engine.members[m].row for m in removed}
    for i, member_id in enumerate(removed):
        engine.remove(member_id, LogPosition(0, 100 + i))
    used = engine.columns.used
    _assert_columns_match(engine)
    assert not engine.columns.live[sorted(freed)].any()

    for i in range(10):
        engine.apply(_member(rng, f"back-{i}"), LogPosition(0, 200 + i))

    assert engine.columns.used == used  # the freed rows were reused
    assert {engine.members[f"back-{i}"].row for i in range(10)} == freed
    _assert_columns_match(engine)
    assert all(engine.columns.floor[engine.members[f"back-{i}"].row] == np.inf for i in range(10))

    restored = MatchEngine(dimensions=DIMS, top_n=TOP_N, candidate_k=120, weights=WEIGHTS)
    restored.import_state(engine.export_state())
    _assert_columns_match(restored)
    x = "back-3"
    assert restored._features([x]).languages.shape[1] == restored.columns.languages.shape[1]
    for other in (restored, engine):
        other.matches_for(list(other.members), NOW)
    assert restored.affected_by([x], []) == engine.affected_by([x], [])


def test_more_than_64_languages_widen_the_bitmask_and_still_decide_who_speaks_whose() -> None:
    rng = np.random.default_rng(5)
    engine = MatchEngine(dimensions=DIMS, top_n=3, candidate_k=300, weights=WEIGHTS)
    for i in range(150):  # each speaks its own language and the one of the next member
        event = _member(rng, f"p-{i:03d}")
        member = event.card.model_copy(
            update={"languages": [f"l{i:03d}", f"l{i + 1:03d}"], "discoverable": True}
        )
        engine.apply(event.model_copy(update={"card": member}), LogPosition(0, i))
    assert engine.columns.languages.shape[1] >= 3

    lists = _lists(engine)

    for i in range(1, 149):
        assert set(lists[f"p-{i:03d}"]) == {f"p-{i - 1:03d}", f"p-{i + 1:03d}"}
    x = "p-100"
    assert engine.affected_by([x], []) == {x, "p-099", "p-101"}


def test_the_scan_scores_as_each_members_own_ranking_does() -> None:
    """X's odds against everyone from the columns at once equal, for each member, the odds
    that member's own ranking gives X (symmetry; the columns read like per-list features)."""
    rng = np.random.default_rng(6)
    engine = _community(rng, 120)
    x = next(m for m in sorted(engine.members) if engine.members[m].card.discoverable)
    scan = engine._odds_with_everyone(x, next(iter(engine._fits([x]))))
    fits = dict(zip(sorted(engine.members), engine._fits(sorted(engine.members)), strict=True))
    compared = 0
    for other in sorted(engine.members):
        if other == x:
            assert scan[engine.members[x].row] == -np.inf
            continue
        pair = [other, x]
        rows = engine._rows_of(pair)
        features = engine._features_at(rows, pair)
        own = score_all(
            Pairs(
                0,
                features,
                features,
                lexical=engine._sides(fits[other], rows),
                connections=engine._connections_in_common(other, pair),
            ),
            engine.weights,
        )[1]
        assert scan[engine.members[other].row] == pytest.approx(own, rel=1e-5), other
        compared += np.isfinite(own)
    assert compared > 20
    assert len(scan) == engine.columns.used


def test_a_scan_is_the_same_alone_in_any_block_and_from_either_side() -> None:
    """A pair's odds are the same from either side, and a member's odds scanned alone are
    those of its block, at the model's 384 dimensions: to the bit for the dense products (on
    the exact grid, a lone member's matrix–vector products equal its row of a block's
    matrix–matrix product, `MatchEngine._dots_block`), to rounding for the odds (the words'
    BM25 multiplies in another order from each side)."""
    rng = np.random.default_rng(11)
    dims = 384
    engine = MatchEngine(dimensions=dims, top_n=TOP_N, weights=WEIGHTS)

    def unit() -> np.ndarray:
        vector = rng.normal(size=dims).astype(np.float32)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    for i in range(150):
        small = _member(rng, f"m-{i:04d}")
        event = vectors_event(
            small.member_id,
            small.card,
            profile=unit(),
            offers=unit(),
            seeks=unit(),
            terms=dict(small.terms),
        )
        engine.apply(event, LogPosition(0, i))
    ids = sorted(engine.members)
    together = dict(engine.scans(ids))
    n = engine.columns.used
    block = engine._dots_block(engine._rows_of(ids[:64]), n)
    assert len(block) > MATRIX_VECTOR_ROWS
    for i in range(0, 64, 9):
        (lone_dots,) = engine._dots_block(engine._rows_of([ids[i]]), n)
        assert np.array_equal(lone_dots.profile, block[i].profile), ids[i]
        for size in range(2, min(MATRIX_VECTOR_ROWS, 64 - i) + 1):  # matrix–vector too
            few = engine._dots_block(engine._rows_of(ids[i : i + size]), n)
            for j, row_dots in enumerate(few):
                assert np.array_equal(row_dots.profile, block[i + j].profile), ids[i + j]
    rows = engine._rows_of(ids[:64])
    profiles = np.stack([dots.profile[rows] for dots in block])
    assert np.array_equal(profiles, profiles.T)  # the same dot from either side
    for member in ids[::13]:
        alone = engine._odds_with_everyone(member, next(iter(engine._fits([member]))))
        assert np.array_equal(np.isfinite(alone), np.isfinite(together[member])), member
        np.testing.assert_allclose(alone, together[member], rtol=1e-6)
    row = {m: engine.members[m].row for m in ids}
    finite = 0
    for a in ids[:60]:
        for b in ids[:60]:
            assert together[a][row[b]] == pytest.approx(together[b][row[a]], rel=1e-6), (a, b)
            finite += bool(np.isfinite(together[a][row[b]]))
    assert finite > 1000  # most pairs share a language: the check compares real odds


def test_a_restart_from_a_snapshot_scores_every_pair_as_before_it(tmp_path: Path) -> None:
    """The words' statistics the caches were scored under travel in the snapshot: members
    arriving after the freeze move the live statistics, yet the restored engine scores every
    pair as the saved one did, so its restored caches stay exact and need no refresh."""
    rng = np.random.default_rng(8)
    engine = _community(rng, 120, feedback=False)  # feedback lives in Redis, not the snapshot
    _lists(engine)  # scans everyone: the words' statistics are frozen here
    for i in range(120, 160):  # new words and documents after the freeze
        event = _member(rng, f"m-{i:04d}")
        engine.apply(event, LogPosition(0, i))
    engine.affected_by([], [])
    path = snapshot_path(tmp_path, "t-profile-vectors.v1")
    save_snapshot(path, Snapshot("t-profile-vectors.v1", 1, engine.export_state()))
    loaded = load_snapshot(path)
    assert loaded is not None
    assert loaded.state.words_frozen is not None

    restored = MatchEngine(
        dimensions=DIMS, top_n=TOP_N, candidate_k=2 * 160, weights=WEIGHTS, lexical_k=320
    )
    restored.import_state(loaded.state)
    fresh = MatchEngine(
        dimensions=DIMS, top_n=TOP_N, candidate_k=2 * 160, weights=WEIGHTS, lexical_k=320
    )
    fresh.import_state(replace(loaded.state, words_frozen=None))

    assert restored.caches_current
    assert not fresh.caches_current
    ids = sorted(engine.members)[::7]
    before, after, unfrozen = (dict(e.scans(ids)) for e in (engine, restored, fresh))
    row = {m: engine.members[m].row for m in engine.members}
    again = {m: restored.members[m].row for m in restored.members}
    moved = 0
    for member in ids:
        for other in engine.members:
            assert after[member][again[other]] == pytest.approx(
                before[member][row[other]], rel=1e-12
            )
            moved += unfrozen[member][again[other]] != pytest.approx(
                before[member][row[other]], rel=1e-12
            )
    assert moved > 0, "fresh statistics would have scored pairs differently"


def test_a_lists_shared_words_are_each_pairs_rarest_words() -> None:
    """`shared_terms_many` (one pass for a whole list) gives, per candidate, what comparing
    the two documents alone gives: the shared terms, rarest first, ties by the term (not its
    id: replicas number terms in the order their documents came in)."""
    rng = np.random.default_rng(9)
    engine = _community(rng, 80, feedback=False)
    assert engine.lexical is not None
    profiles = engine.lexical.profiles
    ids = sorted(engine.members)
    for member in ids[:10]:
        together = profiles.shared_terms_many(member, [*ids, "nobody"], 3)
        assert together[-1] == []
        for other, terms in zip(ids, together, strict=False):
            mine, theirs = (profiles._docs[profiles._rows[m]].term_ids for m in (member, other))
            shared = np.intersect1d(mine, theirs)
            n, df = len(profiles._docs), profiles._df[shared].astype(np.float64)
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            words = [profiles._words[t] for t in shared]
            alone = [w for _, w in sorted(zip(-idf, words, strict=True))][:3]
            assert terms == alone, (member, other)
