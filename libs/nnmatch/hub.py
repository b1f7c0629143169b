"""The hub profile and the hub's projects: bodies of `PUT /v1/hubs/...` and payloads on
`hubs.v1` / `projects.v1`.

A hub is written by its own leaders (a hub token) or an operator. What it offers and seeks
uses the member profile's `Intent`, so kinds and text rules are the same words for hubs,
projects and members, and the matcher can compare them directly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from nnmatch.profile import (
    MAX_BIO,
    MAX_DISPLAY_NAME,
    MAX_HEADLINE,
    MAX_LANGUAGES,
    MEMBER_ID_PATTERN,
    Intent,
    Text,
    check_country,
    check_language,
)
from nnmatch.regions import region_of

HUB_ID_PATTERN = MEMBER_ID_PATTERN
PROJECT_ID_PATTERN = MEMBER_ID_PATTERN
MAX_FOCUS = 4_000
MAX_LEADERS = 20
MAX_PROJECT_DESCRIPTION = 8_000
MAX_PROJECTS_PER_HUB = 100

MemberRef = Annotated[str, Field(pattern=MEMBER_ID_PATTERN)]
Sdgs = Annotated[list[Annotated[int, Field(ge=1, le=17)]], Field(max_length=17)]
Languages = Annotated[
    list[Annotated[str, AfterValidator(check_language)]],
    Field(min_length=1, max_length=MAX_LANGUAGES),
]


def _sorted_unique(values: list[int]) -> list[int]:
    return sorted(set(values))


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=MAX_BIO)


class LeaderRole(StrEnum):
    """The charter's three hub roles."""

    LEADER = "leader"
    REGIONAL = "regional"
    IMPACT = "impact"


class Leader(_Strict):
    """A member who leads the hub, in one role."""

    member_id: MemberRef
    role: LeaderRole


class HubVisibility(_Strict):
    """`discoverable=False` hides the hub from members and other hubs (404, as if absent)."""

    discoverable: bool = True


class HubProfile(_Strict):
    """A hub's profile as its leaders wrote it."""

    name: Text = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    country: Annotated[str, AfterValidator(check_country)]
    sdgs: Annotated[Sdgs, AfterValidator(_sorted_unique)] = Field(default_factory=list)
    focus: Text = Field(default="", max_length=MAX_FOCUS)
    offers: Intent = Field(default_factory=Intent)
    seeks: Intent = Field(default_factory=Intent)
    languages: Annotated[Languages, AfterValidator(_unique)]
    leaders: list[Leader] = Field(default_factory=list, max_length=MAX_LEADERS)
    visibility: HubVisibility = Field(default_factory=HubVisibility)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        if not name:
            raise ValueError("name must not be blank")
        return name

    @field_validator("leaders")
    @classmethod
    def _one_entry_per_member_and_role(cls, leaders: list[Leader]) -> list[Leader]:
        return list(dict.fromkeys(leaders))

    @property
    def region(self) -> str | None:
        """The UN M49 region of the hub's country (derived, so it never disagrees)."""
        return region_of(self.country)

    def led_by(self, member_id: str) -> bool:
        return any(leader.member_id == member_id for leader in self.leaders)

    def without_leader(self, member_id: str) -> HubProfile:
        """The same hub with every role of `member_id` removed (that member's erasure)."""
        kept = [leader for leader in self.leaders if leader.member_id != member_id]
        return self.model_copy(update={"leaders": kept})


class ProjectProfile(_Strict):
    """A project a hub (or an operator, for AI for Good) posts to find contributors."""

    title: Text = Field(min_length=1, max_length=MAX_HEADLINE)
    description: Text = Field(default="", max_length=MAX_PROJECT_DESCRIPTION)
    sdgs: Annotated[Sdgs, AfterValidator(_sorted_unique)] = Field(default_factory=list)
    seeks: Intent = Field(default_factory=Intent)
    languages: Annotated[Languages, AfterValidator(_unique)]
    open: bool = Field(default=True, description="Closed projects are seen only by their hub.")

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, title: str) -> str:
        if not title:
            raise ValueError("title must not be blank")
        return title


class StoredHub(BaseModel):
    """A hub as the profiles service stores and returns it."""

    model_config = ConfigDict(frozen=True)

    hub_id: str
    version: int
    updated_at: AwareDatetime
    region: str | None = Field(default=None, description="UN M49 region of the hub's country.")
    hub: HubProfile


class StoredProject(BaseModel):
    """A project as the profiles service stores and returns it."""

    model_config = ConfigDict(frozen=True)

    hub_id: str
    project_id: str
    version: int
    updated_at: AwareDatetime
    project: ProjectProfile


def project_key(hub_id: str, project_id: str) -> str:
    """The `projects.v1` record key: project ids are the hub's own, so the key names both
    (`/` is outside the id alphabet, so the key is unambiguous)."""
    return f"{hub_id}/{project_id}"
