"""What the profiles routes are given, typed: the adapters the bootstrap built, by dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from nnmatch_profiles.hubs import HubService
from nnmatch_profiles.moderation import Moderation
from nnmatch_profiles.service import ProfileService
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_profiles.shortlists import ShortlistService


@dataclass(frozen=True)
class ProfilesServices:
    """Everything the routes use, built once by the bootstrap (`app.state.services`)."""

    settings: ProfilesSettings
    profiles: ProfileService
    hubs: HubService
    moderation: Moderation
    shortlists: ShortlistService


def get_services(request: Request) -> ProfilesServices:
    services: ProfilesServices = request.app.state.services
    return services


Services = Annotated[ProfilesServices, Depends(get_services)]


def get_profile_service(services: Services) -> ProfileService:
    return services.profiles


def get_hub_service(services: Services) -> HubService:
    return services.hubs


def get_shortlist_service(services: Services) -> ShortlistService:
    return services.shortlists


def get_settings(services: Services) -> ProfilesSettings:
    return services.settings


ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
HubServiceDep = Annotated[HubService, Depends(get_hub_service)]
ShortlistServiceDep = Annotated[ShortlistService, Depends(get_shortlist_service)]
SettingsDep = Annotated[ProfilesSettings, Depends(get_settings)]
