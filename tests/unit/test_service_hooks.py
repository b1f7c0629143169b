"""`service_app`'s lifecycle: start hooks in order and resumed after a failure, drain hooks
before the consumers stop, stop hooks after them, and one failing hook skips no other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import fakeredis
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from nnmatch import webapp
from nnmatch.auth import DevTokens
from nnmatch.observability import Metrics
from nnmatch.settings import ServiceSettings
from nnmatch.startup import Startup
from nnmatch.webapp import Hook, service_app


class RecordingBroker(KafkaBroker):
    """A broker never connected: it only says when the service stops it."""

    def __init__(self, events: list[str]) -> None:
        super().__init__("127.0.0.1:1")
        self.events = events

    async def stop(self, *args: object, **kwargs: object) -> None:
        self.events.append("consumers stop")


def _hook(events: list[str], name: str, fail_times: int = 0) -> Hook:
    failures = [fail_times]

    async def hook() -> None:
        events.append(name)
        if failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError(f"{name} failed")

    return hook


def _app(
    tmp_path: Path, events: list[str], start: list[Hook], drain: list[Hook], stop: list[Hook]
) -> tuple[FastAPI, Startup]:
    auth = tmp_path / "auth"
    DevTokens(auth)  # creates the dev JWKS the verifier reads
    settings = ServiceSettings(
        auth_jwks_file=auth / "dev-jwks.json", redis_require_durable=False, service_name="t"
    )
    app = service_app(
        settings=settings,
        title="hooks",
        description="lifecycle under test",
        metrics=Metrics("hooks-test"),
        broker=RecordingBroker(events),
        redis=fakeredis.FakeAsyncRedis(),
        services=object(),
        routers=[],
        start=start,
        drain=drain,
        stop=stop,
    )
    startup: Startup = app.state.startup
    return app, startup


async def _until_started(startup: Startup) -> None:
    async with asyncio.timeout(10):
        while not startup.done:  # noqa: ASYNC110 (Startup exposes a flag, not an event)
            await asyncio.sleep(0.05)


async def test_start_hooks_run_in_order_and_a_retry_resumes_at_the_hook_that_failed(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    start = [_hook(events, "topics"), _hook(events, "replay", fail_times=1), _hook(events, "go")]
    app, startup = _app(tmp_path, events, start, [], [])
    async with LifespanManager(app):
        await _until_started(startup)
    assert events[: events.index("consumers stop")] == ["topics", "replay", "replay", "go"]


async def test_shutdown_drains_before_the_consumers_stop_and_stops_after_even_if_one_fails(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    drain = [_hook(events, "cancel background", fail_times=1), _hook(events, "drain 2")]
    stop = [_hook(events, "last snapshot", fail_times=1), _hook(events, "close client")]
    app, startup = _app(tmp_path, events, [_hook(events, "start")], drain, stop)
    async with LifespanManager(app):
        await _until_started(startup)
        assert events == ["start"]
    assert events == [
        "start",
        "cancel background",
        "drain 2",
        "consumers stop",
        "last snapshot",
        "close client",
    ]


@pytest.mark.parametrize("stage", ["drain", "stop"])
async def test_shutdown_hooks_run_even_when_start_up_never_finished(
    tmp_path: Path, stage: str
) -> None:
    events: list[str] = []
    never = _hook(events, "start", fail_times=1000)
    hooks = [_hook(events, stage)]
    app, _ = _app(
        tmp_path,
        events,
        [never],
        hooks if stage == "drain" else [],
        hooks if stage == "stop" else [],
    )
    async with LifespanManager(app):
        await asyncio.sleep(0.1)
    assert stage in events


class StuckBroker(RecordingBroker):
    """A broker whose consumers never finish their batch."""

    async def stop(self, *args: object, **kwargs: object) -> None:
        self.events.append("consumers stop")
        await asyncio.Event().wait()


async def test_consumers_that_never_stop_do_not_keep_the_stop_hooks_from_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webapp, "CONSUMERS_STOP_TIMEOUT_S", 0.2)
    events: list[str] = []
    auth = tmp_path / "auth"
    DevTokens(auth)
    app = service_app(
        settings=ServiceSettings(
            auth_jwks_file=auth / "dev-jwks.json", redis_require_durable=False, service_name="t"
        ),
        title="hooks",
        description="lifecycle under test",
        metrics=Metrics("hooks-stuck-test"),
        broker=StuckBroker(events),
        redis=fakeredis.FakeAsyncRedis(),
        services=object(),
        routers=[],
        start=[],
        drain=[],
        stop=[_hook(events, "last snapshot")],
    )
    async with LifespanManager(app, shutdown_timeout=10):
        await _until_started(app.state.startup)
    assert events == ["consumers stop", "last snapshot"]
