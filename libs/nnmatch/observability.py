"""Metrics, JSON logs and health endpoints: the one helper every service uses for each."""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from nnmatch import __version__

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
# Event age at each hop of the pipeline: seconds to many minutes (a backlog replays for long).
_PIPELINE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """Every Prometheus series a service exposes, on its own registry (no global state)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        reg = self.registry
        ProcessCollector(registry=reg)  # process_cpu_seconds_total, memory, open fds, start time
        PlatformCollector(registry=reg)
        Info("nnmatch_build", "Build information (value is always 1).", registry=reg).info(
            {"version": __version__, "service": service, "python": platform.python_version()}
        )
        self.ready = Gauge(
            "nnmatch_ready",
            "1 when every readiness check passes (what /readyz answers), else 0; set per scrape.",
            registry=reg,
        )
        self.readiness_failing = Gauge(
            "nnmatch_readiness_check_failing",
            "1 while the named readiness check fails (startup, redis, kafka, consumers).",
            ["check"],
            registry=reg,
        )
        self.pipeline_latency = Histogram(
            "nnmatch_pipeline_latency_seconds",
            "Age of the upstream event when this stage's effect is done: embedded (profile event "
            "→ vectors published), matched (vectors → matches published), delivered (matches → "
            "inbox). Their sum is the end-to-end latency from profile event to delivery.",
            ["stage"],
            buckets=_PIPELINE_BUCKETS,
            registry=reg,
        )
        self.consumed = Counter(
            "nnmatch_kafka_records_consumed_total",
            "Records consumed, by topic, consumer group and outcome (ok, already_applied, "
            "tombstone, erased, dead_letter).",
            ["topic", "group", "outcome"],
            registry=reg,
        )
        self.handler_failures = Counter(
            "nnmatch_kafka_batch_failures_total",
            "Batches whose handler failed and were redelivered (not committed).",
            ["topic", "group"],
            registry=reg,
        )
        self.produced = Counter(
            "nnmatch_kafka_records_produced_total",
            "Records produced and acknowledged, by topic.",
            ["topic"],
            registry=reg,
        )
        self.produce_failures = Counter(
            "nnmatch_kafka_produce_failures_total",
            "Records the broker did not acknowledge, by topic.",
            ["topic"],
            registry=reg,
        )
        self.batch_size = Histogram(
            "nnmatch_kafka_batch_size_records",
            "Records per consumed batch.",
            ["topic", "group"],
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.handler_seconds = Histogram(
            "nnmatch_kafka_handler_duration_seconds",
            "Time to process one consumed batch, commit excluded.",
            ["topic", "group"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.lag = Gauge(
            "nnmatch_kafka_consumer_lag_records",
            "High-water mark minus consumer position, per partition (computed in the consumer).",
            ["topic", "partition", "group"],
            registry=reg,
        )
        self.http_requests = Counter(
            "nnmatch_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=reg,
        )
        self.http_seconds = Histogram(
            "nnmatch_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# --- logging ----------------------------------------------------------------------------------

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields are kept, so logs are queryable."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger (ours, uvicorn's, FastStream's, aiokafka's) through one handler."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


# --- health -----------------------------------------------------------------------------------

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else a short reason."""


@dataclass
class Health:
    """Named readiness checks; `/readyz` is 200 only when every one passes."""

    checks: dict[str, ReadinessCheck] = field(default_factory=dict)

    def add(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def failures(self) -> dict[str, str]:
        failed: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                reason = await check()
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if reason is not None:
                failed[name] = reason
        return failed


def ops_router(metrics: Metrics, health: Health) -> APIRouter:
    """`/healthz` (alive), `/readyz` (dependencies answer, caught up), `/metrics` (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        failed = await health.failures()
        if failed:
            return JSONResponse({"status": "not ready", "failing": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        # Readiness as a series, so an alert can say which check fails and for how long.
        failed = await health.failures()
        metrics.ready.set(0 if failed else 1)
        for name in health.checks:
            metrics.readiness_failing.labels(name).set(1 if name in failed else 0)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def instrument_http(app: FastAPI, metrics: Metrics) -> None:
    """Count and time requests by route template (never by raw path: ids would explode labels)."""

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.http_requests.labels(request.method, template, str(status)).inc()
            metrics.http_seconds.labels(request.method, template).observe(
                time.perf_counter() - started
            )
