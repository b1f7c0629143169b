"""The notifications app's start and stop hooks on the real broker and Redis: the delivery
scheduler runs once the app is ready, and shutdown stops it and closes the webhook client."""

from __future__ import annotations

import pytest

from nnmatch_notifications.bootstrap import build_app
from nnmatch_notifications.deps import NotificationsServices
from nnmatch_notifications.settings import NotificationsSettings
from tests.support import Namespace, serving

pytestmark = pytest.mark.integration


async def test_shutdown_stops_the_scheduler_and_closes_the_http_client(
    namespace: Namespace,
) -> None:
    app = build_app(NotificationsSettings(**namespace.settings()))
    services: NotificationsServices = app.state.services
    before = (services.scheduler.running, services.http.is_closed)
    async with serving(app) as client:
        ready = await client.get("/readyz")
        during = (services.scheduler.running, services.http.is_closed)

    assert before == (False, False)
    assert ready.status_code == 200
    assert during == (True, False)
    assert (services.scheduler.running, services.http.is_closed) == (False, True)
