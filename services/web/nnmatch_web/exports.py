"""A member's data as one JSON download, assembled from every service's export: the member
from their profile page, an operator from the member lookup. The APIs decide who may (the
member themself or an operator) and audit each export; one request id ties the three."""

from __future__ import annotations

import asyncio
import json
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nnmatch_web.deps import ApisDep, CurrentVisitor, MemberId

router = APIRouter(include_in_schema=False)
SERVICES = ("profiles", "matching", "notifications")


@router.get("/members/{member_id}/export.json")
async def export(
    request: Request, member_id: MemberId, visitor: CurrentVisitor, apis: ApisDep
) -> Response:
    request_id = uuid.uuid4().hex
    parts = await asyncio.gather(
        *(apis.export(service, visitor.token, member_id, request_id) for service in SERVICES)
    )
    document = {
        "member_id": member_id,
        "exported_at": request.app.state.clock().isoformat(),
        "request_id": request_id,
        **dict(zip(SERVICES, parts, strict=True)),
    }
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="nnmatch-{member_id}.json"',
            "cache-control": "no-store",
        },
    )
