"""The matcher's engine as the settings describe it: one recipe for the service and the bench."""

from __future__ import annotations

from functools import partial

from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.index import IndexOptions, VectorIndex
from nnmatch_matching.settings import MatchingSettings


def index_options(settings: MatchingSettings) -> IndexOptions:
    return IndexOptions(
        kind=settings.index_kind,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_search=settings.hnsw_ef_search,
        hnsw_ef_construction=settings.hnsw_ef_construction,
        rebuild_fraction=settings.index_rebuild_fraction,
    )


def build_engine(settings: MatchingSettings) -> MatchEngine:
    """An empty engine with the configured index, ranking and candidate counts.

    FAISS's threads are process-wide: the process sets them (`faiss_threads`), not this."""
    return MatchEngine(
        settings.embedding_dimensions,
        top_n=settings.top_n,
        candidate_k=settings.candidate_k,
        cache_k=settings.matcher_cache_k,
        lexical_k=settings.lexical_candidate_k,
        weights=settings.ranking,
        make_index=partial(VectorIndex, options=index_options(settings)),
    )
