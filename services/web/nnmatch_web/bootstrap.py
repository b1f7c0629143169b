"""Build the web app: settings → token verifier, sessions, API client, templates → routes.

The web pages hold no data of their own (no Kafka, no Redis): every page is a call to the
profiles, matching or notifications API with the visitor's token, so who may see what is
decided in one place, the APIs. Ready as soon as it runs: a service that is away shows as
"try again in a moment" on the pages that need it, and on the operators' status page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from nnmatch import __version__
from nnmatch.auth import InvalidToken, Role
from nnmatch.bodylimit import BodyLimitMiddleware
from nnmatch.observability import Health, Metrics, instrument_http, ops_router
from nnmatch.startup import Startup, StartupRefused
from nnmatch.webapp import token_verifier
from nnmatch_web import (
    exports,
    hub_pages,
    hubs,
    invitation_pages,
    members,
    operators,
    project_pages,
    reports,
    signin,
    status,
)
from nnmatch_web.apis import Apis
from nnmatch_web.errors import install_error_pages
from nnmatch_web.render import SECURITY_HEADERS, Pages
from nnmatch_web.session import CSRF_COOKIE, Sessions, new_csrf_seed, valid_seed
from nnmatch_web.settings import WebSettings

FORM_BODY_FACTOR = 4  # a form's URL encoding of a long bio is several times its text


def build_app(settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    metrics = Metrics(settings.service_name)
    sessions = Sessions(settings, token_verifier(settings))
    apis = Apis(settings, transport)
    pages = Pages(
        sessions,
        links={
            "grafana": settings.grafana_url.rstrip("/"),
            "alerts": f"{settings.prometheus_url.rstrip('/')}/alerts",
            "version": __version__,
        },
    )

    async def check_dev_sign_in() -> None:
        """Dev sign-in must mint tokens the configured verifier (and so the APIs) accept."""
        if not sessions.dev_sign_in:
            return
        try:
            await sessions.verify(sessions.mint_dev(Role.OPERATOR, "web-start-up-check"))
        except InvalidToken as exc:
            raise StartupRefused(
                f"NNMATCH_WEB_DEV_AUTH_DIR is set but its key's tokens are refused ({exc}): "
                "point NNMATCH_AUTH_JWKS_FILE at the same dev stack's dev-jwks.json"
            ) from exc

    startup = Startup(check_dev_sign_in, name="web start-up")
    health = Health()
    health.add("startup", startup.readiness)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup.start()
        try:
            yield
        finally:
            await startup.stop()
            await apis.aclose()

    app = FastAPI(
        title="nnmatch web",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.startup = startup
    app.state.sessions = sessions
    app.state.apis = apis
    app.state.pages = pages
    app.state.settings = settings
    app.state.clock = lambda: datetime.now(UTC)

    install_error_pages(app)
    instrument_http(app, metrics)

    @app.middleware("http")
    async def _browser_basics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The anti-forgery cookie every form is bound to, and the security headers."""
        seed = request.cookies.get(CSRF_COOKIE)
        fresh = None if valid_seed(seed) else new_csrf_seed()
        request.state.csrf_seed = fresh or seed
        response = await call_next(request)
        if fresh is not None:
            response.set_cookie(
                CSRF_COOKIE,
                fresh,
                httponly=True,
                samesite="strict",
                secure=sessions.secure(request),
                path="/",
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if re.match(r"^/static/", request.url.path):
            response.headers["cache-control"] = "public, max-age=3600"
        return response

    app.add_middleware(GZipMiddleware, minimum_size=1024)  # light pages on slow phones
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limits_by_prefix={
            prefix: settings.max_body_bytes * FORM_BODY_FACTOR for prefix in ("/members", "/hub/")
        },
    )
    app.mount("/static", StaticFiles(packages=[("nnmatch_web", "static")]), name="static")
    for router in (
        signin.router,
        members.router,
        hubs.router,
        hub_pages.router,
        project_pages.router,
        invitation_pages.router,
        status.router,
        operators.router,
        exports.router,
        reports.members_router,
        reports.operators_router,
    ):
        app.include_router(router)
    app.include_router(ops_router(metrics, health))
    return app
