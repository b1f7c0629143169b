"""The words the pages show for codes: SDGs, kinds, countries, languages, regions, time zones.

Pure data. The APIs stay the judges of what is valid; these lists only label form choices.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

import pycountry

from nnmatch.profile import Kind, OrganisationType

KIND_LABELS: dict[str, str] = {
    Kind.MENTOR: "Mentor",
    Kind.MENTEE: "Mentee",
    Kind.COLLABORATOR: "Collaborator",
    Kind.CO_FOUNDER: "Co-founder",
    Kind.INVESTOR: "Investor",
    Kind.SPEAKER: "Speaker",
    Kind.EMPLOYER: "Employer",
    Kind.JOB_SEEKER: "Job seeker",
    Kind.VOLUNTEER: "Volunteer",
    Kind.PARTNER: "Partner organisation",
}

ORGANISATION_LABELS: dict[str, str] = {
    OrganisationType.ACADEMIA: "Academia",
    OrganisationType.INDUSTRY: "Industry",
    OrganisationType.STARTUP: "Start-up",
    OrganisationType.NGO: "NGO",
    OrganisationType.GOVERNMENT: "Government",
    OrganisationType.UN: "United Nations",
    OrganisationType.OTHER: "Other",
}


CHANNEL_LABELS = {"in_app": "In the app (inbox)", "email": "E-mail", "webhook": "Webhook"}
FREQUENCY_LABELS = {
    "instant": "As they come",
    "daily": "A daily digest",
    "weekly": "A weekly digest",
}

_TZ_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@lru_cache(maxsize=1)
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO 3166-1 alpha-2, name), by name."""
    return tuple(
        sorted(((c.alpha_2, _common_name(c)) for c in pycountry.countries), key=lambda c: c[1])
    )


def _common_name(country: object) -> str:
    return str(getattr(country, "common_name", None) or getattr(country, "name", ""))


@lru_cache(maxsize=512)
def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    return _common_name(country) if country is not None else code


@lru_cache(maxsize=512)
def language_name(code: str) -> str:
    language = pycountry.languages.get(alpha_2=code.lower()) if len(code) == 2 else None
    return str(language.name) if language is not None else code


@lru_cache(maxsize=1)
def time_zones() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """IANA zones grouped by area (Africa, America, ...), plus UTC: the quiet-hours picker."""
    zones = available_timezones()
    groups: list[tuple[str, tuple[str, ...]]] = [("UTC", ("UTC",))]
    for area in _TZ_AREAS:
        names = sorted(z for z in zones if z.startswith(f"{area}/"))
        if names:
            groups.append((area, tuple(names)))
    return tuple(groups)
