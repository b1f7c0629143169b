"""A member's data held by profiles, for their data-access request: the stored profile, its
version counter, and the audit records about them (the trail lives in this deployment's Redis
and profiles serves it). The member themself or an operator; audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel

from nnmatch.access import OWNER_OR_OPERATOR, MemberIdPath
from nnmatch.audit import AuditAction, AuditEntry, AuditorDep
from nnmatch.auth import Principal
from nnmatch.export import ExporterDep, KeyFamily, ServiceExport
from nnmatch.problems import problem_responses

FAMILIES = (
    KeyFamily("profile:{m}", True, "the profile as stored, with its version"),
    KeyFamily("profile-version:{m}", True, "the last version handed out"),
    KeyFamily("reports:of:{m}", True, "the ids of reports they filed or are named in"),
    KeyFamily(
        "reports:about:{m}",
        False,
        "open reports about them: other members' reports, for operators only",
    ),
)
AUDIT_PAGES = 20


class ProfilesExport(ServiceExport):
    audit: list[AuditEntry]


router = APIRouter(
    prefix="/v1/members", tags=["members"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{member_id}/export",
    response_model=ProfilesExport,
    summary="Everything profiles holds about the member (their own data; audited)",
)
async def export(
    member_id: MemberIdPath,
    request: Request,
    principal: Annotated[Principal, OWNER_OR_OPERATOR],
    auditor: AuditorDep,
    exporter: ExporterDep,
) -> BaseModel:
    await auditor.record(request, principal, AuditAction.EXPORT, member_id)
    held = await exporter.export(member_id)
    entries: list[AuditEntry] = []
    cursor: str | None = None
    for _ in range(AUDIT_PAGES):
        page = await auditor.log.page(100, cursor, member_id)
        entries += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return ProfilesExport(**held.model_dump(), audit=entries)
