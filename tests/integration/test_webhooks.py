"""Webhook calls against a real HTTP receiver on loopback: signed, verified, refused where
unsafe, bounded in time and size. The receiver verifies signatures and rejects replays as a
Standard Webhooks receiver would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from nnmatch_notifications.webhooks import (
    UnsafeWebhook,
    WebhookFailed,
    WebhookPolicy,
    deliver,
    new_secret,
)
from nnmatch_tools.ports import free_port

SECRET = new_secret()
LOOPBACK_ALLOWED = WebhookPolicy.from_settings(
    require_https=False,
    allow_networks=["127.0.0.0/8"],
    connect_timeout_s=2,
    read_timeout_s=1,
    max_response_bytes=1024,
)


@dataclass
class Receiver:
    url: str
    accepted: list[bytes] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


def _verify(secret: str, headers: httpx.Headers | dict[str, str], body: bytes) -> bool:
    """An independent Standard Webhooks verification (not the code under test)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if "," in s]
    return any(hmac.compare_digest(expected, s) for s in offered)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = FastAPI()
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}")
    seen: set[str] = set()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        state.hosts.append(request.headers.get("host", ""))
        if not _verify(SECRET, dict(request.headers), body):
            state.rejected.append("bad signature")
            return Response(status_code=401)
        if request.headers["webhook-id"] in seen:
            state.rejected.append("replay")
            return Response(status_code=409)
        seen.add(request.headers["webhook-id"])
        state.accepted.append(body)
        return Response(status_code=204)

    @app.post("/slow")
    async def slow() -> Response:
        await asyncio.sleep(5)
        return Response(status_code=204)

    @app.post("/huge")
    async def huge() -> Response:
        return Response(content=b"x" * 5_000_000, media_type="text/plain")

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.05)
    try:
        yield state
    finally:
        server.should_exit = True
        await task


async def _send(url: str, body: bytes, message_id: str, policy: WebhookPolicy) -> object:
    async with httpx.AsyncClient() as http:
        return await deliver(
            http,
            url,
            body,
            secret=SECRET,
            message_id=message_id,
            now=datetime.now(UTC),
            policy=policy,
        )


async def test_a_signed_delivery_is_verified_by_the_receiver_and_a_replay_is_refused(
    receiver: Receiver,
) -> None:
    body = b'{"type": "suggestion", "member_id": "m-1"}'
    delivered = await _send(f"{receiver.url}/hook", body, "msg-1", LOOPBACK_ALLOWED)
    with pytest.raises(WebhookFailed, match="409"):
        await _send(f"{receiver.url}/hook", body, "msg-1", LOOPBACK_ALLOWED)

    assert getattr(delivered, "status", None) == 204
    assert receiver.accepted == [body]
    assert receiver.rejected == ["replay"]
    # The call went to the checked address with the URL's own Host header.
    assert receiver.hosts[0] == receiver.url.removeprefix("http://")


async def test_loopback_and_hostnames_resolving_to_it_are_refused_before_any_connection(
    receiver: Receiver,
) -> None:
    strict = WebhookPolicy(require_https=False)
    port = receiver.url.rsplit(":", 1)[1]
    for url in (
        f"{receiver.url}/hook",
        f"http://localhost:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
    ):
        with pytest.raises(UnsafeWebhook, match="loopback"):
            await _send(url, b"{}", "msg-2", strict)
    with pytest.raises(UnsafeWebhook, match="https"):
        await _send(f"{receiver.url}/hook", b"{}", "msg-3", WebhookPolicy())
    assert receiver.hosts == []  # nothing reached the receiver


async def test_a_slow_receiver_times_out_and_a_huge_answer_is_read_only_up_to_the_cap(
    receiver: Receiver,
) -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(WebhookFailed, match="Timeout"):
        await _send(f"{receiver.url}/slow", b"{}", "msg-4", LOOPBACK_ALLOWED)
    assert asyncio.get_running_loop().time() - started < 4  # read time-out is 1 s

    delivered = await _send(f"{receiver.url}/huge", b"{}", "msg-5", LOOPBACK_ALLOWED)
    assert getattr(delivered, "truncated", None) is True
    assert getattr(delivered, "response_bytes", None) == LOOPBACK_ALLOWED.max_response_bytes


async def test_a_receiver_that_is_down_is_a_retryable_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(WebhookFailed, match="ConnectError"):
        await _send(url, b"{}", "msg-6", LOOPBACK_ALLOWED)
