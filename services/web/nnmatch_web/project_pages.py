"""A hub's project pages: the members who fit a project, ranked with their reasons, each with
an Invite button (or how they answered, once invited), and the project's invitations.

Ranking is matching's, invitations are notifications': the pages only put the two side by
side with the hub's token, so a candidate already invited shows their status, not a button.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch.hub import PROJECT_ID_PATTERN
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_web.apis import ApiError, Apis, unless_missing
from nnmatch_web.deps import PAGE_SIZE, ApisDep, CheckedForm, CurrentVisitor, OwnHub, PagesDep
from nnmatch_web.hubs import visible_profiles
from nnmatch_web.render import is_htmx
from nnmatch_web.views import as_sentence, first, invitation_counts, invitation_statuses

router = APIRouter(prefix="/hub", include_in_schema=False)
ProjectId = Annotated[str, Path(pattern=PROJECT_ID_PATTERN)]
CandidateId = Annotated[str, Path(pattern=MEMBER_ID_PATTERN)]
Cursor = Annotated[str | None, Query(max_length=200)]
Invited = Annotated[str | None, Query(pattern=MEMBER_ID_PATTERN)]
NOT_RANKED_YET = (
    "Candidates for this project are still being found (a project is ranked a few seconds "
    "after it is saved). Reload the page in a moment."
)
CLOSED_HINT = "Reopen it on its edit page to see candidates and invite them."


async def _invitations(apis: Apis, token: str, hub_id: str, project_id: str) -> list[Any]:
    """The project's invitations; none while notifications has not heard of the project yet
    (it learns projects from projects.v1, a moment after they are saved)."""
    page = await unless_missing(apis.invitations(token, hub_id, project_id))
    items: list[Any] = page.get("items", []) if page else []
    return items


async def _candidates(
    apis: Apis, token: str, hub_id: str, project_id: str, cursor: str | None
) -> tuple[dict[str, Any], str | None, bool]:
    """A page of candidates; or why there is none: the project is closed (matching's 409,
    its reason shown as it is) or not ranked yet (matching's 404 for a project just saved)."""
    empty: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        return await apis.candidates(token, hub_id, project_id, PAGE_SIZE, cursor), None, False
    except ApiError as exc:
        if exc.status == 409:
            return empty, as_sentence(exc.detail), False
        if exc.status == 404:
            return empty, None, True
        raise


@router.get("/projects/{project_id}/candidates")
async def candidates(
    request: Request,
    project_id: ProjectId,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
    cursor: Cursor = None,
    invited: Invited = None,
) -> Response:
    stored = await apis.project(visitor.token, hub_id, project_id)  # 404: not this hub's
    (page, closed, unranked), invitations = await asyncio.gather(
        _candidates(apis, visitor.token, hub_id, project_id, cursor),
        _invitations(apis, visitor.token, hub_id, project_id),
    )
    if closed is None and not stored["project"].get("open", True):
        closed = as_sentence(f"project {project_id!r} is closed: it seeks no candidates")
    statuses = invitation_statuses({"items": invitations})
    names = {s["member_id"]: s["display_name"] for s in page["items"]}
    return pages.render(
        request,
        "hub_candidates.html",
        project_id=project_id,
        project=stored["project"],
        page=page,
        cursor=cursor,
        closed=closed,
        closed_hint=CLOSED_HINT,
        unranked=NOT_RANKED_YET if unranked else None,
        statuses=statuses,
        counts=invitation_counts(statuses),
        notice=f"{names.get(invited, invited)} is invited: the invitation is in their inbox."
        if invited
        else None,
    )


@router.post("/projects/{project_id}/candidates/{member_id}/invite")
async def invite(
    request: Request,
    project_id: ProjectId,
    member_id: CandidateId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    """Invite the candidate (a closed project's 409, or a member gone since, is the error
    page's "That did not work" with the service's reason)."""
    invitation = await apis.invite(visitor.token, hub_id, project_id, member_id)
    if is_htmx(request):
        return pages.render(
            request,
            "_invitation_status.html",
            member_id=member_id,
            name=first(form, "name") or member_id,
            invitation_status=invitation.get("status", "pending"),
            fresh=True,
        )
    query = {"invited": member_id} | ({"cursor": c} if (c := first(form, "cursor")) else {})
    return RedirectResponse(
        f"/hub/projects/{project_id}/candidates?{urlencode(query)}", status_code=303
    )


@router.get("/projects/{project_id}/invitations")
async def invitations(
    request: Request,
    project_id: ProjectId,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    """Every invitation of the project, oldest first, with its status and the member's
    visible fields (a member hidden or erased since shows by id only)."""
    stored, items = await asyncio.gather(
        apis.project(visitor.token, hub_id, project_id),
        _invitations(apis, visitor.token, hub_id, project_id),
    )
    profiles = await visible_profiles(apis, visitor, [str(i["member_id"]) for i in items])
    names = {p["member_id"]: p["profile"]["display_name"] for p in profiles}
    return pages.render(
        request,
        "hub_invitations.html",
        project_id=project_id,
        project=stored["project"],
        items=items,
        names=names,
        counts=invitation_counts(invitation_statuses({"items": items})),
    )
