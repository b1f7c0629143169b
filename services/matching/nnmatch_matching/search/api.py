"""`POST /v1/search`: hub search over the matcher's index (hub and operator tokens only).

Search is served where the matcher role runs, because that is where every member's vectors
and card are. That process also loads the embedding model for queries (in the background,
from the first step of start-up; a second copy of the model when the embedder role shares the
process). With `NNMATCH_SEARCH_DENSE=false` it loads none and searches lexically only;
without the matcher role the route answers 503.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from nnmatch.access import rate_limited, require_role
from nnmatch.auth import Principal, Role
from nnmatch.events import Suggestion, utc_now
from nnmatch.paging import MAX_LIMIT, BadCursor
from nnmatch.problems import RETRY_AFTER_S, Problem, problem_responses
from nnmatch.profile import HubId, Kind, check_country, check_language
from nnmatch_matching.search.catalogue import REGION_NAMES, SearchFilters
from nnmatch_matching.search.deps import HubSearchDep
from nnmatch_matching.search.search import SearchUnavailable

MAX_QUERY = 500
MAX_FILTER_VALUES = 50


def _region(name: str) -> str:
    if name.casefold() not in REGION_NAMES:
        raise ValueError(f"{name!r} is not a region; use one of {', '.join(REGION_NAMES.values())}")
    return REGION_NAMES[name.casefold()]


class Filters(BaseModel):
    """Within a list any value matches; lists combine with AND (countries and regions are one
    location list). `kinds` are what the member offers."""

    model_config = ConfigDict(extra="forbid")

    countries: list[Annotated[str, AfterValidator(check_country)]] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES
    )
    regions: list[Annotated[str, AfterValidator(_region)]] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES
    )
    sdgs: list[Annotated[int, Field(ge=1, le=17)]] = Field(default_factory=list, max_length=17)
    kinds: list[Kind] = Field(default_factory=list, max_length=len(Kind))
    languages: list[Annotated[str, AfterValidator(check_language)]] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES
    )
    hubs: list[HubId] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)

    def pure(self) -> SearchFilters:
        return SearchFilters(
            countries=frozenset(self.countries),
            regions=frozenset(self.regions),
            sdgs=frozenset(self.sdgs),
            kinds=frozenset(self.kinds),
            languages=frozenset(self.languages),
            hubs=frozenset(self.hubs),
        )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY, description="Free text.")
    filters: Filters = Field(default_factory=Filters)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("query must not be blank")
        return query.strip()


class SearchResults(BaseModel):
    items: list[Suggestion]
    next_cursor: str | None


router = APIRouter(
    prefix="/v1",
    tags=["search"],
    responses=problem_responses(401, 403, 422, 429, 503),
)


@router.post(
    "/search",
    response_model=SearchResults,
    responses=problem_responses(400),
    dependencies=[require_role(Role.HUB, Role.OPERATOR)],
)
async def search(
    body: SearchRequest,
    principal: Annotated[Principal, rate_limited("search")],
    hub_search: HubSearchDep,
) -> SearchResults:
    """Members ranked for free text and filters, with reasons; discoverable members only."""
    try:
        page = await hub_search.search(
            body.query,
            body.filters.pure(),
            body.limit,
            body.cursor,
            utc_now(),
            hub=principal.hub if principal.role is Role.HUB else None,
        )
    except BadCursor as exc:
        raise Problem(400, "Bad request", str(exc)) from exc
    except SearchUnavailable as exc:
        raise Problem(
            503, "Service unavailable", str(exc), headers={"Retry-After": RETRY_AFTER_S}
        ) from exc
    return SearchResults(items=page.items, next_cursor=page.next_cursor)
