"""What the matching routes are given, typed: the adapters the bootstrap built, by dependency.

`MatchingServices` is the one container (`app.state.services`). The search routes read it
here; the matcher's routes through their own view (matcher/deps.py), as the matcher layer may
not import the search layer this module does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from nnmatch.problems import RETRY_AFTER_S, Problem
from nnmatch.publishing import EventPublisher
from nnmatch_matching.hubs.deps import HubServices
from nnmatch_matching.hubs.store import HubStore
from nnmatch_matching.matcher.deps import MatcherServices
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.store import MatchesStore
from nnmatch_matching.search.search import HubSearch
from nnmatch_matching.settings import MatchingSettings


@dataclass(frozen=True)
class MatchingServices:
    """Everything the routes use, built once by the bootstrap.

    `engine` and `search` are None where the matcher role does not run (no index here)."""

    settings: MatchingSettings
    publisher: EventPublisher
    matches: MatchesStore
    engine: MatchEngine | None
    search: HubSearch | None
    hubs: HubStore


# The matcher's routes read this container as a `MatcherServices`: mypy checks that it fits.
_MATCHER_VIEW: type[MatcherServices] = MatchingServices
_HUBS_VIEW: type[HubServices] = MatchingServices


def get_services(request: Request) -> MatchingServices:
    services: MatchingServices = request.app.state.services
    return services


Services = Annotated[MatchingServices, Depends(get_services)]


def get_search(services: Services) -> HubSearch:
    if services.search is None:
        raise Problem(
            503,
            "Service unavailable",
            "hub search runs where the matcher role runs; this process has no index",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return services.search


HubSearchDep = Annotated[HubSearch, Depends(get_search)]
