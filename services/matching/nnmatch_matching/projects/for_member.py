"""A member's projects: the open projects that fit a member best, and the reasons, as claims
about the project that quote only the project's words.

Pure. The score is the candidates' score (`candidates.combined`) read from the member's side,
so a member's list ranks a project exactly as the project's candidates rank that member: the
projects' vectors stacked into one matrix times the member's offers vector, and per project
its BM25 against the member's words scaled by the project's best BM25 over every eligible
member (one BM25 pass per project, vectorised over members; no per-pair scorer call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nnmatch.events import MemberCard, Reason, ReasonParam
from nnmatch.hub import HubProfile
from nnmatch.profile import SDG_NAMES
from nnmatch.reasons import listed
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.member_matrix import MemberMatrix
from nnmatch_matching.matcher.ranking import LANGUAGE_NAMES
from nnmatch_matching.projects.book import OpenProject
from nnmatch_matching.projects.candidates import (
    CandidateWeights,
    best_sentence,
    clipped_quote,
    combined,
    eligible,
)
from nnmatch_matching.projects.texts import seek_words
from nnmatch_matching.search.catalogue import Catalogue

HubOf = Callable[[str], HubProfile | None]


class MemberProject(BaseModel):
    """One open project suggested to a member (no project page for members yet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hub_id: str
    hub_name: str | None = Field(default=None, description="The hub's name, if known here.")
    project_id: str
    title: str
    score: float = Field(allow_inf_nan=False)
    reasons: list[Reason] = Field(default_factory=list)


@dataclass(frozen=True)
class ProjectFit:
    """One open project for the member, its score and how close its text is to their offer."""

    project: OpenProject
    hub_name: str
    score: float
    dense: float


def visible(projects: Sequence[OpenProject], hub_of: HubOf) -> list[OpenProject]:
    """Projects a member may see: those of a hub this process knows and that is discoverable
    (a project of a hidden or unknown hub is not shown)."""
    out = []
    for project in projects:
        hub = hub_of(project.hub_id)
        if hub is not None and hub.visibility.discoverable:
            out.append(project)
    return out


def rank_for_member(
    member_id: str,
    card: MemberCard,
    projects: Sequence[OpenProject],
    hub_of: HubOf,
    catalogue: Catalogue,
    offers: MemberMatrix,
    weights: CandidateWeights,
) -> list[ProjectFit]:
    """Every visible project ranked for the member, best first (ties by hub, then project id).

    A member who is not an eligible candidate (not discoverable, or without an offers vector
    here) gets none: projects are suggested to exactly the members projects can find."""
    rows, places, matrix = eligible(catalogue, offers)
    row = catalogue.lexical.row(member_id)
    shown = visible(projects, hub_of)
    if row is None or not shown or not card.discoverable or not np.isin(row, rows):
        return []
    mine = matrix[places[row]]
    vectors = np.stack([p.vector for p in shown])
    dense = (vectors @ mine).astype(np.float64)
    lexical = np.zeros(len(shown))
    top = np.zeros(len(shown))
    for i, project in enumerate(shown):  # one BM25 pass per project, over every member
        bm25 = catalogue.lexical.scores(seek_words(project.project))
        if len(bm25):
            lexical[i] = bm25[row]
            top[i] = bm25[rows].max()
    offered = frozenset(card.offers_kinds)
    kinds = np.fromiter(
        (bool(offered & frozenset(p.project.seeks.kinds)) for p in shown), bool, len(shown)
    )
    score = combined(dense, lexical, top, kinds, weights)
    found = [
        ProjectFit(p, _hub_name(hub_of, p.hub_id), round(s, 6), d)
        for p, s, d in zip(shown, score.tolist(), dense.tolist(), strict=True)
    ]
    found.sort(key=lambda f: (-f.score, f.project.hub_id, f.project.project_id))
    return found


def _hub_name(hub_of: HubOf, hub_id: str) -> str:
    hub = hub_of(hub_id)
    return hub.name if hub is not None else ""


def _project_sentence(fit: ProjectFit, wanted: frozenset[str]) -> str:
    """The project's own sentence closest in words to the member's offer."""
    text = " ".join(
        part.strip()
        for part in (fit.project.project.description, fit.project.project.seeks.text)
        if part.strip()
    )
    return best_sentence(text or fit.project.project.title, wanted)


def project_reasons(fit: ProjectFit, card: MemberCard) -> list[Reason]:
    """Why the project fits the member, as claims about the project ("seeks …, which you
    offer") that quote only the project's words (`quote_of: project`), cut at a word."""
    project = fit.project.project
    mine = frozenset(terms(" ".join([card.offers_text, *card.expertise])))
    theirs = frozenset(terms(seek_words(project)))
    shared = sorted(mine & theirs)
    out: list[Reason] = []
    if shared:
        quote = clipped_quote(_project_sentence(fit, mine))
        params: dict[str, ReasonParam] = {
            "words": shared[:5],
            "quote": quote,
            "quote_of": "project",
        }
        out.append(
            Reason(
                kind="project_seeks_your_offer",
                text=f"seeks what you offer: {quote}",
                params=params,
            )
        )
    kinds = [k for k in card.offers_kinds if k in project.seeks.kinds]
    if kinds:
        out.append(
            Reason(
                kind="project_seeks_your_kind",
                text=f"seeks {listed([OFFER_PHRASES[k] for k in kinds])}, which you offer",
                params={"kinds": [str(k) for k in kinds]},
            )
        )
    if not shared and fit.dense > 0 and card.offers_text.strip():
        quote = clipped_quote(_project_sentence(fit, mine))
        out.append(
            Reason(
                kind="project_close_to_your_offer",
                text=f"seeks something close in meaning to what you offer: {quote}",
                params={"quote": quote, "quote_of": "project"},
            )
        )
    sdgs = sorted(set(card.sdgs) & set(project.sdgs))
    if sdgs:
        named = [f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs[:2]]
        out.append(
            Reason(
                kind="project_shared_sdg",
                text=f"works on {listed(named)}, as you do",
                params={"sdgs": sdgs[:2]},
            )
        )
    spoken = [code for code in project.languages if code in card.languages]
    if spoken:
        names = [LANGUAGE_NAMES.get(code, code) for code in spoken[:2]]
        out.append(
            Reason(
                kind="project_shared_language",
                text=f"works in {listed(names)}, which you speak",
                params={"language": spoken[0]},
            )
        )
    if fit.project.hub_id in card.hubs:
        out.append(
            Reason(
                kind="project_of_your_hub",
                text="is a project of your hub",
                params={"hub": fit.project.hub_id},
            )
        )
    return out


def member_projects(
    fits: Sequence[ProjectFit], card: MemberCard, limit: int
) -> list[MemberProject]:
    """The first `limit` fits as the route's items."""
    return [
        MemberProject(
            hub_id=fit.project.hub_id,
            hub_name=fit.hub_name or None,
            project_id=fit.project.project_id,
            title=fit.project.project.title,
            score=round(fit.score, 4),
            reasons=project_reasons(fit, card),
        )
        for fit in fits[:limit]
    ]
