"""The operators' status page: each service's readiness and what its own `/metrics` says.

Those endpoints are open (the monitoring system scrapes them), so this page gates itself:
operators only.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nnmatch.auth import Role
from nnmatch_web.apis import Apis
from nnmatch_web.deps import ApisDep, CurrentVisitor, PagesDep
from nnmatch_web.session import NotAllowed
from nnmatch_web.views import ServiceStatus, read_status

router = APIRouter(include_in_schema=False)


async def service_status(apis: Apis, name: str) -> ServiceStatus:
    ready, metrics = await asyncio.gather(apis.probe(name, "/readyz"), apis.probe(name, "/metrics"))
    return read_status(
        name,
        apis.urls[name],
        ready.status,
        ready.body,
        metrics.text if metrics.status == 200 else None,
    )


@router.get("/status")
async def status(
    request: Request, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    if visitor.role is not Role.OPERATOR:
        raise NotAllowed("the status page is for operators")
    services = await asyncio.gather(*(service_status(apis, name) for name in apis.urls))
    members_indexed = next(
        (s.members_indexed for s in services if s.members_indexed is not None), None
    )
    return pages.render(
        request,
        "status.html",
        services=services,
        members_indexed=members_indexed,
        web_ready=request.app.state.startup.done,
        checked_at=request.app.state.clock(),
    )
