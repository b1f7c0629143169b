"""A member's projects on the real broker, Redis and model: hubs post projects through the
profiles API, and a member whose offer fits one sees it first over HTTP, with a reason that
quotes the project's words and says it is a project of their hub; a project of a hidden hub is
never listed, a closed one leaves, and only the member themself (or an operator) may read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.settings import MatchingSettings
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from tests.integration.test_project_candidates import DROUGHT, MEMBERS, NAIROBI, _hub
from tests.support import Namespace, as_hub, as_member, as_operator, eventually, serving

pytestmark = pytest.mark.integration

BAKERY_HUB, HIDDEN_HUB = "yail-porto", "yail-hidden"
DROUGHT_SEEKS = "Remote sensing of drought with Sentinel-2"
BAKERY = {
    "title": "Bakery school for young women",
    "description": "A training bakery that teaches a trade and runs as a business.",
    "sdgs": [8],
    "seeks": {"kinds": ["mentor"], "text": "Sourdough baking and bakery business plans"},
    "languages": ["pt"],
    "open": True,
}


def _path(member_id: str) -> str:
    return f"/v1/members/{member_id}/projects"


async def _projects(client: httpx.AsyncClient, member_id: str) -> list[dict[str, Any]] | None:
    response = await client.get(_path(member_id), headers=as_member(member_id))
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_member_sees_the_project_that_fits_first_and_only_open_visible_ones(
    namespace: Namespace,
) -> None:
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    matching = build_matching(
        MatchingSettings(
            **namespace.settings(
                roles=["embedder", "matcher", "hubs"],
                search_dense=False,  # projects use the hubs role's model: no query model
                search_sync_interval_s=0.0,
            )
        )
    )
    async with serving(profiles) as p, serving(matching) as m:
        for member_id, body in MEMBERS.items():
            stored = await p.put(f"/v1/members/{member_id}", json=body)
            assert stored.status_code == 201, stored.text
        hidden = _hub("Hidden", "KE") | {"visibility": {"discoverable": False}}
        for hub_id, body in (
            (NAIROBI, _hub("YAIL Nairobi", "KE")),
            (BAKERY_HUB, _hub("YAIL Porto", "PT")),
            (HIDDEN_HUB, hidden),
        ):
            assert (await p.put(f"/v1/hubs/{hub_id}", json=body)).status_code == 201
        for hub_id, project_id, body in (
            (NAIROBI, "drought", DROUGHT),
            (BAKERY_HUB, "bakery", BAKERY),
            (HIDDEN_HUB, "secret-drought", DROUGHT),
        ):
            posted = await p.put(f"/v1/hubs/{hub_id}/projects/{project_id}", json=body)
            assert posted.status_code == 201, posted.text

        async def both_listed() -> list[str] | None:
            items = await _projects(m, "sensing")
            ids = [i["project_id"] for i in items or []]
            return ids if len(ids) == 2 else None

        assert await eventually(both_listed, timeout=180) == ["drought", "bakery"]
        first = (await _projects(m, "sensing") or [])[0]
        assert (first["hub_id"], first["hub_name"], first["title"]) == (
            NAIROBI,
            "YAIL Nairobi",
            "Drought watch for Turkana",
        )
        reasons = {r["kind"]: r for r in first["reasons"]}
        seeks = reasons["project_seeks_your_offer"]
        assert seeks["params"]["quote_of"] == "project"
        sentences = ("An early-warning map of drought from satellite imagery", DROUGHT_SEEKS)
        assert seeks["params"]["quote"] in sentences  # the project's own words
        assert seeks["text"] == f"seeks what you offer: {seeks['params']['quote']}"
        assert reasons["project_of_your_hub"]["text"] == "is a project of your hub"
        assert (
            reasons["project_shared_sdg"]["text"] == "works on SDG 13 (Climate action), as you do"
        )
        baker = await _projects(m, "baker")
        assert [i["project_id"] for i in baker or []] == ["bakery", "drought"]
        one = await m.get(_path("sensing"), params={"limit": 1}, headers=as_member("sensing"))
        assert [i["project_id"] for i in one.json()["items"]] == ["drought"]

        # Only the member themself, or an operator: another member or a hub gets 403.
        other = await m.get(_path("sensing"), headers=as_member("baker"))
        hub = await m.get(_path("sensing"), headers=as_hub(NAIROBI))
        operator = await m.get(_path("sensing"), headers=as_operator())
        assert (other.status_code, hub.status_code, operator.status_code) == (403, 403, 200)
        # A member who is not discoverable, or unknown: an empty list, not an error.
        assert await _projects(m, "hidden") == []
        assert await _projects(m, "nobody-here") == []

        # A closed project leaves the member's list.
        closed = DROUGHT | {"open": False}
        reclosed = await p.put(f"/v1/hubs/{NAIROBI}/projects/drought", json=closed)
        assert reclosed.status_code == 200, reclosed.text

        async def drought_gone() -> list[str] | None:
            ids = [i["project_id"] for i in await _projects(m, "sensing") or []]
            return ids if ids == ["bakery"] else None

        assert await eventually(drought_gone, timeout=60) == ["bakery"]


async def test_where_the_hubs_role_does_not_run_the_route_says_503(namespace: Namespace) -> None:
    matching = build_matching(MatchingSettings(**namespace.settings(roles=[])))
    async with serving(matching) as m:
        response = await m.get(_path("sensing"), headers=as_member("sensing"))
        refused = await m.get(_path("sensing"), headers=as_member("baker"))

    assert response.status_code == 503
    assert "hubs role" in response.json()["detail"]
    assert refused.status_code == 403
