"""The member profile: the body of `PUT /v1/members/{id}` and the payload of `ProfileUpserted`.

Validation lives here, once, so the HTTP API, the bulk import, the seed generator and every
consumer agree on what a valid profile is. Text is NFC-normalised and trimmed so that the same
words always hash (and embed) the same way.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MEMBER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_MEMBER_ID_RE = re.compile(MEMBER_ID_PATTERN)

# Documented field limits (README "Profile limits"); the API answers 422 past them.
MAX_DISPLAY_NAME = 120
MAX_HEADLINE = 200
MAX_BIO = 8_000
MAX_OFFER_SEEK_TEXT = 2_000
MAX_TAGS = 25
MAX_TAG_LENGTH = 80
MAX_LANGUAGES = 10
MAX_HUBS = 10


class InvalidMemberId(ValueError):
    """A member id outside `[A-Za-z0-9_-]{1,64}`."""


def check_member_id(member_id: str) -> str:
    """Return the id unchanged, or raise `InvalidMemberId` naming the rule."""
    if not _MEMBER_ID_RE.fullmatch(member_id):
        raise InvalidMemberId(
            f"member id {member_id[:80]!r} must match {MEMBER_ID_PATTERN} (letters, digits, _ or -)"
        )
    return member_id


_KEEP_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiner: needed by Persian, Hindi, emoji


def _kept(ch: str) -> bool:
    return ch in "\n\t" or ch in _KEEP_FORMAT or unicodedata.category(ch)[0] != "C"


def normalise_text(value: str) -> str:
    """NFC-normalise, drop control, format (bidi overrides) and unassigned characters, trim."""
    value = unicodedata.normalize("NFC", value)
    if not value.replace("\n", "").replace("\t", "").isprintable():  # rare: filter per char
        value = "".join(ch for ch in value if _kept(ch))
    return value.strip()


def _clean_tags(values: list[str]) -> list[str]:
    """Normalise tags, drop empties and case-insensitive duplicates, keep first spelling."""
    seen: set[str] = set()
    cleaned: list[str] = []
    for raw in values:
        tag = " ".join(normalise_text(raw).split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"tag {tag[:30]!r}… is longer than {MAX_TAG_LENGTH} characters")
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            cleaned.append(tag)
    return cleaned


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@lru_cache(maxsize=1)
def _language_codes() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


def check_country(code: str) -> str:
    """Upper-case an ISO 3166-1 alpha-2 code, or raise naming the standard."""
    code = code.strip().upper()
    if code not in _country_codes():
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'KE')")
    return code


def check_language(code: str) -> str:
    """Lower-case an ISO 639-1 code, or raise naming the standard."""
    code = code.strip().lower()
    if code not in _language_codes():
        raise ValueError(f"{code!r} is not an ISO 639-1 language code (e.g. 'en', 'sw')")
    return code


Text = Annotated[str, AfterValidator(normalise_text)]
Tags = Annotated[list[str], AfterValidator(_clean_tags), Field(max_length=MAX_TAGS)]
HubId = Annotated[str, Field(pattern=MEMBER_ID_PATTERN)]


# The seventeen Sustainable Development Goals by number, as reasons and pages name them.
SDG_NAMES: dict[int, str] = {
    1: "No poverty",
    2: "Zero hunger",
    3: "Good health and well-being",
    4: "Quality education",
    5: "Gender equality",
    6: "Clean water and sanitation",
    7: "Affordable and clean energy",
    8: "Decent work and economic growth",
    9: "Industry, innovation and infrastructure",
    10: "Reduced inequalities",
    11: "Sustainable cities and communities",
    12: "Responsible consumption and production",
    13: "Climate action",
    14: "Life below water",
    15: "Life on land",
    16: "Peace, justice and strong institutions",
    17: "Partnerships for the goals",
}


class Kind(StrEnum):
    """What a member offers or seeks."""

    MENTOR = "mentor"
    MENTEE = "mentee"
    COLLABORATOR = "collaborator"
    CO_FOUNDER = "co_founder"
    INVESTOR = "investor"
    SPEAKER = "speaker"
    EMPLOYER = "employer"
    JOB_SEEKER = "job_seeker"
    VOLUNTEER = "volunteer"
    PARTNER = "partner"


class OrganisationType(StrEnum):
    ACADEMIA = "academia"
    INDUSTRY = "industry"
    STARTUP = "startup"
    NGO = "ngo"
    GOVERNMENT = "government"
    UN = "un"
    OTHER = "other"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=MAX_BIO)


class Intent(_Strict):
    """One side of the market: what a member offers, or what they seek."""

    kinds: list[Kind] = Field(default_factory=list, max_length=len(Kind))
    text: Text = Field(default="", max_length=MAX_OFFER_SEEK_TEXT)

    @field_validator("kinds")
    @classmethod
    def _unique_kinds(cls, kinds: list[Kind]) -> list[Kind]:
        return list(dict.fromkeys(kinds))


class Organisation(_Strict):
    name: Text = Field(default="", max_length=MAX_HEADLINE)
    type: OrganisationType = OrganisationType.OTHER


class Visibility(_Strict):
    """What a member lets others see: `discoverable=False` keeps them out of others' lists."""

    discoverable: bool = True
    show_organisation: bool = True


class MemberProfile(_Strict):
    """A member's profile as they wrote it (contact details and preferences live elsewhere)."""

    display_name: Text = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    headline: Text = Field(default="", max_length=MAX_HEADLINE)
    bio: Text = Field(default="", max_length=MAX_BIO)
    expertise: Tags = Field(default_factory=list)
    interests: Tags = Field(default_factory=list)
    sdgs: list[Annotated[int, Field(ge=1, le=17)]] = Field(default_factory=list, max_length=17)
    offers: Intent = Field(default_factory=Intent)
    seeks: Intent = Field(default_factory=Intent)
    country: Annotated[str, AfterValidator(check_country)]
    languages: list[Annotated[str, AfterValidator(check_language)]] = Field(
        min_length=1, max_length=MAX_LANGUAGES
    )
    organisation: Organisation = Field(default_factory=Organisation)
    hubs: list[HubId] = Field(default_factory=list, max_length=MAX_HUBS)
    visibility: Visibility = Field(default_factory=Visibility)

    @field_validator("display_name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        if not name:
            raise ValueError("display_name must not be blank")
        return name

    @field_validator("sdgs")
    @classmethod
    def _sorted_sdgs(cls, sdgs: list[int]) -> list[int]:
        return sorted(set(sdgs))

    @field_validator("languages", "hubs")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    def as_seen_by_others(self) -> MemberProfile | None:
        """What someone other than the member may see: nothing unless discoverable, and
        the organisation only when the member chose to show it."""
        if not self.visibility.discoverable:
            return None
        if self.visibility.show_organisation:
            return self
        return self.model_copy(update={"organisation": Organisation()})


class BulkProfileLine(MemberProfile):
    """One line of `POST /v1/members/bulk`: a profile with its member id."""

    member_id: Annotated[str, Field(pattern=MEMBER_ID_PATTERN)]

    def profile(self) -> MemberProfile:
        return MemberProfile.model_validate(self.model_dump(exclude={"member_id"}))


class StoredProfile(BaseModel):
    """A profile as the profiles service stores and returns it."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    version: int
    updated_at: AwareDatetime
    profile: MemberProfile
