"""Run a service's ASGI app with our logging; uvicorn handles SIGTERM (graceful shutdown)."""

from __future__ import annotations

import signal
import sys

import uvicorn
from fastapi import FastAPI

from nnmatch.observability import configure_logging
from nnmatch.settings import HttpSettings
from nnmatch.startup import Startup


def serve(app: FastAPI, settings: HttpSettings, port: int) -> None:
    """Serve until SIGTERM; exit 1 with the reason when start-up is refused (unsafe config)."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    startup: Startup = app.state.startup
    startup.on_refused = lambda: signal.raise_signal(signal.SIGTERM)
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=30,
        access_log=False,
    )
    if startup.refused:
        sys.exit(f"nnmatch-{settings.service_name}: refusing to start: {startup.refused}")
