"""The one way a service is assembled: adapters in, a FastAPI app with ops endpoints out.

Each service's bootstrap builds its own adapters and routes; this wires what they all share:
Kafka and Redis connections started in the background (so `/healthz` answers at once), the
readiness checks, graceful shutdown (finish the batch, commit, close), problem details and
HTTP metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from nnmatch.messaging import ConsumerState
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.problems import install_problem_details
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch.startup import Startup

MemberIdPath = Annotated[
    str, Path(pattern=MEMBER_ID_PATTERN, description="Member id: letters, digits, _ or -.")
]

FAILURES_BEFORE_NOT_READY = 3


def service_app(
    *,
    title: str,
    description: str,
    metrics: Metrics,
    broker: KafkaBroker,
    redis: Redis,
    start: Callable[[], Awaitable[None]],
    routers: Sequence[APIRouter],
    consumers: Sequence[ConsumerState] = (),
    state: dict[str, Any] | None = None,
) -> FastAPI:
    """A service app whose `start` (topics, model, replay, broker) runs in the background."""
    health = Health()
    startup = Startup(start, name=f"{title} start-up")

    async def redis_ready() -> str | None:
        await redis.ping()
        return None

    async def kafka_ready() -> str | None:
        if not startup.done:
            return None  # the start-up check says what is missing
        return None if await broker.ping(timeout=2.0) else "kafka does not answer"

    async def consumers_ready() -> str | None:
        failing = [c for c in consumers if c.consecutive_failures >= FAILURES_BEFORE_NOT_READY]
        return f"{failing[0].group}: {failing[0].last_error}" if failing else None

    health.add("startup", startup.readiness)
    health.add("redis", redis_ready)
    health.add("kafka", kafka_ready)
    health.add("consumers", consumers_ready)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup.start()
        try:
            yield
        finally:
            await startup.stop()
            await broker.stop()  # waits for the running batch, then commits and closes
            await redis.aclose()

    app = FastAPI(title=title, version="1", lifespan=lifespan, description=description)
    for key, value in (state or {}).items():
        setattr(app.state, key, value)
    install_problem_details(app)
    instrument_http(app, metrics)
    for router in routers:
        app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app
