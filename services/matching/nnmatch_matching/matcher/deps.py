"""What the matcher's routes are given, typed: their view of the app's services container.

The container (`nnmatch_matching.deps.MatchingServices`) also holds the hub search, which this
layer may not import, so the routes here read it through the `MatcherServices` protocol.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from nnmatch.publishing import EventPublisher
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.store import MatchesStore


class MatcherServices(Protocol):
    """The adapters the matches and feedback routes use."""

    @property
    def engine(self) -> MatchEngine | None:
        """The index, where the matcher role runs (None elsewhere)."""

    @property
    def matches(self) -> MatchesStore: ...

    @property
    def publisher(self) -> EventPublisher: ...


def get_services(request: Request) -> MatcherServices:
    services: MatcherServices = request.app.state.services
    return services


Services = Annotated[MatcherServices, Depends(get_services)]


def get_engine(services: Services) -> MatchEngine | None:
    return services.engine


def get_matches(services: Services) -> MatchesStore:
    return services.matches


def get_publisher(services: Services) -> EventPublisher:
    return services.publisher


EngineDep = Annotated[MatchEngine | None, Depends(get_engine)]
MatchesDep = Annotated[MatchesStore, Depends(get_matches)]
PublisherDep = Annotated[EventPublisher, Depends(get_publisher)]
