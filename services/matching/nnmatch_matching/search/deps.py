"""What the search route is given: its view of the app's services container (the container
itself, `nnmatch_matching.deps`, also serves layers above this one, so it is not imported here).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from nnmatch.problems import RETRY_AFTER_S, Problem
from nnmatch_matching.search.search import HubSearch


class SearchServices(Protocol):
    @property
    def search(self) -> HubSearch | None: ...


def get_services(request: Request) -> SearchServices:
    services: SearchServices = request.app.state.services
    return services


def get_search(services: Annotated[SearchServices, Depends(get_services)]) -> HubSearch:
    if services.search is None:
        raise Problem(
            503,
            "Service unavailable",
            "hub search runs where the matcher role runs; this process has no index",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return services.search


HubSearchDep = Annotated[HubSearch, Depends(get_search)]
