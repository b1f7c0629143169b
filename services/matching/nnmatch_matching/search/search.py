"""Hub search: free text plus filters → ranked discoverable members with reasons.

Two retrievers over the same members: dense (the query's embedding against everyone's offers
and profile vectors; a member's dense score is the better of the two cosines) and lexical
(BM25 over the member's own words, `lexical.py`). Their candidate lists are fused by
normalised scores (the default) or reciprocal-rank fusion, weights as settings. Filters are
applied *before* ranking (exactly, not by over-fetching and hoping): the dense side scores
every allowed member straight from the indexes' vector matrices (FAISS's SIMD inner-product
kernels: one pass over a matrix when most members are allowed, only the allowed rows
otherwise), so it is exact whatever the filter and the index kind.

`ranking()` is the pure core (also what `nnmatch eval` calls with each mode); `HubSearch` is the
thin async shell that keeps the catalogue in step with the engine (incrementally: only members
whose state changed) and embeds and ranks in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from functools import lru_cache, partial
from typing import Literal, Protocol, TypeVar

import faiss
import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, Reason, ReasonParam, Suggestion, VectorKind
from nnmatch.paging import BadCursor, decode_cursor, encode_cursor
from nnmatch.profile import SDG_NAMES
from nnmatch.reasons import QUOTE_CHARS, clip_words
from nnmatch_matching.embedding.embedder import Embedder, configured_embedder, embed_documents
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.lexical import Mask, top_k
from nnmatch_matching.matcher.member_matrix import Matrix, MemberMatrix
from nnmatch_matching.matcher.ranking import LANGUAGE_NAMES
from nnmatch_matching.search.catalogue import Catalogue, Changes, Rows, SearchFilters
from nnmatch_matching.settings import MatchingSettings

Vector = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]
DENSE_KINDS = (VectorKind.OFFERS, VectorKind.PROFILE)
SMALL_SCAN = 2048
"""Up to this many rows, numpy scores the gathered rows (no call into FAISS)."""
FULL_SCAN_SHARE = 4
"""Dense scores come from one pass over an index's whole matrix once the wanted rows are more
than a quarter of it (a filter leaving most members), else from the wanted rows only."""
T = TypeVar("T")


class Mode(StrEnum):
    DENSE = "dense"
    LEXICAL = "lexical"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class Fusion:
    """How the two candidate lists become one; see the README's NNMATCH_SEARCH_* settings."""

    method: Literal["rrf", "score"] = "score"
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    rrf_k: int = 60
    candidate_k: int = 200


def fusion_of(settings: MatchingSettings) -> Fusion:
    return Fusion(
        method=settings.search_fusion,
        dense_weight=settings.search_dense_weight,
        lexical_weight=settings.search_lexical_weight,
        rrf_k=settings.search_rrf_k,
        candidate_k=settings.search_candidate_k,
    )


@dataclass(frozen=True)
class Hit:
    member_id: str
    score: float
    dense: float
    lexical: float


def _index_store(index: MemberMatrix) -> tuple[Matrix, Mapping[str, int]]:
    """The kind's vector matrix and its member → row map, read-only: the map first, then the
    matrix, since the matrix is only ever replaced by a larger copy."""
    rows: Mapping[str, int] = index.rows
    return index.matrix, rows


_SCANS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-scan")
"""Reads a search's other dense kinds while its own thread reads the first."""


def _scan(matrix: Matrix, places: Rows, query: Vector) -> Scores:
    """`matrix[places] @ query`, with FAISS's SIMD inner-product kernels on our own arrays (no
    FAISS index is touched, so it is safe beside the engine changing its indexes; single
    threaded, and several times faster than numpy's gemv here). One pass over the whole matrix
    when most of it is wanted, else only the wanted rows, read in place."""
    if len(places) == 0:
        return np.zeros(0)
    if len(places) <= SMALL_SCAN:
        return (matrix[places] @ query).astype(np.float64)
    high = min(len(matrix), int(places.max()) + 1)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)  # as the index keeps it: no copy
    query = np.ascontiguousarray(query, dtype=np.float32)
    if len(places) * FULL_SCAN_SHARE >= high:
        everyone = np.empty(high, dtype=np.float32)
        faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]
            faiss.swig_ptr(everyone),
            faiss.swig_ptr(query),
            faiss.swig_ptr(matrix),
            matrix.shape[1],
            high,
        )
        return everyone[places].astype(np.float64)
    wanted = np.ascontiguousarray(places, dtype=np.int64)
    scores = np.empty(len(wanted), dtype=np.float32)
    faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]
        faiss.swig_ptr(scores),
        faiss.swig_ptr(query),
        faiss.swig_ptr(matrix),
        faiss.swig_ptr(wanted),
        matrix.shape[1],
        1,
        len(wanted),
    )
    return scores.astype(np.float64)


def _dense_places(indexes: Mapping[VectorKind, MemberMatrix], catalogue: Catalogue) -> list[Rows]:
    """Per dense kind, each catalogue row's row in that index (-1: not there), kept up to date
    from the rows the catalogue changed since the last call."""
    places = []
    for kind in DENSE_KINDS:
        index = indexes[kind]
        _, index_rows = _index_store(index)
        places.append(catalogue.rows_in(("dense", kind), index, index_rows.get))
    return places


def _row_scores(
    indexes: Mapping[VectorKind, MemberMatrix], catalogue: Catalogue, query: Vector, rows: Rows
) -> tuple[Rows, Scores]:
    """The catalogue rows among `rows` whose member is in every dense index, and each one's
    max(cosine to offers, cosine to profile): array operations over the index matrices, no
    Python loop over members."""
    places = [place[rows] for place in _dense_places(indexes, catalogue)]
    present = np.logical_and.reduce([p >= 0 for p in places])
    scans = [
        (_index_store(indexes[kind])[0], place[present])
        for kind, place in zip(DENSE_KINDS, places, strict=True)
    ]
    if int(present.sum()) <= SMALL_SCAN:  # a narrow filter: less than a thread hand-off costs
        return rows[present], np.max([_scan(m, w, query) for m, w in scans], axis=0)
    # Large scans are memory bound and FAISS lets go of the GIL: the kinds are read side by side.
    others = [_SCANS.submit(_scan, matrix, wanted, query) for matrix, wanted in scans[1:]]
    best = _scan(*scans[0], query)
    for other in others:
        best = np.maximum(best, other.result())
    return rows[present], best


def _best_rows(rows: Rows, scores: Scores, k: int) -> tuple[Rows, Scores]:
    """The rows scoring at least the k-th best (ties at the cut kept, for the id tie-break)."""
    if len(rows) > k:
        cutoff = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= cutoff
        rows, scores = rows[keep], scores[keep]
    return rows, scores


def dense_top(
    indexes: Mapping[VectorKind, MemberMatrix],
    catalogue: Catalogue,
    query: Vector,
    allowed: Mask,
    k: int,
) -> list[tuple[str, float]]:
    """Best `k` allowed members by max(cosine to offers, cosine to profile), best first.

    Exact for every allowed member whatever the filter (a scan of the index matrices, not an
    approximate FAISS search). The winners are scored again from the engine's indexes as they
    are now, so a member the engine changed since the catalogue's last sync shows its current
    score (and one no longer indexed is left out)."""
    rows, scores = _row_scores(indexes, catalogue, query, np.flatnonzero(allowed))
    rows, _ = _best_rows(rows, scores, k)
    names = [n for n in catalogue.names_of(rows).tolist() if n is not None]
    present, current = _current_scores(indexes, names, query)
    scored = [
        (m, float(s))
        for m, s, ok in zip(names, current.tolist(), present.tolist(), strict=True)
        if ok
    ]
    scored.sort(key=lambda h: (-h[1], h[0]))
    return scored[:k]


def _current_scores(
    indexes: Mapping[VectorKind, MemberMatrix], member_ids: Sequence[str], query: Vector
) -> tuple[Mask, Scores]:
    """Whether each member is in every dense index now, and its dense score (0 where not)."""
    places = []
    for kind in DENSE_KINDS:
        _, index_rows = _index_store(indexes[kind])
        get = index_rows.get
        places.append(np.fromiter((get(m, -1) for m in member_ids), np.int64, len(member_ids)))
    present = np.logical_and.reduce([p >= 0 for p in places]) if places else np.zeros(0, bool)
    best = np.zeros(len(member_ids))
    if present.any():
        best[present] = np.max(
            [
                _scan(_index_store(indexes[kind])[0], place[present], query)
                for kind, place in zip(DENSE_KINDS, places, strict=True)
            ],
            axis=0,
        )
    return present, best


def dense_scores(
    indexes: Mapping[VectorKind, MemberMatrix], member_ids: list[str], query: Vector
) -> list[float]:
    """max(cosine to offers, cosine to profile) per member; 0 for one no longer indexed (the
    catalogue syncs at intervals, so it may still hold a member the engine just removed)."""
    _, best = _current_scores(indexes, member_ids, query)
    return [float(s) for s in best.tolist()]


def fuse(
    dense: list[tuple[str, float]],
    lexical: list[tuple[str, float]],
    fusion: Fusion,
    dense_of: Callable[[list[str]], list[float]],
    lexical_of: Callable[[list[str]], list[float]],
) -> list[Hit]:
    """One list from both, best first. RRF: Σ weight / (k + rank), scaled so 1.0 is first in
    both lists. Score: weighted mean of the cosine (clipped at 0) and BM25 / best BM25.

    Arrays over the union of the two lists (a few hundred ids), not a function per member."""
    wd, wl = fusion.dense_weight, fusion.lexical_weight
    ids = sorted({m for m, _ in dense} | {m for m, _ in lexical})
    at = {m: i for i, m in enumerate(ids)}
    d_score, d_rank = _side(ids, at, dense, dense_of)
    l_score, l_rank = _side(ids, at, lexical, lexical_of)
    if fusion.method == "rrf":
        best = (wd + wl) / (fusion.rrf_k + 1) or 1.0
        d = np.where(d_rank > 0, wd / (fusion.rrf_k + d_rank), 0.0)
        lx = np.where(l_rank > 0, wl / (fusion.rrf_k + l_rank), 0.0)
        fused = (d + lx) / best
    else:
        top_lexical = max((s for _, s in lexical), default=0.0) or 1.0
        total = (wd + wl) or 1.0
        normalised = np.minimum(1.0, l_score / top_lexical)
        fused = (wd * np.maximum(0.0, d_score) + wl * normalised) / total
    hits = [
        Hit(m, f, d, lx)
        for m, f, d, lx in zip(ids, fused.tolist(), d_score.tolist(), l_score.tolist(), strict=True)
    ]
    hits.sort(key=lambda h: (-h.score, h.member_id))
    return hits


def _side(
    ids: list[str],
    at: Mapping[str, int],
    have: list[tuple[str, float]],
    score_of: Callable[[list[str]], list[float]],
) -> tuple[Scores, Scores]:
    """One retriever's score of every id (asking `score_of` for those not in its list) and
    its rank (1-based; 0 where not in its list)."""
    scores = np.zeros(len(ids))
    ranks = np.zeros(len(ids))
    listed = np.fromiter((at[m] for m, _ in have), np.int64, len(have))
    scores[listed] = np.fromiter((s for _, s in have), np.float64, len(have))
    ranks[listed] = np.arange(1, len(have) + 1)
    absent, found = _missing(ids, have, score_of)
    if absent:
        scores[np.fromiter((at[m] for m in absent), np.int64, len(absent))] = found
    return scores, ranks


def _missing(
    ids: list[str], have: list[tuple[str, float]], score_of: Callable[[list[str]], list[float]]
) -> tuple[list[str], list[float]]:
    known = {m for m, _ in have}
    absent = [m for m in ids if m not in known]
    return absent, score_of(absent) if absent else []


def ranking(
    mode: Mode,
    query: str,
    query_vector: Vector | None,
    indexes: Mapping[VectorKind, MemberMatrix],
    catalogue: Catalogue,
    filters: SearchFilters,
    fusion: Fusion,
) -> list[Hit]:
    """Allowed members ranked for a query by one retriever or both fused, best first."""
    allowed = catalogue.allowed(filters)
    k = fusion.candidate_k
    all_lexical = catalogue.lexical.scores(query)
    names = catalogue.lexical.names
    lexical = top_k(all_lexical, k, allowed, names) if mode is not Mode.DENSE else []
    dense: list[tuple[str, float]] = []
    if mode is not Mode.LEXICAL and query_vector is not None:
        dense = dense_top(indexes, catalogue, query_vector, allowed, k)
    if mode is Mode.DENSE:
        lexical_of = _lexical_of(catalogue, all_lexical, [m for m, _ in dense])
        return [Hit(m, s, s, lx) for (m, s), lx in zip(dense, lexical_of, strict=True)]
    if mode is Mode.LEXICAL or query_vector is None:
        top = max((s for _, s in lexical), default=1.0)
        return [Hit(m, s / top, 0.0, s) for m, s in lexical]

    def lexical_of_ids(ids: list[str]) -> list[float]:
        return _lexical_of(catalogue, all_lexical, ids)

    def dense_of_ids(ids: list[str]) -> list[float]:
        return dense_scores(indexes, ids, query_vector)

    return fuse(dense, lexical, fusion, dense_of_ids, lexical_of_ids)


def _lexical_of(catalogue: Catalogue, all_lexical: Scores, ids: Sequence[str]) -> list[float]:
    row = catalogue.lexical.row
    rows = np.fromiter((row(m) or 0 for m in ids), np.int64, len(ids))
    scores: list[float] = all_lexical[rows].tolist()
    return scores


# --- reasons ---------------------------------------------------------------------------------


def search_reasons(
    query: str, card: MemberCard, hit: Hit, filters: SearchFilters, hub: str | None
) -> list[Reason]:
    """Why this member answers the search, from the query's words, the filters and the card."""
    wanted = _query_terms(query)
    out: list[Reason] = []
    tags = [t for t in [*card.expertise, *card.interests] if wanted & _text_terms(t)]
    tags = list(dict.fromkeys(tags))[:3]
    offers_hit = bool(wanted & _text_terms(card.offers_text))
    kinds = ", ".join(OFFER_PHRASES[k] for k in card.offers_kinds)
    if offers_hit or (tags and kinds):
        what = f"offers {kinds or 'help'}"
        params: dict[str, ReasonParam] = {"kinds": [str(k) for k in card.offers_kinds]}
        if tags:
            text = f"{what} in {', '.join(tags)} that you searched for"
            params["topics"] = tags
        else:
            quote = clip_words(card.offers_text, QUOTE_CHARS)
            text = f"{what} matching your search: {quote}"
            params |= {"quote": quote, "quote_of": "them"}
        out.append(Reason(kind="offer_meets_query", text=text, params=params))
    elif tags:
        out.append(
            Reason(
                kind="topic_meets_query",
                text=f"works on {', '.join(tags)}",
                params={"topics": tags},
            )
        )
    elif hit.dense > 0:
        out.append(
            Reason(
                kind="close_in_meaning",
                text=f"profile close in meaning to your search (similarity {hit.dense:.2f})",
                params={"similarity": round(float(hit.dense), 2)},
            )
        )
    sdgs = sorted(set(card.sdgs) & filters.sdgs)
    if sdgs:
        names = ", ".join(f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs[:2])
        out.append(Reason(kind="sdg", text=f"works on {names}", params={"sdgs": sdgs[:2]}))
    kinds_wanted = [k for k in card.offers_kinds if k in filters.kinds]
    if kinds_wanted and not any(r.kind == "offer_meets_query" for r in out):
        out.append(
            Reason(
                kind="kind",
                text=f"offers {OFFER_PHRASES[kinds_wanted[0]]}",
                params={"kinds": [str(kinds_wanted[0])]},
            )
        )
    if filters.countries or filters.regions:
        out.append(
            Reason(
                kind="location", text=f"based in {card.country}", params={"country": card.country}
            )
        )
    spoken = [code for code in card.languages if code in filters.languages]
    if spoken:
        out.append(
            Reason(
                kind="language",
                text=f"speaks {LANGUAGE_NAMES.get(spoken[0], spoken[0])}",
                params={"language": spoken[0]},
            )
        )
    if hub and hub in card.hubs:
        out.append(Reason(kind="hub", text=f"in your hub ({hub})", params={"hub": hub}))
    else:
        hubs = [h for h in card.hubs if h in filters.hubs]
        if hubs:
            out.append(Reason(kind="hub", text=f"in the {hubs[0]} hub", params={"hub": hubs[0]}))
    return out


@lru_cache(maxsize=256)
def _query_terms(query: str) -> frozenset[str]:
    """A query's analysed words, once per query (not once per member on its page)."""
    return frozenset(terms(query))


@lru_cache(maxsize=65_536)
def _text_terms(text: str) -> frozenset[str]:
    """A card's tag or offer text analysed once, not again on every page it appears on."""
    return frozenset(terms(text))


# --- paging ----------------------------------------------------------------------------------

_CURSOR = re.compile(r"s:([0-9]{1,6}):([0-9a-f]{16})")


def search_digest(query: str, filters: SearchFilters) -> str:
    """Names one search, so a cursor is refused by any other (a different query or filters)."""
    canonical = json.dumps(
        [query, *(sorted(map(str, getattr(filters, f.name))) for f in fields(filters))]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cursor_offset(cursor: str | None, digest: str) -> int:
    if not cursor:
        return 0
    match = _CURSOR.fullmatch(decode_cursor(cursor))
    if match is None or match.group(2) != digest:
        raise BadCursor("cursor is not one this server issued for this search; start again")
    return int(match.group(1))


def page_of(total: int, offset: int, limit: int, digest: str) -> tuple[int, int, str | None]:
    end = min(total, offset + limit)
    return offset, end, encode_cursor(f"s:{end}:{digest}") if end < total else None


# --- the shell -------------------------------------------------------------------------------


class Members(Protocol):
    """What search reads of the engine: its members (with cards) and its vector indexes."""

    @property
    def members(self) -> Mapping[str, _HasCard]: ...

    @property
    def indexes(self) -> Mapping[VectorKind, MemberMatrix]: ...

    @property
    def model_id(self) -> str | None: ...


class _HasCard(Protocol):
    @property
    def card(self) -> MemberCard: ...


class SearchUnavailable(RuntimeError):
    """Search cannot answer here now (no index in this process, model not loaded or another)."""


@dataclass(frozen=True)
class SearchPage:
    items: list[Suggestion]
    next_cursor: str | None


class HubSearch:
    """Keeps a catalogue in step with the engine and answers searches over both."""

    def __init__(
        self,
        engine: Members,
        fusion: Fusion,
        load_embedder: Callable[[], Embedder] | None,
        sync_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.fusion = fusion
        self.catalogue = Catalogue()
        self._load_embedder = load_embedder
        self._embedder: asyncio.Future[Embedder] | None = None
        self._sync_interval_s = sync_interval_s
        self._clock = clock
        self._synced_at: float | None = None
        self._sync_lock = asyncio.Lock()
        # The catalogue is changed (a sync) and read (a ranking) in worker threads: one at a time.
        self._catalogue_lock = threading.Lock()

    def start_loading(self) -> None:
        """Load the query model in a thread now, so the first search does not wait for it."""
        if self._embedder is None and self._load_embedder is not None:
            self._embedder = asyncio.ensure_future(asyncio.to_thread(self._load_embedder))

    async def embedder(self) -> Embedder | None:
        if self._load_embedder is None:
            return None
        self.start_loading()
        assert self._embedder is not None
        try:
            return await self._embedder
        except Exception as exc:
            raise SearchUnavailable(f"the query model did not load: {exc}") from exc

    async def refresh(self) -> None:
        """Bring the catalogue in step with the engine, at most once per sync interval.

        Incremental: only members whose state changed (a new card object) or that are gone are
        analysed and applied, in a worker thread; on the event loop, only a copy of the
        engine's member map (one C-level dict copy, so the engine may go on changing)."""
        async with self._sync_lock:
            now = self._clock()
            if self._synced_at is not None and now - self._synced_at < self._sync_interval_s:
                return
            states = dict(self.engine.members)
            await asyncio.to_thread(self._sync, states)
            self._synced_at = now

    def _sync(self, states: dict[str, _HasCard]) -> None:
        changed, removed = self.catalogue.diff_states(states)
        if changed or removed:
            changes: Changes = Catalogue.analyse(changed, removed)
            with self._catalogue_lock:
                self.catalogue.apply(changes)
                _dense_places(self.engine.indexes, self.catalogue)  # here, not in a search
        self.catalogue.note_states(states)

    async def read(self, look: Callable[[Catalogue, Mapping[VectorKind, MemberMatrix]], T]) -> T:
        """`look` over the catalogue (brought in step first) and the engine's vector matrices,
        in a worker thread under the catalogue's lock: how another ranking over the same
        members (a project's candidates) reads them without a second catalogue."""
        await self.refresh()

        def run() -> T:
            with self._catalogue_lock:
                return look(self.catalogue, self.engine.indexes)

        return await asyncio.to_thread(run)

    def _current_card(self, member_id: str) -> MemberCard | None:
        state = self.engine.members.get(member_id)
        return state.card if state is not None and state.card.discoverable else None

    async def query_vector(self, query: str) -> Vector | None:
        embedder = await self.embedder()
        if embedder is None:
            return None
        self._check_model(embedder)
        vectors = await asyncio.to_thread(embed_documents, embedder, [query])
        vector: Vector = vectors[0]
        return vector

    def _check_model(self, embedder: Embedder) -> None:
        model = f"{embedder.model.id}@{embedder.model.version}"
        if self.engine.model_id is not None and self.engine.model_id != model:
            raise SearchUnavailable(
                f"the index holds vectors of {self.engine.model_id}; queries are embedded with "
                f"{model}"
            )

    async def search(
        self,
        query: str,
        filters: SearchFilters,
        limit: int,
        cursor: str | None,
        now: datetime,
        hub: str | None = None,
    ) -> SearchPage:
        """One page of results. The query is embedded in a worker thread while a due sync runs
        in another; ranking and the page's reasons then run in a worker thread too, so the event
        loop stays free throughout."""
        digest = search_digest(query, filters)
        offset = cursor_offset(cursor, digest)
        embedder = await self.embedder()
        embedding: asyncio.Future[Matrix] | None = None
        if embedder is not None:
            self._check_model(embedder)
            embedding = asyncio.ensure_future(asyncio.to_thread(embed_documents, embedder, [query]))
        try:
            await self.refresh()
        finally:
            vector = None if embedding is None else (await embedding)[0]
        return await asyncio.to_thread(
            self._answer, vector, query, filters, offset, limit, digest, now, hub
        )

    def _answer(
        self,
        vector: Vector | None,
        query: str,
        filters: SearchFilters,
        offset: int,
        limit: int,
        digest: str,
        now: datetime,
        hub: str | None,
    ) -> SearchPage:
        with self._catalogue_lock:
            hits = ranking(
                Mode.HYBRID if vector is not None else Mode.LEXICAL,
                query,
                vector,
                self.engine.indexes,
                self.catalogue,
                filters,
                self.fusion,
            )
        # The catalogue may lag the engine by a sync interval: what the engine holds now decides
        # (a member erased or hidden since is never shown, and shows their current card). Only
        # as many hits as the page and one more are looked up: that one says if a next exists.
        shown: list[tuple[Hit, MemberCard]] = []
        for hit in hits:
            card = self._current_card(hit.member_id)
            if card is not None:
                shown.append((hit, card))
                if len(shown) > offset + limit:
                    break
        start, end, next_cursor = page_of(len(shown), offset, limit, digest)
        items = []
        for hit, card in shown[start:end]:
            items.append(
                Suggestion(
                    member_id=hit.member_id,
                    display_name=card.display_name,
                    headline=card.headline,
                    country=card.country,
                    score=round(hit.score, 4),
                    reasons=search_reasons(query, card, hit, filters, hub),
                    computed_at=now,
                )
            )
        return SearchPage(items, next_cursor)


def hub_search(settings: MatchingSettings, engine: Members) -> HubSearch:
    """The configured search over `engine`: the query model only with `search_dense`."""
    load = partial(configured_embedder, settings) if settings.search_dense else None
    return HubSearch(
        engine, fusion_of(settings), load, sync_interval_s=settings.search_sync_interval_s
    )
