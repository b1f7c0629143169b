"""Operators' pages: the audit trail (and, next to it, member lookup). They call the services'
operator routes with the visitor's token, so the APIs alone decide who may see them (a member
or hub gets their 403 as "this is not yours")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_web.deps import ApisDep, CurrentVisitor, PagesDep

router = APIRouter(prefix="/operators", include_in_schema=False)
Cursor = Annotated[str | None, Query(max_length=200)]
AUDIT_PAGE_SIZE = 50


@router.get("/audit")
async def audit(
    request: Request,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    cursor: Cursor = None,
    member: Annotated[str | None, Query(pattern=MEMBER_ID_PATTERN)] = None,
) -> Response:
    """Who did what to which member and when, newest first; optionally about one member."""
    page = await apis.audit(visitor.token, AUDIT_PAGE_SIZE, cursor, member)
    return pages.render(request, "operators_audit.html", page=page, member=member, cursor=cursor)
