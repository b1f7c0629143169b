"""HTTP routes of project invitations (thin: invitation_desk.py does the work).

A hub (its own token, or an operator) invites a member to one of its open projects and lists
the project's invitations with their status; the member (only themself) accepts or declines.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from nnmatch.access import (
    HUB_OR_OPERATOR,
    OWNER_ONLY,
    HubIdPath,
    MemberIdPath,
    ProjectIdPath,
    rate_limited,
)
from nnmatch.problems import Problem, problem_responses
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_notifications.deps import Services
from nnmatch_notifications.invitation_desk import InvitationDesk
from nnmatch_notifications.invitations import Invitation, InvitationRefused

INVITATION_ID = re.compile(r"inv-[0-9a-f]{32}")
_TITLES = {404: "Not found", 409: "Conflict", 422: "Unprocessable content"}


def get_desk(services: Services) -> InvitationDesk:
    return services.invitations


DeskDep = Annotated[InvitationDesk, Depends(get_desk)]


class InvitationBody(BaseModel):
    member_id: str = Field(pattern=MEMBER_ID_PATTERN, description="The member to invite.")


class ProjectInvitations(BaseModel):
    hub_id: str
    project_id: str
    items: list[Invitation]


def _refused(exc: InvitationRefused) -> Problem:
    return Problem(exc.status, _TITLES.get(exc.status, "Bad request"), exc.reason)


hubs_router = APIRouter(
    prefix="/v1/hubs", tags=["invitations"], responses=problem_responses(401, 403, 422, 503)
)
members_router = APIRouter(
    prefix="/v1/members", tags=["invitations"], responses=problem_responses(401, 403, 422, 503)
)


@hubs_router.post(
    "/{hub_id}/projects/{project_id}/invitations",
    status_code=201,
    response_model=Invitation,
    responses={
        200: {"description": "Invited before: the same invitation"},
        **problem_responses(404, 409, 429),
    },
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
    summary="Invite a member to the hub's open project (the invitation reaches their inbox once)",
)
async def invite(
    hub_id: HubIdPath,
    project_id: ProjectIdPath,
    body: InvitationBody,
    desk: DeskDep,
    response: Response,
) -> Invitation:
    """201 with the new invitation; 200 with the existing one when the member was invited to
    this project before (nothing new reaches their inbox). 404: no such project in this hub,
    or no discoverable member by that id; 409: the project is closed."""
    try:
        invitation, created = await desk.invite(hub_id, project_id, body.member_id)
    except InvitationRefused as exc:
        raise _refused(exc) from exc
    if not created:
        response.status_code = 200
    return invitation


@hubs_router.get(
    "/{hub_id}/projects/{project_id}/invitations",
    response_model=ProjectInvitations,
    responses=problem_responses(404),
    dependencies=[HUB_OR_OPERATOR],
    summary="The project's invitations with their status (oldest first)",
)
async def list_invitations(
    hub_id: HubIdPath, project_id: ProjectIdPath, desk: DeskDep
) -> ProjectInvitations:
    try:
        items = await desk.of_project(hub_id, project_id)
    except InvitationRefused as exc:
        raise _refused(exc) from exc
    return ProjectInvitations(hub_id=hub_id, project_id=project_id, items=items)


InvitationIdPath = Annotated[str, Path(max_length=40, description="From the inbox item.")]


async def _answer(
    member_id: str, invitation_id: str, desk: InvitationDesk, accept: bool
) -> Invitation:
    if not INVITATION_ID.fullmatch(invitation_id):
        raise Problem(404, "Not found", "no such invitation")
    try:
        return await desk.answer(member_id, invitation_id, accept)
    except InvitationRefused as exc:
        raise _refused(exc) from exc


@members_router.post(
    "/{member_id}/invitations/{invitation_id}/accept",
    response_model=Invitation,
    responses=problem_responses(404, 409, 429),
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Accept a project invitation: contact details are shared with the hub's leaders "
    "as in an introduction",
)
async def accept(
    member_id: MemberIdPath, invitation_id: InvitationIdPath, desk: DeskDep
) -> Invitation:
    """Each of the hub's leaders and the member are introduced (double opt-in: the hub's
    invitation and the member's accept), each pair once, with only what each chose to share.
    409: declined before, or the project has closed."""
    return await _answer(member_id, invitation_id, desk, accept=True)


@members_router.post(
    "/{member_id}/invitations/{invitation_id}/decline",
    response_model=Invitation,
    responses=problem_responses(404, 409, 429),
    dependencies=[OWNER_ONLY, rate_limited("writes")],
    summary="Decline a project invitation: nothing is shared; the hub sees the status",
)
async def decline(
    member_id: MemberIdPath, invitation_id: InvitationIdPath, desk: DeskDep
) -> Invitation:
    return await _answer(member_id, invitation_id, desk, accept=False)
