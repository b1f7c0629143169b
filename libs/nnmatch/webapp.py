"""The one way a service is assembled: adapters in, a FastAPI app with ops endpoints out.

Each service's bootstrap builds its own adapters and routes; this wires what they all share:
Kafka and Redis connections started in the background (so `/healthz` answers at once), the
readiness checks, graceful shutdown (finish the batch, commit, close), problem details and
HTTP metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from nnmatch.access import RateLimits
from nnmatch.audit import Auditor, RedisAuditLog
from nnmatch.auth import KeySource, TokenVerifier
from nnmatch.bodylimit import BodyLimitMiddleware
from nnmatch.events import utc_now
from nnmatch.export import KeyFamily, MemberExporter
from nnmatch.messaging import ConsumerState
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.problems import install_problem_details
from nnmatch.redis_durability import durability_problems, redis_config
from nnmatch.settings import AuthSettings, ServiceSettings
from nnmatch.startup import Startup, StartupRefused
from nnmatch.topics import ensure_topics

log = logging.getLogger(__name__)

FAILURES_BEFORE_NOT_READY = 3
TOPIC_CHECK_INTERVAL_S = 3.0
TOPIC_CHECK_TIMEOUT_S = 10.0


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message names the variable to set."""


def token_verifier(settings: AuthSettings) -> TokenVerifier:
    """The verifier for this deployment's identity provider (a JWKS file or URL)."""
    if settings.auth_jwks_file is None and not settings.auth_jwks_url:
        raise ConfigurationError(
            "no token keys configured: set NNMATCH_AUTH_JWKS_URL (or NNMATCH_AUTH_JWKS_FILE) to "
            "the identity provider's JWKS; for the dev stack, `nnmatch dev up` prints the "
            "variables"
        )
    try:
        keys = KeySource(jwks_file=settings.auth_jwks_file, jwks_url=settings.auth_jwks_url)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    return TokenVerifier(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_s=settings.auth_leeway_s,
    )


async def check_redis_durable(redis: Redis, required: bool) -> None:
    """Refuse to start on a Redis that may evict or forget our state (see redis_durability)."""
    config = await redis_config(redis)
    if config is None:
        log.warning("cannot read Redis CONFIG; make sure it persists and never evicts keys")
        return
    problems = durability_problems(config)
    if problems and required:
        raise StartupRefused("; ".join(problems))
    for problem in problems:
        log.warning("unsafe Redis accepted (redis_require_durable=false): %s", problem)


Hook = Callable[[], Awaitable[None]]
"""A start or stop step of a service: an async callable of no arguments."""


def service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    metrics: Metrics,
    broker: KafkaBroker,
    redis: Redis,
    services: object,
    routers: Sequence[APIRouter],
    start: Sequence[Hook],
    drain: Sequence[Hook] = (),
    stop: Sequence[Hook] = (),
    consumers: Sequence[ConsumerState] = (),
    body_limits: Mapping[str, int] | None = None,
    export: Sequence[KeyFamily] = (),
) -> FastAPI:
    """A service app whose `start` hooks (topics, model, replay, broker) run in the background.

    `services` is the service's typed container of adapters, read by its `deps.py`. The start
    hooks run in order after the Redis check; a failed start-up is retried from the first hook
    that has not completed. At shutdown the `drain` hooks stop background work, the consumers
    then finish their batch, commit and close, and the `stop` hooks run (Redis still open).
    `export` declares the Redis key families the service keeps per member (nnmatch.export).
    """
    health = Health()
    completed = 0

    async def start_all() -> None:
        nonlocal completed
        await check_redis_durable(redis, settings.redis_require_durable)
        for hook in start[completed:]:
            await hook()
            completed += 1

    startup = Startup(start_all, name=f"{title} start-up")

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

    async def keep_topics() -> None:
        """Re-create topics a broker lost (a restarted in-memory broker, a wiped cluster).

        Consumers and producers would otherwise wait on topics that are gone, and the DLQ
        topics would not come back until a record fails."""
        while True:
            await asyncio.sleep(TOPIC_CHECK_INTERVAL_S)
            if not startup.done:
                continue
            try:
                async with asyncio.timeout(TOPIC_CHECK_TIMEOUT_S):
                    created = await ensure_topics(settings.kafka())
            except Exception as exc:  # the broker is away: readiness reports it already
                log.debug("topic check failed", extra={"error": repr(exc)})
                continue
            if created:
                log.warning(
                    "topics were missing (the broker lost its data?); re-created them",
                    extra={"topics": created},
                )

    health.add("startup", startup.readiness)
    health.add("redis", redis_ready)
    health.add("kafka", kafka_ready)
    health.add("consumers", consumers_ready)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup.start()
        keeper = asyncio.create_task(keep_topics(), name=f"{title} topic keeper")
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await startup.stop()
            await _run_all(drain, "drain")
            await _stop_consumers(broker)
            await _run_all(stop, "stop")
            await redis.aclose()

    app = FastAPI(title=title, version="1", lifespan=lifespan, description=description)
    app.state.startup = startup
    app.state.verifier = token_verifier(settings)
    app.state.rate_limits = RateLimits(
        settings.redis_url,
        settings.redis_prefix,
        {"writes": settings.rate_limit_writes, "search": settings.rate_limit_search},
    )
    app.state.auditor = Auditor(
        RedisAuditLog(redis, settings.redis_prefix), settings.service_name, utc_now
    )
    app.state.exporter = MemberExporter(redis, settings.redis_prefix, settings.service_name, export)
    app.state.services = services
    install_problem_details(app)
    instrument_http(app, metrics)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limits_by_prefix=body_limits,
    )
    for router in routers:
        app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app


CONSUMERS_STOP_TIMEOUT_S = 30.0
"""How long shutdown waits for the consumers to finish their batch, commit and leave; within
compose's and k8s' grace periods (45 s), so the stop hooks still run (the last snapshot)."""


async def _stop_consumers(broker: KafkaBroker) -> None:
    """Stop the consumers: the running batch finishes, is committed, and the groups are left.

    Bounded: a batch stuck on an unreachable store must not hold the process until it is
    killed before its stop hooks run. A batch cut short is not committed, so it is delivered
    again (at least once), as after a crash."""
    try:
        async with asyncio.timeout(CONSUMERS_STOP_TIMEOUT_S):
            await broker.stop()
    except TimeoutError:
        log.warning(
            "consumers did not stop in time; their uncommitted batch will be redelivered",
            extra={"timeout_s": CONSUMERS_STOP_TIMEOUT_S},
        )


async def _run_all(hooks: Sequence[Hook], stage: str) -> None:
    """Run every hook even if one fails: one broken hook must not skip the others' cleanup."""
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.exception("shutdown hook failed", extra={"stage": stage})
