"""Deterministic synthetic members for the seed command, the demo, tests and benchmarks.

The generator is pure (standard library, pydantic and `nnmatch.profile`, one
`random.Random(seed)` instance, no clock) so the same seed always yields the same community,
byte for byte.

The members are shaped to give matching something real to find: personas create a two-sided
market (mentors and mentees, founders and investors, NGOs holding field data and researchers
who need it), and the free text of offers and seeks reuses the member's domain vocabulary, so
a seeker's text and a complementary offerer's text share words. The community is global south
heavy, like the AI for Good Neural Network and its Young AI Leaders hubs.

The word lists live in `data/*.json` (package data), each validated on import into the typed
tables below, so this module holds the logic and the data can be edited without touching it.
Order in the files matters: the same seed draws the same entries only while it stays.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import accumulate
from typing import TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from nnmatch.profile import (
    BulkProfileLine,
    Intent,
    Kind,
    Organisation,
    OrganisationType,
    Visibility,
)

__all__ = [
    "DOMAINS",
    "REGIONS",
    "Domain",
    "generate_member",
    "generate_members",
    "hub_id",
]

_T = TypeVar("_T")

SHOW_ORGANISATION_RATE = 0.85
DISCOVERABLE_RATE = 0.95

# A misspelt key in a data file fails the import instead of being dropped.
_STRICT_KEYS = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class _Names:
    """First and last names of one naming tradition (`names.json`)."""

    __pydantic_config__ = _STRICT_KEYS

    first: tuple[str, ...]
    last: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Country:
    """Where members live (`countries.json`): which naming traditions and languages are
    plausible there, which cities host Young AI Leaders hubs, which universities they study and
    work at. Weights make the community global south heavy (Africa, Asia and Latin America)."""

    __pydantic_config__ = _STRICT_KEYS

    code: str
    name: str
    region: str
    subregion: str
    weight: float
    pools: tuple[str, ...]  # keys of NAME_POOLS
    languages: tuple[str, ...]  # ISO 639-1, the most widely used first
    cities: tuple[str, ...]  # biggest tech community first
    universities: tuple[str, ...]
    article: bool = False  # "the Philippines"

    @property
    def place(self) -> str:
        """The name as it reads after "in" ("in the Philippines")."""
        return f"the {self.name}" if self.article else self.name


@dataclass(frozen=True, slots=True)
class Domain:
    """One application area, with the SDGs it serves (most characteristic first).

    From `domains.json`: topic tags belong to exactly one domain and drive the member's SDGs;
    methods are shared; problems and data give offers and seeks specific wording."""

    __pydantic_config__ = _STRICT_KEYS

    key: str
    label: str
    weight: float
    sdgs: tuple[int, ...]
    topics: tuple[str, ...]
    methods: tuple[str, ...]
    problems: tuple[str, ...]
    data: tuple[str, ...]
    stakeholders: tuple[str, ...]
    cause: str
    public_bodies: tuple[str, ...]  # "{country}" and "{city}" are filled in
    un_agencies: tuple[str, ...]
    startup_stems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Persona:
    """Who members are (`personas.json`): organisation types, roles, the kinds offered and
    sought (with probabilities; 1.0 means always, so both sides are never empty), how likely
    they are to belong to a Young AI Leaders hub, and persona-specific wording."""

    __pydantic_config__ = _STRICT_KEYS

    key: str
    weight: float
    org_types: tuple[tuple[OrganisationType, float], ...]
    roles: tuple[str, ...]
    offers: tuple[tuple[Kind, float], ...]
    seeks: tuple[tuple[Kind, float], ...]
    skills: tuple[str, ...]
    work_lines: tuple[str, ...]
    hub_rate: float
    years: tuple[int, int] = (2, 6)
    doctor_rate: float = 0.0
    offer_texts: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)
    seek_texts: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Intents:
    """One sentence template per kind for each side (`intents.json`). The slots both sides
    share ({method}, {problem}, {data}, {topic}, {place}) make complementary members read
    alike."""

    __pydantic_config__ = _STRICT_KEYS

    offers: Mapping[Kind, tuple[str, ...]]
    seeks: Mapping[Kind, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Organisations:
    """Organisation names and templates by type (`organisations.json`)."""

    __pydantic_config__ = _STRICT_KEYS

    global_companies: tuple[str, ...]
    company_stems: tuple[str, ...]
    company_suffixes: tuple[str, ...]
    startup_suffixes: tuple[str, ...]
    fund_templates: tuple[str, ...]
    angel_templates: tuple[str, ...]
    ngo_templates: tuple[str, ...]
    independent_names: tuple[str, ...]
    hidden_workplace: Mapping[OrganisationType, str]  # when the organisation is not shown


@dataclass(frozen=True, slots=True)
class _Phrases:
    """Headlines, bio paragraphs and the words that fill their slots (`phrases.json`)."""

    __pydantic_config__ = _STRICT_KEYS

    headlines: tuple[str, ...]
    hub_headlines: tuple[str, ...]
    intros: tuple[str, ...]
    closings: tuple[str, ...]
    hub_closings: tuple[str, ...]
    values: tuple[str, ...]
    general_interests: tuple[str, ...]
    previous_fields: tuple[str, ...]
    ticket_sizes: tuple[str, ...]


def _load(name: str, shape: type[_T]) -> _T:
    """One data file validated into `shape`; a wrong entry fails naming the file and field."""
    text = (resources.files("nnmatch_tools") / "data" / name).read_text(encoding="utf-8")
    try:
        return TypeAdapter(shape).validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"nnmatch_tools/data/{name}: {exc}") from exc


NAME_POOLS: Mapping[str, _Names] = _load("names.json", dict[str, _Names])
COUNTRIES: tuple[_Country, ...] = _load("countries.json", tuple[_Country, ...])
DOMAINS: tuple[Domain, ...] = _load("domains.json", tuple[Domain, ...])
PERSONAS: tuple[_Persona, ...] = _load("personas.json", tuple[_Persona, ...])
_INTENTS: _Intents = _load("intents.json", _Intents)
OFFER_TEMPLATES: Mapping[Kind, tuple[str, ...]] = _INTENTS.offers
SEEK_TEMPLATES: Mapping[Kind, tuple[str, ...]] = _INTENTS.seeks
_ORGANISATIONS: _Organisations = _load("organisations.json", _Organisations)
_PHRASES: _Phrases = _load("phrases.json", _Phrases)

REGIONS: dict[str, str] = {country.code: country.region for country in COUNTRIES}
"""ISO 3166-1 alpha-2 code → UN region, for every country the generator uses."""


def hub_id(city: str) -> str:
    """The Young AI Leaders hub id for a city: `yail-` plus its lower-case ascii slug."""
    ascii_name = unicodedata.normalize("NFKD", city).encode("ascii", "ignore").decode()
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in ascii_name.lower()).split())
    return f"yail-{slug}"


# Precomputed once so that a member costs a handful of `Random` calls, not table scans.
_COUNTRY_CUM = tuple(accumulate(c.weight for c in COUNTRIES))
_DOMAIN_CUM = tuple(accumulate(d.weight for d in DOMAINS))
_PERSONA_CUM = tuple(accumulate(p.weight for p in PERSONAS))
_CITY_CUM: Mapping[str, tuple[float, ...]] = {
    c.code: tuple(accumulate(1.0 / (rank + 1) for rank in range(len(c.cities)))) for c in COUNTRIES
}
_ORG_TYPES: Mapping[str, tuple[tuple[OrganisationType, ...], tuple[float, ...]]] = {
    p.key: (tuple(t for t, _ in p.org_types), tuple(accumulate(w for _, w in p.org_types)))
    for p in PERSONAS
}
_HUB_IDS: Mapping[str, str] = {city: hub_id(city) for c in COUNTRIES for city in c.cities}


class _Draw:
    """Draws built on `Random.random` alone: several times cheaper than `choice`, `choices`,
    `sample` and `randint`, which matters at 55,000 members × ~30 draws."""

    __slots__ = ("_random",)

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random

    def chance(self, probability: float) -> bool:
        return self._random() < probability

    def one(self, items: Sequence[_T]) -> _T:
        return items[int(self._random() * len(items))]

    def weighted(self, items: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        point = self._random() * cum_weights[-1]
        return items[bisect(cum_weights, point, 0, len(items) - 1)]

    def some(self, items: Sequence[_T], count: int) -> list[_T]:
        """`count` distinct items (a partial Fisher–Yates shuffle)."""
        pool = list(items)
        for i in range(count):
            j = i + int(self._random() * (len(pool) - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]

    def between(self, low: int, high: int) -> int:
        return low + int(self._random() * (high - low + 1))


def _pick_kinds(draw: _Draw, table: tuple[tuple[Kind, float], ...]) -> list[Kind]:
    return [kind for kind, rate in table if rate >= 1.0 or draw.chance(rate)]


def _a(phrase: str) -> str:
    """Prefix "a" or "an" by sound: "an AI fellow", "an MSc student", "a PhD candidate"."""
    first = phrase.split()[0]
    acronym = len(first) > 1 and first[1].isupper()
    vowel_sound = first[0] in "aeiouAEIOU" or (acronym and first[0] in "AEFHILMNORSX")
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def _lower_role(role: str) -> str:
    """Lower-case a role for mid-sentence use, keeping acronyms ("MSc", "PhD", "AI")."""
    first = role.split()[0]
    if len(first) > 1 and any(ch.isupper() for ch in first[1:]):
        return role
    return role[0].lower() + role[1:]


def _organisation(
    draw: _Draw,
    org_type: OrganisationType,
    persona: _Persona,
    domain: Domain,
    country: _Country,
    city: str,
) -> str:
    """A plausible organisation name for the member's type, domain and place."""
    fill = {"country": country.name, "city": city, "cause": domain.cause}
    if org_type is OrganisationType.ACADEMIA:
        return draw.one(country.universities)
    if org_type is OrganisationType.STARTUP:
        return draw.one(domain.startup_stems) + draw.one(_ORGANISATIONS.startup_suffixes)
    if org_type is OrganisationType.NGO:
        return draw.one(_ORGANISATIONS.ngo_templates).format_map(fill)
    if org_type is OrganisationType.GOVERNMENT:
        return draw.one(domain.public_bodies).format_map(fill)
    if org_type is OrganisationType.UN:
        return "ITU" if draw.chance(0.2) else draw.one(domain.un_agencies)
    if persona.key == "investor":
        templates = (
            _ORGANISATIONS.fund_templates
            if org_type is OrganisationType.INDUSTRY
            else _ORGANISATIONS.angel_templates
        )
        return draw.one(templates).format(stem=draw.one(_ORGANISATIONS.company_stems), **fill)
    if org_type is OrganisationType.INDUSTRY:
        if draw.chance(0.4):
            return draw.one(_ORGANISATIONS.global_companies)
        return (
            f"{draw.one(_ORGANISATIONS.company_stems)} {draw.one(_ORGANISATIONS.company_suffixes)}"
        )
    return draw.one(_ORGANISATIONS.independent_names)


def _languages(draw: _Draw, country: _Country) -> list[str]:
    """The country's main language, sometimes a second local one, often English or French."""
    languages = [country.languages[0]]
    if len(country.languages) > 1 and draw.chance(0.5):
        languages.append(draw.one(country.languages[1:]))
    if draw.chance(0.8):
        languages.append("en")
    if draw.chance(0.3 if country.region == "Africa" else 0.08):
        languages.append("fr")
    return list(dict.fromkeys(languages))


def _sdgs(draw: _Draw, domain: Domain, second: Domain) -> list[int]:
    """1–3 SDGs: the domain's characteristic goal first, sometimes one from a side interest."""
    count = draw.weighted((1, 2, 3), (0.35, 0.75, 1.0))
    goals = [domain.sdgs[0], *draw.some(domain.sdgs[1:], count - 1)]
    if len(goals) < 3 and draw.chance(0.25):
        goals.append(second.sdgs[0])
    return goals


def _interests(draw: _Draw, domain: Domain, second: Domain, expertise: list[str]) -> list[str]:
    """2–4 interests: a side domain's topics, a method to learn, something general."""
    taken = {tag.casefold() for tag in expertise}
    candidates = [
        *draw.some(second.topics, 2),
        draw.one(domain.methods),
        draw.one(second.methods),
        draw.one(_PHRASES.general_interests),
    ]
    fresh = [tag for tag in dict.fromkeys(candidates) if tag.casefold() not in taken]
    return fresh[: draw.between(2, 4)]


def _intent_text(
    draw: _Draw,
    kinds: list[Kind],
    templates: Mapping[Kind, tuple[str, ...]],
    overrides: Mapping[Kind, tuple[str, ...]],
    slots: Mapping[str, str],
) -> str:
    """One sentence per kind, in the member's own domain vocabulary."""
    sentences = [draw.one(overrides.get(kind) or templates[kind]) for kind in kinds]
    return " ".join(sentence.format_map(slots) + "." for sentence in sentences)


def generate_member(index: int, rng: random.Random, id_prefix: str = "m-") -> BulkProfileLine:
    """One validated synthetic member drawn from `rng`, with id `{id_prefix}{index:05d}`."""
    draw = _Draw(rng)
    persona = draw.weighted(PERSONAS, _PERSONA_CUM)
    domain = draw.weighted(DOMAINS, _DOMAIN_CUM)
    second = draw.weighted(DOMAINS, _DOMAIN_CUM)
    if second is domain:
        second = DOMAINS[(DOMAINS.index(domain) + 1) % len(DOMAINS)]
    country = draw.weighted(COUNTRIES, _COUNTRY_CUM)
    city = draw.weighted(country.cities, _CITY_CUM[country.code])
    names = NAME_POOLS[draw.one(country.pools)]
    title = "Dr. " if draw.chance(persona.doctor_rate) else ""
    display_name = f"{title}{draw.one(names.first)} {draw.one(names.last)}"

    org_type = draw.weighted(*_ORG_TYPES[persona.key])
    org_name = _organisation(draw, org_type, persona, domain, country, city)
    show_organisation = draw.chance(SHOW_ORGANISATION_RATE)

    # Topic tags come only from the member's own domain, so they always agree with the SDGs.
    methods = draw.some(domain.methods, 2)
    topics = draw.some(domain.topics, draw.between(1, 2))
    if persona.key == "investor":
        expertise = [*topics, *draw.some(persona.skills, 2)]
    else:
        skills = [draw.one(persona.skills)] if draw.chance(0.4) else []
        expertise = [*topics, *methods[: draw.between(1, 2)], *skills]
    interests = _interests(draw, domain, second, expertise)
    sdgs = _sdgs(draw, domain, second)
    hub = _HUB_IDS[city] if draw.chance(persona.hub_rate) else None

    role = draw.one(persona.roles)
    slots = {
        "method": methods[0],
        "method2": methods[1],
        "topic": topics[0],
        "topic_title": topics[0][0].upper() + topics[0][1:],
        "problem": draw.one(domain.problems),
        "data": draw.one(domain.data),
        "stakeholders": draw.one(domain.stakeholders),
        "place": country.place if draw.chance(0.5) else country.subregion,
        "city": city,
        "city_country": city if city == country.name else f"{city}, {country.name}",
        "role": role,
        "a_role": _a(_lower_role(role)),
        "workplace": (
            org_name
            if show_organisation and org_name not in _ORGANISATIONS.independent_names
            else _ORGANISATIONS.hidden_workplace[org_type]
        ),
        "years": str(draw.between(*persona.years)),
        "previous_field": draw.one(_PHRASES.previous_fields),
        "ticket": draw.one(_PHRASES.ticket_sizes),
        "value": draw.one(_PHRASES.values),
        "interest": interests[0],
        "interest2": interests[1],
        "sdg": str(sdgs[0]),
    }

    offers = _pick_kinds(draw, persona.offers)
    seeks = _pick_kinds(draw, persona.seeks)
    headlines = _PHRASES.hub_headlines if hub and draw.chance(0.4) else _PHRASES.headlines
    paragraphs = [draw.one(_PHRASES.intros)]
    if draw.chance(0.8):
        paragraphs.append(draw.one(persona.work_lines))
    if draw.chance(0.6):
        paragraphs.append(
            draw.one(_PHRASES.hub_closings if hub and draw.chance(0.6) else _PHRASES.closings)
        )

    return BulkProfileLine(
        member_id=f"{id_prefix}{index:05d}",
        display_name=display_name,
        headline=draw.one(headlines).format_map(slots),
        bio="\n\n".join(paragraph.format_map(slots) for paragraph in paragraphs),
        expertise=expertise,
        interests=interests,
        sdgs=sdgs,
        offers=Intent(
            kinds=offers,
            text=_intent_text(draw, offers, OFFER_TEMPLATES, persona.offer_texts, slots),
        ),
        seeks=Intent(
            kinds=seeks,
            text=_intent_text(draw, seeks, SEEK_TEMPLATES, persona.seek_texts, slots),
        ),
        country=country.code,
        languages=_languages(draw, country),
        organisation=Organisation(name=org_name, type=org_type),
        hubs=[hub] if hub else [],
        visibility=Visibility(
            discoverable=draw.chance(DISCOVERABLE_RATE),
            show_organisation=show_organisation,
        ),
    )


def generate_members(
    count: int, seed: int = 42, id_prefix: str = "m-"
) -> Iterator[BulkProfileLine]:
    """`count` members from one `random.Random(seed)`: same seed, same members, in order.

    The stream is prefix-stable: the first N members of a larger run equal a run of N, so the
    demo's 2,000 members are the first 2,000 of the 55,000-member benchmark.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    for index in range(count):
        yield generate_member(index, rng, id_prefix)
