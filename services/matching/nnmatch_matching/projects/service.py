"""A project's candidates, one page: the book's project, ranked over hub search's catalogue.

Runs where both the hubs role (the projects) and the matcher role (the members) run; the
ranking and the page's reasons run in a worker thread under the catalogue's lock (`HubSearch
.read`), and what the engine holds *now* decides who is shown (a member erased or hidden
since the catalogue's last sync never is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nnmatch.events import MemberCard, Suggestion, VectorKind
from nnmatch_matching.projects.book import OpenProject, ProjectBook
from nnmatch_matching.projects.candidates import CandidateWeights, rank, suggestions
from nnmatch_matching.projects.for_member import (
    HubOf,
    MemberProject,
    member_projects,
    rank_for_member,
)
from nnmatch_matching.search.catalogue import SearchFilters
from nnmatch_matching.search.search import HubSearch, cursor_offset, page_of, search_digest


class ProjectNotFound(LookupError):
    """No such project in this hub (or not yet consumed)."""


class ProjectClosed(Exception):
    """The project is closed: it seeks no one."""


class CandidatesUnavailable(RuntimeError):
    """This process cannot rank members (no matcher role here, or another model)."""


@dataclass(frozen=True)
class CandidatesPage:
    items: list[Suggestion]
    next_cursor: str | None


class ProjectCandidates:
    def __init__(
        self,
        book: ProjectBook,
        search: HubSearch | None,
        weights: CandidateWeights,
        hub_of: HubOf = lambda hub_id: None,
    ) -> None:
        self.book = book
        self._search = search
        self._weights = weights
        self._hub_of = hub_of

    def project(self, hub_id: str, project_id: str) -> OpenProject:
        found = self.book.get(hub_id, project_id)
        if found is not None:
            return found
        if self.book.is_closed(hub_id, project_id):
            raise ProjectClosed(f"project {project_id!r} of hub {hub_id!r} is closed")
        raise ProjectNotFound(f"no project {project_id!r} in hub {hub_id!r}")

    async def page(
        self, hub_id: str, project_id: str, limit: int, cursor: str | None, now: datetime
    ) -> CandidatesPage:
        """One page of the project's candidates, best first (`BadCursor` for a cursor of
        another project or version)."""
        project = self.project(hub_id, project_id)
        search = self._search
        if search is None:
            raise CandidatesUnavailable(
                "project candidates are ranked where the matcher role runs; this process has "
                "no index"
            )
        engine_model = search.engine.model_id
        if engine_model is not None and engine_model != project.model_id:
            raise CandidatesUnavailable(
                f"the index holds vectors of {engine_model}; the project was embedded with "
                f"{project.model_id}"
            )
        digest = search_digest(f"project:{hub_id}/{project_id}@{project.version}", SearchFilters())
        offset = cursor_offset(cursor, digest)
        members = search.engine.members

        def card_of(member_id: str) -> MemberCard | None:
            state = members.get(member_id)
            return state.card if state is not None and state.card.discoverable else None

        found = await search.read(
            lambda catalogue, indexes: rank(
                project.project,
                project.vector,
                catalogue,
                indexes[VectorKind.OFFERS],
                self._weights,
            )
        )
        shown = [c for c in found if card_of(c.member_id) is not None]
        start, end, next_cursor = page_of(len(shown), offset, limit, digest)
        items = suggestions(project.project, hub_id, shown[start:end], card_of, now)
        return CandidatesPage(items, next_cursor)

    async def for_member(self, member_id: str, limit: int) -> list[MemberProject]:
        """The open projects of discoverable hubs that fit the member best, best first; none
        for a member the engine does not hold as discoverable (unknown, hidden or erased).
        Projects embedded with another model than the index's are left out, not mixed."""
        search = self._search
        if search is None:
            raise CandidatesUnavailable(
                "a member's projects are ranked where the matcher role runs; this process has "
                "no index"
            )
        state = search.engine.members.get(member_id)
        if state is None or not state.card.discoverable:
            return []
        card = state.card
        engine_model = search.engine.model_id
        projects = [
            p for p in self.book.open() if engine_model is None or p.model_id == engine_model
        ]
        if not projects:
            return []
        fits = await search.read(
            lambda catalogue, indexes: rank_for_member(
                member_id,
                card,
                projects,
                self._hub_of,
                catalogue,
                indexes[VectorKind.OFFERS],
                self._weights,
            )
        )
        return member_projects(fits, card, limit)
