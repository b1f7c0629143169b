"""The web pages' shutdown closes their one HTTP client to the three APIs (its connections)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from nnmatch.auth import DEV_ISSUER, DevTokens
from nnmatch_web.bootstrap import build_app
from nnmatch_web.settings import WebSettings

pytestmark = pytest.mark.asyncio


class RecordingTransport(httpx.AsyncBaseTransport):
    """Answers nothing; records that the client closed it."""

    def __init__(self) -> None:
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async def aclose(self) -> None:
        self.closed = True


async def test_shutdown_closes_the_api_client(tmp_path: Path) -> None:
    DevTokens(tmp_path)  # the dev JWKS the verifier reads
    settings = WebSettings(auth_jwks_file=tmp_path / "dev-jwks.json", auth_issuer=DEV_ISSUER)
    transport = RecordingTransport()
    app = build_app(settings, transport)

    async with LifespanManager(app):
        during = transport.closed

    assert during is False
    assert transport.closed is True
