"""Operators' routes of the matcher for the member lookup: members by name (the display name,
a field every member shows), and for one member whether they are indexed and with which model,
their current list with scores and reasons, and who lists them (their exposure).

The index lives where the matcher role runs; elsewhere `served_here` is false and only the
stored list is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from nnmatch.access import CurrentPrincipal, MemberIdPath, require_role
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Role
from nnmatch.events import Suggestion
from nnmatch.problems import Problem, problem_responses
from nnmatch_matching.matcher.deps import EngineDep, MatchesDep
from nnmatch_matching.matcher.engine import MatchEngine

LISTED_BY_SHOWN = 100

router = APIRouter(
    prefix="/v1/operators/members",
    tags=["operators"],
    responses=problem_responses(401, 403, 422, 503),
    dependencies=[require_role(Role.OPERATOR)],
)


class MatchingLookup(BaseModel):
    member_id: str
    served_here: bool
    """The index is on this replica (the matcher role runs here)."""
    indexed: bool | None
    index_model_id: str | None
    indexed_profile_version: int | None
    list_model_id: str | None
    list_profile_version: int | None
    computed_at: datetime | None
    items: list[Suggestion]
    """The current list, as published (scores and reasons)."""
    exposure: int | None
    """In how many members' current lists they are."""
    listed_by: list[str]
    """Who lists them (the first LISTED_BY_SHOWN ids, sorted)."""


@router.get("/{member_id}", response_model=MatchingLookup, summary="Index, list and exposure")
async def lookup(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    store: MatchesDep,
    engine: EngineDep,
) -> MatchingLookup:
    await auditor.record(request, principal, AuditAction.MEMBER_LOOKUP, member_id)
    computed = await store.get(member_id)
    indexed = engine is not None and member_id in engine
    listers = sorted(set(engine.listed_in.get(member_id, ()))) if engine is not None else []
    return MatchingLookup(
        member_id=member_id,
        served_here=engine is not None,
        indexed=indexed if engine is not None else None,
        index_model_id=engine.model_id if engine is not None else None,
        indexed_profile_version=engine.profile_version(member_id) if engine and indexed else None,
        list_model_id=computed.model_id if computed else None,
        list_profile_version=computed.profile_version if computed else None,
        computed_at=computed.occurred_at if computed else None,
        items=computed.suggestions if computed else [],
        exposure=len(listers) if engine is not None else None,
        listed_by=listers[:LISTED_BY_SHOWN],
    )


class NamedMember(BaseModel):
    member_id: str
    display_name: str
    headline: str
    country: str
    discoverable: bool


class NamedMembers(BaseModel):
    items: list[NamedMember]


def members_named(engine: MatchEngine, name: str, limit: int) -> list[NamedMember]:
    """Members whose display name contains `name` (case and accents as typed), by id."""
    wanted = name.casefold()
    found = [
        NamedMember(
            member_id=member_id,
            display_name=state.card.display_name,
            headline=state.card.headline,
            country=state.card.country,
            discoverable=state.card.discoverable,
        )
        for member_id, state in list(engine.members.items())
        if wanted in state.card.display_name.casefold()
    ]
    return sorted(found, key=lambda m: m.member_id)[:limit]


@router.get("", response_model=NamedMembers, summary="Members by (part of) their display name")
async def by_name(
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    engine: EngineDep,
    name: Annotated[str, Query(min_length=2, max_length=120)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NamedMembers:
    """The name searched for is not recorded (it is a person's name); the search is."""
    if engine is None:
        raise Problem(503, "Service unavailable", "the index is not on this replica")
    await auditor.record(request, principal, AuditAction.MEMBER_SEARCH)
    return NamedMembers(items=members_named(engine, name.strip(), limit))
