"""Operators' pages: member lookup and the audit trail. They call the services' operator
routes with the visitor's token, so the APIs alone decide who may see them (a member or hub
gets their 403 as "this is not yours"). One lookup sends one request id to the three services,
so its audit records read as one action."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch.auth import Role
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_web.apis import ApiError, Apis
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, MemberId, PagesDep
from nnmatch_web.render import Pages
from nnmatch_web.session import NotAllowed, Visitor
from nnmatch_web.views import first

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
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Who did what to which member and when, newest first; optionally about one member."""
    page = await apis.audit(visitor.token, AUDIT_PAGE_SIZE, cursor, member)
    notice = (
        f"{member} is being erased everywhere: their profile, vectors, lists, inbox and "
        "contact details go within moments; this trail keeps the record."
        if done == "erased" and member
        else None
    )
    return pages.render(
        request, "operators_audit.html", page=page, member=member, cursor=cursor, notice=notice
    )


PARTS = ("profiles", "matching", "notifications")


@dataclass(frozen=True)
class Part:
    """One service's part of the lookup: its answer, or why there is none."""

    data: dict[str, Any] | None
    error: ApiError | None


async def _part(
    apis: Apis, service: str, visitor: Visitor, member_id: str, request_id: str
) -> Part:
    try:
        return Part(await apis.operator_lookup(service, visitor.token, member_id, request_id), None)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise  # not an operator (or signed out): the whole page says so
        return Part(None, exc)


@router.get("/members")
async def find_member(
    request: Request,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
    member: Annotated[str | None, Query(max_length=200)] = None,
    name: Annotated[str | None, Query(max_length=120)] = None,
) -> Response:
    """The lookup forms, and their targets: on to a member's page by id, or members by name."""
    if not member:
        if visitor.role is not Role.OPERATOR:
            raise NotAllowed("member lookup is for operators")
        named = None
        if name and len(name.strip()) >= 2:
            named = (await apis.members_named(visitor.token, name.strip()))["items"]
        return pages.render(
            request,
            "operators_member.html",
            member_id=None,
            parts={},
            erase_error=None,
            name=name or "",
            named=named,
        )
    if re.fullmatch(MEMBER_ID_PATTERN, member.strip()):
        return RedirectResponse(f"/operators/members/{member.strip()}", status_code=303)
    raise ApiError(422, "enter a member id: letters, digits, _ or -")


async def _lookup_page(
    request: Request,
    member_id: str,
    visitor: Visitor,
    apis: Apis,
    pages: Pages,
    contact: dict[str, Any] | None = None,
    request_id: str | None = None,
    erase_error: str | None = None,
) -> Response:
    request_id = request_id or uuid.uuid4().hex
    parts = await asyncio.gather(
        *(_part(apis, service, visitor, member_id, request_id) for service in PARTS)
    )
    return pages.render(
        request,
        "operators_member.html",
        member_id=member_id,
        parts=dict(zip(PARTS, parts, strict=True)),
        contact=contact,
        erase_error=erase_error,
        status=422 if erase_error else 200,
    )


@router.get("/members/{member_id}")
async def member_lookup(
    request: Request, member_id: MemberId, visitor: CurrentVisitor, apis: ApisDep, pages: PagesDep
) -> Response:
    """Why does this member see nothing? Each service's part side by side."""
    return await _lookup_page(request, member_id, visitor, apis, pages)


@router.post("/members/{member_id}/contact")
async def member_contact(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    """Contact details only when the operator asks (a form, so a link or prefetch never reads
    them); the API audits the read."""
    request_id = uuid.uuid4().hex
    contact = await apis.operator_contact(visitor.token, member_id, request_id)
    return await _lookup_page(
        request, member_id, visitor, apis, pages, contact=contact, request_id=request_id
    )


@router.post("/members/{member_id}/erase")
async def member_erase(
    request: Request,
    member_id: MemberId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    """Erasure on a member's request: only once the operator typed the id again, then the
    same end-to-end erasure as the member's own (the API audits it)."""
    if first(form, "confirm").strip() != member_id:
        return await _lookup_page(
            request,
            member_id,
            visitor,
            apis,
            pages,
            erase_error=f"type {member_id} to confirm the erasure; nothing was erased",
        )
    await apis.erase_member(visitor.token, member_id)
    return RedirectResponse(f"/operators/audit?member={member_id}&done=erased", status_code=303)
