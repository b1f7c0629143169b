"""`GET /v1/hubs/{hub_id}/projects/{project_id}/candidates`: members who fit a project;
`GET /v1/members/{member_id}/projects`: the open projects that fit a member.

Only the hub's own token or an operator (403 from the token alone, before any lookup, as the
hub partner routes). 404 for a project this service does not know, 409 for a closed one (only
its own hub reaches that far), 503 where the matcher or hubs role does not run. A member's
projects: the member themself or an operator (403 from the token alone); a member the
matcher does not hold as discoverable (unknown, hidden, erased) gets an empty list.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nnmatch.access import (
    HUB_OR_OPERATOR,
    OWNER_OR_OPERATOR,
    HubIdPath,
    MemberIdPath,
    ProjectIdPath,
)
from nnmatch.events import Suggestion, utc_now
from nnmatch.paging import MAX_LIMIT, BadCursor
from nnmatch.problems import RETRY_AFTER_S, Problem, problem_responses
from nnmatch_matching.projects.deps import ProjectServicesDep
from nnmatch_matching.projects.for_member import MemberProject
from nnmatch_matching.projects.service import (
    CandidatesUnavailable,
    ProjectClosed,
    ProjectNotFound,
)


class ProjectCandidatesPage(BaseModel):
    hub_id: str
    project_id: str
    items: list[Suggestion]
    next_cursor: str | None


class MemberProjectsPage(BaseModel):
    member_id: str
    items: list[MemberProject]


router = APIRouter(
    prefix="/v1/hubs",
    tags=["project candidates"],
    responses=problem_responses(401, 403, 422, 503),
)
member_router = APIRouter(
    prefix="/v1/members",
    tags=["project candidates"],
    responses=problem_responses(401, 403, 422, 503),
)


def _unavailable(detail: str) -> Problem:
    return Problem(503, "Service unavailable", detail, headers={"Retry-After": RETRY_AFTER_S})


@router.get(
    "/{hub_id}/projects/{project_id}/candidates",
    response_model=ProjectCandidatesPage,
    responses=problem_responses(400, 404, 409),
    summary="Members who fit the project, best first, with reasons (its hub's token, or an "
    "operator)",
    dependencies=[HUB_OR_OPERATOR],
)
async def get_candidates(
    hub_id: HubIdPath,
    project_id: ProjectIdPath,
    services: ProjectServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProjectCandidatesPage:
    """Discoverable members ranked by how what they offer meets what the project seeks."""
    projects = services.projects
    if projects is None:
        raise _unavailable("projects are kept where the hubs role runs; it does not run here")
    try:
        page = await projects.page(hub_id, project_id, limit, cursor, utc_now())
    except ProjectNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    except ProjectClosed as exc:
        raise Problem(409, "Conflict", f"{exc}: it seeks no candidates") from exc
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    except CandidatesUnavailable as exc:
        raise _unavailable(str(exc)) from exc
    return ProjectCandidatesPage(
        hub_id=hub_id, project_id=project_id, items=page.items, next_cursor=page.next_cursor
    )


@member_router.get(
    "/{member_id}/projects",
    response_model=MemberProjectsPage,
    summary="Open projects that fit the member, best first, with reasons (the member, or an "
    "operator)",
    dependencies=[OWNER_OR_OPERATOR],
)
async def get_member_projects(
    member_id: MemberIdPath,
    services: ProjectServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> MemberProjectsPage:
    """Open projects of discoverable hubs, ranked by the project candidates' score read from
    the member's side; a project of the member's own hub is listed, and its reasons say so."""
    projects = services.projects
    if projects is None:
        raise _unavailable("projects are kept where the hubs role runs; it does not run here")
    try:
        items = await projects.for_member(member_id, limit)
    except CandidatesUnavailable as exc:
        raise _unavailable(str(exc)) from exc
    return MemberProjectsPage(member_id=member_id, items=items)
