"""What the matching routes are given: the adapters the bootstrap built, in one container.

`MatchingServices` is the one container (`app.state.services`). Each layer's routes read it
through their own view (matcher/, hubs/, search/, projects/ `deps.py`), as a lower layer may
not import the layers above that this module does.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnmatch.publishing import EventPublisher
from nnmatch_matching.hubs.deps import HubServices
from nnmatch_matching.hubs.store import HubStore
from nnmatch_matching.matcher.deps import MatcherServices
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.store import MatchesStore
from nnmatch_matching.projects.deps import ProjectServices
from nnmatch_matching.projects.service import ProjectCandidates
from nnmatch_matching.search.deps import SearchServices
from nnmatch_matching.search.search import HubSearch
from nnmatch_matching.settings import MatchingSettings


@dataclass(frozen=True)
class MatchingServices:
    """Everything the routes use, built once by the bootstrap.

    `engine` and `search` are None where the matcher role does not run (no index here),
    `projects` where the hubs role does not."""

    settings: MatchingSettings
    publisher: EventPublisher
    matches: MatchesStore
    engine: MatchEngine | None
    search: HubSearch | None
    hubs: HubStore
    projects: ProjectCandidates | None = None


# The matcher's routes read this container as a `MatcherServices`: mypy checks that it fits.
_MATCHER_VIEW: type[MatcherServices] = MatchingServices
_HUBS_VIEW: type[HubServices] = MatchingServices
_PROJECTS_VIEW: type[ProjectServices] = MatchingServices
_SEARCH_VIEW: type[SearchServices] = MatchingServices
