"""Deterministic hub profiles and projects for the seeded community, drawn from its members.

A hub's profile is what its members are: its country is its city's, its SDGs, topics,
methods, kinds and languages are its members' most common ones, its leaders are three of its
discoverable members. What it seeks is what its members are interested in but do not work on
themselves, so hubs complement each other the way their people do: a hub of remote-sensing
people in one country is what a hub interested in remote sensing elsewhere seeks.

Pure like `seed.py`: one `random.Random` of its own (never the members' stream, so the member
seed stays byte-identical whether or not hubs are made), no clock, no I/O.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nnmatch.hub import HubProfile, HubVisibility, Leader, LeaderRole, ProjectProfile
from nnmatch.profile import BulkProfileLine, Intent, Kind
from nnmatch.reasons import listed
from nnmatch_tools.seed import COUNTRIES, DOMAINS, Domain, hub_id

MIN_MEMBERS = 3
"""A hub needs this many seeded members to get a profile (and three leaders)."""
PROJECT_HUBS = 6
"""The largest hubs each post projects ("a few projects" for the demo and the eval)."""
_ROLES = (LeaderRole.LEADER, LeaderRole.REGIONAL, LeaderRole.IMPACT)
_PROJECT_SEEKS = (Kind.COLLABORATOR, Kind.VOLUNTEER, Kind.MENTOR)

_CITY_COUNTRY = {hub_id(city): (city, c.code) for c in COUNTRIES for city in c.cities}
_TOPIC_DOMAIN = {topic: domain for domain in DOMAINS for topic in domain.topics}
_METHODS = frozenset(method for domain in DOMAINS for method in domain.methods)


@dataclass(frozen=True)
class SeededProject:
    project_id: str
    project: ProjectProfile


@dataclass(frozen=True)
class SeededHub:
    hub_id: str
    hub: HubProfile
    members: tuple[str, ...]
    projects: tuple[SeededProject, ...]


def _top(counts: Counter[str], n: int) -> list[str]:
    """The `n` most common, ties broken by name so the order never depends on dict order."""
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _domain_of(members: Sequence[BulkProfileLine]) -> Domain:
    votes = Counter(
        _TOPIC_DOMAIN[tag].key for m in members for tag in m.expertise if tag in _TOPIC_DOMAIN
    )
    key = _top(votes, 1)[0] if votes else DOMAINS[0].key
    return next(d for d in DOMAINS if d.key == key)


def _hub(hub: str, members: Sequence[BulkProfileLine], rng: random.Random) -> HubProfile:
    city, country = _CITY_COUNTRY[hub]
    domain = _domain_of(members)
    topics = Counter(t for m in members for t in m.expertise if t in _TOPIC_DOMAIN)
    methods = Counter(t for m in members for t in m.expertise if t in _METHODS)
    own = set(topics) | set(methods)
    wanted = Counter(i for m in members for i in m.interests if i not in own)
    offered = Counter(k.value for m in members for k in m.offers.kinds)
    sought = Counter(k.value for m in members for k in m.seeks.kinds)
    languages = Counter(lang for m in members for lang in m.languages)
    sdgs = Counter(str(s) for m in members for s in m.sdgs)
    leaders_from = [m for m in members if m.visibility.discoverable] or list(members)
    chosen = rng.sample(leaders_from, min(len(_ROLES), len(leaders_from)))
    roles = _ROLES[: len(chosen)]
    top_topics = _top(topics, 3) or list(domain.topics[:2])
    top_methods = _top(methods, 2) or list(domain.methods[:1])
    return HubProfile(
        name=f"Young AI Leaders {city}",
        country=country,
        sdgs=sorted(int(s) for s in _top(sdgs, 3)),
        focus=f"AI for {domain.label} in {city}: {listed(top_topics)}.",
        offers=Intent(
            kinds=[Kind(k) for k in _top(offered, 2)],
            text=f"Our members work on {listed(top_topics)} with {listed(top_methods)}.",
        ),
        seeks=Intent(
            kinds=[Kind(k) for k in _top(sought, 2)],
            text=(
                f"Partners in {listed(_top(wanted, 3))}."
                if wanted
                else f"Partners with {domain.data[0]}."
            ),
        ),
        languages=_top(languages, 2) or ["en"],
        leaders=[Leader(member_id=m.member_id, role=r) for m, r in zip(chosen, roles, strict=True)],
        visibility=HubVisibility(discoverable=True),
    )


def _projects(
    hub: HubProfile, members: Sequence[BulkProfileLine], rng: random.Random
) -> tuple[SeededProject, ...]:
    domain = _domain_of(members)
    problems = rng.sample(list(domain.problems), min(2, len(domain.problems)))
    projects = []
    for n, problem in enumerate(problems):
        method = rng.choice(domain.methods)
        data = rng.choice(domain.data)
        partner = rng.choice(domain.stakeholders)
        projects.append(
            SeededProject(
                project_id=f"p-{n + 1}",
                project=ProjectProfile(
                    title=problem[0].upper() + problem[1:],
                    description=f"A {hub.name} project on {problem}, with {partner}.",
                    sdgs=list(domain.sdgs[:2]),
                    seeks=Intent(
                        kinds=[_PROJECT_SEEKS[n % len(_PROJECT_SEEKS)]],
                        text=f"People who know {method} and can work with {data}.",
                    ),
                    languages=hub.languages,
                    open=n == 0 or rng.random() < 0.5,
                ),
            )
        )
    return tuple(projects)


def generate_hubs(members: Iterable[BulkProfileLine], seed: int = 42) -> list[SeededHub]:
    """A profile for every hub with at least `MIN_MEMBERS` members, largest first, and
    projects for the `PROJECT_HUBS` largest. Same members and seed, same hubs."""
    by_hub: dict[str, list[BulkProfileLine]] = {}
    for member in members:
        for hub in member.hubs:
            if hub in _CITY_COUNTRY:
                by_hub.setdefault(hub, []).append(member)
    rng = random.Random(f"hubs-{seed}")
    ranked = sorted(by_hub.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    hubs = []
    for rank, (hub, people) in enumerate(p for p in ranked if len(p[1]) >= MIN_MEMBERS):
        profile = _hub(hub, people, rng)
        projects = _projects(profile, people, rng) if rank < PROJECT_HUBS else ()
        hubs.append(SeededHub(hub, profile, tuple(m.member_id for m in people), projects))
    return hubs
