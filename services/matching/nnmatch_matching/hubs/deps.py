"""What the hub partner routes are given: their view of the app's services container."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from nnmatch.publishing import EventPublisher
from nnmatch_matching.hubs.store import HubStore


class HubServices(Protocol):
    @property
    def hubs(self) -> HubStore: ...

    @property
    def publisher(self) -> EventPublisher: ...


def get_services(request: Request) -> HubServices:
    services: HubServices = request.app.state.services
    return services


HubServicesDep = Annotated[HubServices, Depends(get_services)]
