"""A member's data held by matching, for their data-access request: their current list, the
feedback they gave, the embedder's record of their vectors (model, versions, text hashes; not
the vectors) and whether the index holds them. The member themself or an operator; audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel

from nnmatch.access import OWNER_OR_OPERATOR, MemberIdPath
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Principal
from nnmatch.export import ExporterDep, KeyFamily, ServiceExport
from nnmatch.problems import problem_responses
from nnmatch_matching.matcher.deps import EngineDep

FAMILIES = (
    KeyFamily("matches:{m}", True, "their current list of suggestions, with scores and reasons"),
    KeyFamily("feedback:{m}", True, "the feedback they gave (accept, dismiss, block) in force"),
    KeyFamily(
        "embedding:{m}",
        True,
        "the model and profile version of their vectors and the hashes of the texts embedded",
        hidden_fields=("vector:",),
    ),
    KeyFamily(
        "feedback-about:{m}",
        False,
        "who gave feedback on them: the other members' own data (erasure removes the mentions)",
    ),
)


class IndexEntry(BaseModel):
    served_here: bool
    indexed: bool | None
    model_id: str | None
    profile_version: int | None


class MatchingExport(ServiceExport):
    index: IndexEntry


router = APIRouter(
    prefix="/v1/members", tags=["matches"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{member_id}/export",
    response_model=MatchingExport,
    summary="Everything matching holds about the member (their own data; audited)",
)
async def export(
    member_id: MemberIdPath,
    request: Request,
    principal: Annotated[Principal, OWNER_OR_OPERATOR],
    auditor: AuditorDep,
    exporter: ExporterDep,
    engine: EngineDep,
) -> BaseModel:
    await auditor.record(request, principal, AuditAction.EXPORT, member_id)
    held = await exporter.export(member_id)
    indexed = engine is not None and member_id in engine
    index = IndexEntry(
        served_here=engine is not None,
        indexed=indexed if engine is not None else None,
        model_id=engine.model_id if engine is not None else None,
        profile_version=engine.profile_version(member_id) if engine and indexed else None,
    )
    return MatchingExport(**held.model_dump(), index=index)
