"""Hub search over the real broker and Redis: profiles embedded by the real model, indexed by the
matcher, searched through `POST /v1/search` with hub, operator and member tokens."""

from __future__ import annotations

from typing import Any

import pytest

from nnmatch.events import ProfileUpserted, encode_event
from nnmatch.profile import BulkProfileLine, Visibility
from nnmatch.regions import region_of
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings
from nnmatch_tools.seed import REGIONS, generate_members
from tests.support import Namespace, as_hub, as_member, eventually, produce_raw, serving

pytestmark = pytest.mark.integration

HUB = "yail-nairobi"


def _community() -> list[BulkProfileLine]:
    members = list(generate_members(40, seed=7, id_prefix="s-"))
    # Two hidden members who would otherwise answer the searches below.
    for i in (0, 1):
        members[i] = members[i].model_copy(
            update={
                "sdgs": [13],
                "offers": members[i].offers.model_copy(
                    update={"text": "Mentoring on computer vision for crop disease and climate"}
                ),
                "visibility": Visibility(discoverable=False),
            }
        )
    return members


async def _index(namespace: Namespace, members: list[BulkProfileLine]) -> None:
    await ensure_topics(namespace.kafka())
    await produce_raw(
        namespace,
        "profiles.v1",
        [
            (
                m.member_id.encode(),
                encode_event(
                    ProfileUpserted(
                        producer="tests", member_id=m.member_id, version=1, profile=m.profile()
                    )
                ),
            )
            for m in members
        ],
    )


async def test_hub_search_filters_hold_and_hidden_members_never_appear(
    namespace: Namespace,
) -> None:
    members = _community()
    by_id = {m.member_id: m for m in members}
    hidden = {m.member_id for m in members if not m.visibility.discoverable}
    await _index(namespace, members)
    app = build_app(MatchingSettings(**namespace.settings(search_sync_interval_s=0.0)))

    async with serving(app, headers=as_hub(HUB)) as client:

        async def indexed() -> bool:
            return len(app.state.services.engine) == len(members)

        await eventually(indexed, timeout=120)

        async def search(body: dict[str, Any], **kwargs: Any) -> Any:
            return await client.post("/v1/search", json=body, **kwargs)

        climate = await search(
            {"query": "computer vision for crop disease", "filters": {"sdgs": [13]}, "limit": 100}
        )
        assert climate.status_code == 200, climate.text
        found = [item["member_id"] for item in climate.json()["items"]]
        assert found
        assert all(13 in by_id[m].sdgs for m in found)
        assert not hidden & set(found)
        assert all(
            any(r["text"] == "works on SDG 13 (Climate action)" for r in item["reasons"])
            for item in climate.json()["items"]
        )

        everyone: list[str] = []
        cursor = None
        while True:
            page = await search({"query": "AI data research", "limit": 7, "cursor": cursor})
            assert page.status_code == 200, page.text
            everyone += [item["member_id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert len(everyone) == len(set(everyone)) > 7
        assert not hidden & set(everyone)

        africa = await search({"query": "mentoring", "filters": {"regions": ["africa"]}})
        assert africa.status_code == 200
        assert africa.json()["items"]
        assert all(
            REGIONS[by_id[i["member_id"]].country] == "Africa" for i in africa.json()["items"]
        )

        member = await search({"query": "computer vision"}, headers=as_member("s-00003"))
        assert member.status_code == 403
        anonymous = await search({"query": "computer vision"}, headers={"authorization": ""})
        assert anonymous.status_code == 401

        for bad in ({"sdgs": [18]}, {"regions": ["Atlantis"]}, {"countries": ["XX"]}):
            refused = await search({"query": "computer vision", "filters": bad})
            assert refused.status_code == 422, bad
            assert refused.headers["content-type"] == "application/problem+json"

        first = await search({"query": "AI data research", "limit": 2})
        other = await search(
            {"query": "computer vision", "limit": 2, "cursor": first.json()["next_cursor"]}
        )
        assert other.status_code == 400


OUTSIDE_THE_SEED = {"DZ": "Africa", "SD": "Africa", "MZ": "Africa", "AT": "Europe", "BE": "Europe"}


async def test_the_region_filter_finds_members_from_countries_the_seed_never_uses(
    namespace: Namespace,
) -> None:
    """Regions are M49's for every country: members in DZ, SD, MZ, AT and BE are in them."""
    members = list(generate_members(30, seed=11, id_prefix="r-"))
    moved = {f"r-{country.lower()}": country for country in OUTSIDE_THE_SEED}
    members += [
        members[i].model_copy(
            update={
                "member_id": member_id,
                "country": country,
                "offers": members[i].offers.model_copy(
                    update={"text": "Mentoring on computer vision for crop disease and climate"}
                ),
                "visibility": Visibility(discoverable=True),
            }
        )
        for i, (member_id, country) in enumerate(moved.items())
    ]
    await _index(namespace, members)
    app = build_app(MatchingSettings(**namespace.settings(search_sync_interval_s=0.0)))

    async with serving(app, headers=as_hub(HUB)) as client:

        async def indexed() -> bool:
            return len(app.state.services.engine) == len(members)

        await eventually(indexed, timeout=120)
        found: dict[str, list[str]] = {}
        for region in ("Africa", "Europe"):
            answer = await client.post(
                "/v1/search",
                json={
                    "query": "computer vision for crop disease",
                    "filters": {"regions": [region.lower()]},
                    "limit": 100,
                },
            )
            assert answer.status_code == 200, answer.text
            found[region] = [item["member_id"] for item in answer.json()["items"]]

    country = {m.member_id: m.country for m in members}
    for region in ("Africa", "Europe"):
        assert {m for m, c in moved.items() if OUTSIDE_THE_SEED[c] == region} <= set(
            found[region]
        ), region
        assert {region_of(country[m]) for m in found[region]} == {region}
