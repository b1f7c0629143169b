"""Hub search: free text plus filters → ranked discoverable members with reasons.

Two retrievers over the same members: dense (the query's embedding against everyone's offers
and profile vectors in FAISS; a member's dense score is the better of the two cosines) and
lexical (BM25 over the member's own words, `lexical.py`). Their candidate lists are fused by
normalised scores (the default) or reciprocal-rank fusion, weights as settings. Filters are
applied *before* ranking (exactly, not by over-fetching and hoping): the dense side scores
the allowed members directly when they are few, and searches FAISS with a deeper k otherwise.

`ranking()` is the pure core (also what `nnmatch eval` calls with each mode); `HubSearch` is the
thin async shell that keeps the catalogue in step with the engine and embeds queries off the
event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, Reason, Suggestion, VectorKind
from nnmatch.paging import BadCursor, decode_cursor, encode_cursor
from nnmatch.profile import SDG_NAMES
from nnmatch_matching.embedding.embedder import Embedder, configured_embedder, embed_documents
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.index import VectorIndex
from nnmatch_matching.matcher.lexical import Mask, top_k
from nnmatch_matching.matcher.ranking import LANGUAGE_NAMES
from nnmatch_matching.search.catalogue import Catalogue, SearchFilters
from nnmatch_matching.settings import MatchingSettings

Vector = npt.NDArray[np.float32]
DENSE_KINDS = (VectorKind.OFFERS, VectorKind.PROFILE)
EXACT_DENSE_LIMIT = 20_000
"""Up to this many allowed members, dense scores are computed for all of them (exact)."""
MAX_FAISS_K = 4096


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


def dense_top(
    indexes: Mapping[VectorKind, VectorIndex],
    catalogue: Catalogue,
    query: Vector,
    allowed: Mask,
    k: int,
) -> list[tuple[str, float]]:
    """Best `k` allowed members by max(cosine to offers, cosine to profile), best first."""
    n_allowed = int(allowed.sum())
    if n_allowed == 0:
        return []
    if n_allowed <= EXACT_DENSE_LIMIT:
        pool = [m for m in catalogue.members(allowed) if all(m in indexes[v] for v in DENSE_KINDS)]
    else:
        total = max(len(indexes[v]) for v in DENSE_KINDS)
        deep = min(MAX_FAISS_K, math.ceil(k * total / n_allowed) + k)
        seen: set[str] = set()
        for kind in DENSE_KINDS:
            [hits] = indexes[kind].search(query[None, :], deep)
            seen.update(m for m, _ in hits)
        pool = sorted(m for m in seen if _row_allowed(catalogue, allowed, m))
    scored = [(m, s) for m, s in zip(pool, dense_scores(indexes, pool, query), strict=True)]
    scored.sort(key=lambda h: (-h[1], h[0]))
    return scored[:k]


def _row_allowed(catalogue: Catalogue, allowed: Mask, member_id: str) -> bool:
    row = catalogue.lexical.row(member_id)
    return row is not None and bool(allowed[row])


def dense_scores(
    indexes: Mapping[VectorKind, VectorIndex], member_ids: list[str], query: Vector
) -> list[float]:
    """max(cosine to offers, cosine to profile) per member; 0 for one no longer indexed (the
    catalogue syncs at intervals, so it may still hold a member the engine just removed)."""
    best = np.zeros(len(member_ids))
    present = [i for i, m in enumerate(member_ids) if all(m in indexes[v] for v in DENSE_KINDS)]
    if present:
        ids = [member_ids[i] for i in present]
        best[present] = np.max([indexes[v].vectors(ids) @ query for v in DENSE_KINDS], axis=0)
    return [float(s) for s in best]


def fuse(
    dense: list[tuple[str, float]],
    lexical: list[tuple[str, float]],
    fusion: Fusion,
    dense_of: Callable[[list[str]], list[float]],
    lexical_of: Callable[[list[str]], list[float]],
) -> list[Hit]:
    """One list from both, best first. RRF: Σ weight / (k + rank), scaled so 1.0 is first in
    both lists. Score: weighted mean of the cosine (clipped at 0) and BM25 / best BM25."""
    wd, wl = fusion.dense_weight, fusion.lexical_weight
    ids = sorted({m for m, _ in dense} | {m for m, _ in lexical})
    d_score = dict(dense) | dict(zip(*_missing(ids, dense, dense_of), strict=True))
    l_score = dict(lexical) | dict(zip(*_missing(ids, lexical, lexical_of), strict=True))
    if fusion.method == "rrf":
        d_rank = {m: i for i, (m, _) in enumerate(dense, start=1)}
        l_rank = {m: i for i, (m, _) in enumerate(lexical, start=1)}
        best = (wd + wl) / (fusion.rrf_k + 1) or 1.0

        def fused(m: str) -> float:
            d = wd / (fusion.rrf_k + d_rank[m]) if m in d_rank else 0.0
            lx = wl / (fusion.rrf_k + l_rank[m]) if m in l_rank else 0.0
            return (d + lx) / best

    else:
        top_lexical = max((s for _, s in lexical), default=0.0) or 1.0
        total = (wd + wl) or 1.0

        def fused(m: str) -> float:
            normalised = min(1.0, l_score[m] / top_lexical)
            return (wd * max(0.0, d_score[m]) + wl * normalised) / total

    hits = [Hit(m, fused(m), d_score[m], l_score[m]) for m in ids]
    hits.sort(key=lambda h: (-h.score, h.member_id))
    return hits


def _missing(
    ids: list[str], have: list[tuple[str, float]], score_of: Callable[[list[str]], list[float]]
) -> tuple[list[str], list[float]]:
    known = {m for m, _ in have}
    absent = [m for m in ids if m not in known]
    return absent, score_of(absent)


def ranking(
    mode: Mode,
    query: str,
    query_vector: Vector | None,
    indexes: Mapping[VectorKind, VectorIndex],
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
        lexical_of = {m: float(all_lexical[catalogue.lexical.row(m) or 0]) for m, _ in dense}
        return [Hit(m, s, s, lexical_of[m]) for m, s in dense]
    if mode is Mode.LEXICAL or query_vector is None:
        top = max((s for _, s in lexical), default=1.0)
        return [Hit(m, s / top, 0.0, s) for m, s in lexical]

    def lexical_of_ids(ids: list[str]) -> list[float]:
        return [float(all_lexical[catalogue.lexical.row(m) or 0]) for m in ids]

    def dense_of_ids(ids: list[str]) -> list[float]:
        return dense_scores(indexes, ids, query_vector)

    return fuse(dense, lexical, fusion, dense_of_ids, lexical_of_ids)


# --- reasons ---------------------------------------------------------------------------------


def search_reasons(
    query: str, card: MemberCard, hit: Hit, filters: SearchFilters, hub: str | None
) -> list[Reason]:
    """Why this member answers the search, from the query's words, the filters and the card."""
    wanted = set(terms(query))
    out: list[Reason] = []
    tags = [t for t in [*card.expertise, *card.interests] if wanted & set(terms(t))]
    tags = list(dict.fromkeys(tags))[:3]
    offers_hit = bool(wanted & set(terms(card.offers_text)))
    kinds = ", ".join(OFFER_PHRASES[k] for k in card.offers_kinds)
    if offers_hit or (tags and kinds):
        what = f"offers {kinds or 'help'}"
        if tags:
            text = f"{what} in {', '.join(tags)} that you searched for"
        else:
            text = f"{what} matching your search: {card.offers_text[:90]}"
        out.append(Reason(kind="offer_meets_query", text=text))
    elif tags:
        out.append(Reason(kind="topic_meets_query", text=f"works on {', '.join(tags)}"))
    elif hit.dense > 0:
        out.append(
            Reason(
                kind="close_in_meaning",
                text=f"profile close in meaning to your search (similarity {hit.dense:.2f})",
            )
        )
    sdgs = sorted(set(card.sdgs) & filters.sdgs)
    if sdgs:
        names = ", ".join(f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs[:2])
        out.append(Reason(kind="sdg", text=f"works on {names}"))
    kinds_wanted = [k for k in card.offers_kinds if k in filters.kinds]
    if kinds_wanted and not any(r.kind == "offer_meets_query" for r in out):
        out.append(Reason(kind="kind", text=f"offers {OFFER_PHRASES[kinds_wanted[0]]}"))
    if filters.countries or filters.regions:
        out.append(Reason(kind="location", text=f"based in {card.country}"))
    spoken = [code for code in card.languages if code in filters.languages]
    if spoken:
        out.append(
            Reason(kind="language", text=f"speaks {LANGUAGE_NAMES.get(spoken[0], spoken[0])}")
        )
    if hub and hub in card.hubs:
        out.append(Reason(kind="hub", text=f"in your hub ({hub})"))
    else:
        hubs = [h for h in card.hubs if h in filters.hubs]
        if hubs:
            out.append(Reason(kind="hub", text=f"in the {hubs[0]} hub"))
    return out


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
    def indexes(self) -> Mapping[VectorKind, VectorIndex]: ...

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
        """Bring the catalogue in step with the engine, at most once per sync interval."""
        async with self._sync_lock:
            now = self._clock()
            if self._synced_at is not None and now - self._synced_at < self._sync_interval_s:
                return
            current = {m: state.card for m, state in self.engine.members.items()}
            changed, removed = self.catalogue.diff(current)
            if changed or removed:
                changes = await asyncio.to_thread(Catalogue.analyse, changed, removed)
                self.catalogue.apply(changes)
            self._synced_at = now

    def _current_card(self, member_id: str) -> MemberCard | None:
        state = self.engine.members.get(member_id)
        return state.card if state is not None and state.card.discoverable else None

    async def query_vector(self, query: str) -> Vector | None:
        embedder = await self.embedder()
        if embedder is None:
            return None
        model = f"{embedder.model.id}@{embedder.model.version}"
        if self.engine.model_id is not None and self.engine.model_id != model:
            raise SearchUnavailable(
                f"the index holds vectors of {self.engine.model_id}; queries are embedded with "
                f"{model}"
            )
        vectors = await asyncio.to_thread(embed_documents, embedder, [query])
        vector: Vector = vectors[0]
        return vector

    async def search(
        self,
        query: str,
        filters: SearchFilters,
        limit: int,
        cursor: str | None,
        now: datetime,
        hub: str | None = None,
    ) -> SearchPage:
        digest = search_digest(query, filters)
        offset = cursor_offset(cursor, digest)
        await self.refresh()
        vector = await self.query_vector(query)
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
        # (a member erased or hidden since is never shown, and shows their current card).
        current = {h.member_id: self._current_card(h.member_id) for h in hits}
        hits = [h for h in hits if current[h.member_id] is not None]
        start, end, next_cursor = page_of(len(hits), offset, limit, digest)
        items = []
        for hit in hits[start:end]:
            card = current[hit.member_id]
            assert card is not None
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
