"""The matching service's own Prometheus series, shared by the embedder and matcher roles."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from nnmatch.events import ProfileDeleted, ProfileUpserted, ProfileVectorsComputed
from nnmatch.observability import Metrics


class MatchingMetrics:
    """The matching service's own series, beside the shared Kafka/HTTP ones."""

    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        self.pipeline_latency = metrics.pipeline_latency
        self.embedded_texts = Counter(
            "nnmatch_embedding_texts_total",
            "Texts of changed profiles by outcome: embedded (sent to the model, chunks pooled) "
            "or reused (same text and model as the cached vector).",
            ["outcome"],
            registry=reg,
        )
        self.embedding_seconds = Histogram(
            "nnmatch_embedding_batch_duration_seconds",
            "Time to embed one batch of profiles.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=reg,
        )
        self.index_members = Gauge(
            "nnmatch_index_members", "Members held in the matcher's index.", registry=reg
        )
        self.matches_computed = Counter(
            "nnmatch_matches_computed_total",
            "Members whose suggestions were recomputed.",
            registry=reg,
        )
        self.publish_retries = Counter(
            "nnmatch_matches_publish_retries_total",
            "Publishes of computed lists on matches.v1 retried after the broker did not "
            "acknowledge them all (what was not acknowledged is sent again; nothing re-ranked).",
            registry=reg,
        )
        self.ranking_seconds = Histogram(
            "nnmatch_ranking_batch_duration_seconds",
            "Time to search and re-rank one batch of affected members.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        )
        self.skipped_vectors = Counter(
            "nnmatch_vectors_skipped_total",
            "Vector records the matcher skipped, by reason (retired_model: made by a model "
            "used before the current one, from before a model change).",
            ["reason"],
            registry=reg,
        )
        self.holding = Gauge(
            "nnmatch_matcher_holding",
            "1 while a model change is under way: the matcher indexes the re-embedded members "
            "but ranks no one until all are done (stored lists are still served).",
            registry=reg,
        )
        self.queued = Gauge(
            "nnmatch_matcher_queued_members",
            "Members waiting for the matcher's background, by work: relist (a list a change "
            "altered, ranked from its cache) or rescan (a cache scanned again: the refresh).",
            ["work"],
            registry=reg,
        )
        self.import_streaming = Gauge(
            "nnmatch_matcher_import_streaming",
            "1 while a bulk import streams in (an imported member's vectors within "
            "NNMATCH_MATCHER_IMPORT_QUIET_S): the lists it alters wait in the relist queue, "
            "each ranked once when it pauses.",
            registry=reg,
        )
        self.feedback = Counter(
            "nnmatch_feedback_total",
            "Feedback records applied by the matcher, by action and outcome.",
            ["action", "outcome"],
            registry=reg,
        )


def observe_age(
    metrics: MatchingMetrics,
    stage: str,
    events: Sequence[ProfileUpserted | ProfileDeleted | ProfileVectorsComputed | None],
) -> None:
    """How old each upstream event is now that this stage's output is published."""
    now = time.time()
    histogram = metrics.pipeline_latency.labels(stage)
    for event in events:
        if event is not None:
            histogram.observe(max(0.0, now - event.occurred_at.timestamp()))
