"""The matcher's engine as the settings describe it: one recipe for the service and the bench."""

from __future__ import annotations

from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.settings import MatchingSettings


def build_engine(settings: MatchingSettings) -> MatchEngine:
    """An empty engine with the configured ranking and candidate counts."""
    return MatchEngine(
        settings.embedding_dimensions,
        top_n=settings.top_n,
        candidate_k=settings.candidate_k,
        cache_k=settings.matcher_cache_k,
        lexical_k=settings.lexical_candidate_k,
        weights=settings.ranking,
    )
