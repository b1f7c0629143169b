"""HTTP routes for hub profiles and their projects (thin: parse, check, call the service).

Writes: the hub's own token or an operator, decided from the token before any lookup (403).
Reads: any signed-in caller, but a hub that is not discoverable, or a project that is closed,
is seen only by that hub and operators; everyone else gets the same 404 as for one that
does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel

from nnmatch.access import (
    HUB_OR_OPERATOR,
    CurrentPrincipal,
    HubIdPath,
    ProjectIdPath,
    rate_limited,
)
from nnmatch.auth import Principal
from nnmatch.hub import HubProfile, ProjectProfile, StoredHub, StoredProject
from nnmatch.problems import Problem, event_log_unavailable, problem_responses
from nnmatch_profiles.deps import HubServiceDep
from nnmatch_profiles.hubs import TooManyProjects, UnknownHub
from nnmatch_profiles.service import BrokerUnavailable


class ProjectList(BaseModel):
    items: list[StoredProject]


class HubDeletionAccepted(BaseModel):
    hub_id: str
    status: str = "deletion accepted"


class ProjectDeletionAccepted(BaseModel):
    hub_id: str
    project_id: str
    status: str = "deletion accepted"


router = APIRouter(
    prefix="/v1/hubs", tags=["hubs"], responses=problem_responses(401, 403, 422, 503)
)


def _no_hub(hub_id: str) -> Problem:
    return Problem(404, "Not found", f"no hub {hub_id!r}")


def _no_project(hub_id: str, project_id: str) -> Problem:
    return Problem(404, "Not found", f"no project {project_id!r} in hub {hub_id!r}")


@router.put(
    "/{hub_id}",
    response_model=StoredHub,
    responses={201: {"model": StoredHub}, **problem_responses(400, 413, 429)},
    summary="Create or replace a hub's profile (its own hub token, or an operator)",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def put_hub(
    hub_id: HubIdPath, hub: HubProfile, response: Response, service: HubServiceDep
) -> StoredHub:
    try:
        stored = await service.upsert_hub(hub_id, hub)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    response.status_code = 201 if stored.version == 1 else 200
    return stored


@router.get(
    "/{hub_id}",
    response_model=StoredHub,
    responses=problem_responses(404),
    summary="A hub's profile: discoverable hubs for everyone, any hub for itself and operators",
)
async def get_hub(
    hub_id: HubIdPath, service: HubServiceDep, principal: CurrentPrincipal
) -> StoredHub:
    stored = await service.get_hub(hub_id)
    if stored is None:
        raise _no_hub(hub_id)
    if not (stored.hub.visibility.discoverable or principal.manages_hub(hub_id)):
        raise _no_hub(hub_id)
    return stored


@router.delete(
    "/{hub_id}",
    status_code=202,
    response_model=HubDeletionAccepted,
    responses=problem_responses(404, 429),
    summary="Delete a hub and its projects everywhere (its own hub token, or an operator)",
    dependencies=[rate_limited("writes")],
)
async def delete_hub(
    hub_id: HubIdPath,
    service: HubServiceDep,
    principal: Annotated[Principal, HUB_OR_OPERATOR],
) -> HubDeletionAccepted:
    try:
        found = await service.delete_hub(hub_id)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    if not found:
        raise _no_hub(hub_id)
    return HubDeletionAccepted(hub_id=hub_id)


@router.get(
    "/{hub_id}/projects",
    response_model=ProjectList,
    responses=problem_responses(404),
    summary="A hub's projects by id: the open ones for everyone, all for the hub and operators",
)
async def list_projects(
    hub_id: HubIdPath, service: HubServiceDep, principal: CurrentPrincipal
) -> ProjectList:
    hub = await service.get_hub(hub_id)
    manager = principal.manages_hub(hub_id)
    if hub is None or not (hub.hub.visibility.discoverable or manager):
        raise _no_hub(hub_id)
    projects = await service.projects_of(hub_id)
    return ProjectList(items=[p for p in projects if manager or p.project.open])


@router.put(
    "/{hub_id}/projects/{project_id}",
    response_model=StoredProject,
    responses={201: {"model": StoredProject}, **problem_responses(400, 404, 409, 413, 429)},
    summary="Create or replace one of the hub's projects (the hub's profile must exist)",
    dependencies=[HUB_OR_OPERATOR, rate_limited("writes")],
)
async def put_project(
    hub_id: HubIdPath,
    project_id: ProjectIdPath,
    project: ProjectProfile,
    response: Response,
    service: HubServiceDep,
) -> StoredProject:
    try:
        stored = await service.upsert_project(hub_id, project_id, project)
    except UnknownHub as exc:
        raise Problem(
            404, "Not found", f"no hub {hub_id!r}: create the hub's profile first"
        ) from exc
    except TooManyProjects as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    response.status_code = 201 if stored.version == 1 else 200
    return stored


@router.get(
    "/{hub_id}/projects/{project_id}",
    response_model=StoredProject,
    responses=problem_responses(404),
    summary="A project: open ones of discoverable hubs for everyone; any for its hub and operators",
)
async def get_project(
    hub_id: HubIdPath,
    project_id: ProjectIdPath,
    service: HubServiceDep,
    principal: CurrentPrincipal,
) -> StoredProject:
    stored = await service.get_project(hub_id, project_id)
    if stored is None:
        raise _no_project(hub_id, project_id)
    if not principal.manages_hub(hub_id):
        hub = await service.get_hub(hub_id)
        # A hidden hub's projects are hidden with it.
        if not stored.project.open or hub is None or not hub.hub.visibility.discoverable:
            raise _no_project(hub_id, project_id)
    return stored


@router.delete(
    "/{hub_id}/projects/{project_id}",
    status_code=202,
    response_model=ProjectDeletionAccepted,
    responses=problem_responses(404, 429),
    summary="Delete one of the hub's projects (its own hub token, or an operator)",
    dependencies=[rate_limited("writes")],
)
async def delete_project(
    hub_id: HubIdPath,
    project_id: ProjectIdPath,
    service: HubServiceDep,
    principal: Annotated[Principal, HUB_OR_OPERATOR],
) -> ProjectDeletionAccepted:
    try:
        found = await service.delete_project(hub_id, project_id)
    except BrokerUnavailable as exc:
        raise event_log_unavailable("write") from exc
    if not found:
        raise _no_project(hub_id, project_id)
    return ProjectDeletionAccepted(hub_id=hub_id, project_id=project_id)
