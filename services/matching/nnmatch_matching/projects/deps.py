"""What the project candidates route is given: its view of the app's services container."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from nnmatch_matching.projects.service import ProjectCandidates


class ProjectServices(Protocol):
    @property
    def projects(self) -> ProjectCandidates | None: ...


def get_services(request: Request) -> ProjectServices:
    services: ProjectServices = request.app.state.services
    return services


ProjectServicesDep = Annotated[ProjectServices, Depends(get_services)]
