"""Run a service's ASGI app with our logging; uvicorn handles SIGTERM (graceful shutdown)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from nnmatch.observability import configure_logging
from nnmatch.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings, port: int) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=30,
        access_log=False,
    )
