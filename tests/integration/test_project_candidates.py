"""A project's candidates on the real broker, Redis and model: a hub posts a project through the
profiles API and sees over HTTP the member whose offer fits it first, with a reason quoting
that member's words; another hub's project, an unknown one and a closed one are refused; an
erased member leaves the candidates. And the hubs role's projects.v1 consumer dead-letters
bad records once while the good ones flow."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import PROJECTS_GROUP
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.settings import MatchingSettings
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from tests.integration.test_malformed_records import (
    EXAMPLES,
    POISON_KEY,
    Bad,
    _json,
    assert_dead_lettered_once,
    committed,
    dead_letters,
    write,
)
from tests.support import Namespace, as_hub, as_member, eventually, serving

pytestmark = pytest.mark.integration

NAIROBI, LISBON = "yail-nairobi", "yail-lisbon"


def _member(name: str, offer: str, expertise: list[str], **more: Any) -> dict[str, Any]:
    return {
        "display_name": name,
        "headline": f"{expertise[0].capitalize()} specialist",
        "expertise": expertise,
        "interests": ["community"],
        "sdgs": [13],
        "offers": {"kinds": ["volunteer"], "text": offer},
        "seeks": {"kinds": ["collaborator"], "text": "People to build with"},
        "country": "GH",
        "languages": ["en", "sw"],
        "hubs": [NAIROBI],
    } | more


MEMBERS = {
    "sensing": _member(
        "Ama",
        "Remote sensing of drought from Sentinel-2 satellite imagery, with weekly maps for "
        "county officers",
        ["remote sensing"],
    ),
    "baker": _member(
        "Bo",
        "Sourdough baking classes and bakery business plans",
        ["baking"],
        offers={"kinds": ["mentor"], "text": "Sourdough baking classes and bakery business plans"},
        sdgs=[8],
        languages=["pt"],
    ),
    "hidden": _member(
        "Cy",
        "Remote sensing of drought from Sentinel-2 satellite imagery",
        ["remote sensing"],
        visibility={"discoverable": False, "show_organisation": False},
    ),
}


def _hub(name: str, country: str) -> dict[str, Any]:
    return {
        "name": name,
        "country": country,
        "sdgs": [13],
        "focus": f"{name}: AI for climate",
        "languages": ["en"],
    }


DROUGHT = {
    "title": "Drought watch for Turkana",
    "description": "An early-warning map of drought from satellite imagery.",
    "sdgs": [13],
    "seeks": {"kinds": ["volunteer"], "text": "Remote sensing of drought with Sentinel-2"},
    "languages": ["en", "sw"],
    "open": True,
}


def _path(hub: str, project: str) -> str:
    return f"/v1/hubs/{hub}/projects/{project}/candidates"


async def _ids(client: httpx.AsyncClient, hub: str, project: str) -> list[str] | None:
    response = await client.get(_path(hub, project), headers=as_hub(hub))
    if response.status_code != 200:
        return None
    return [item["member_id"] for item in response.json()["items"]]


async def test_a_hub_sees_the_fitting_member_first_and_only_its_own_open_projects(
    namespace: Namespace,
) -> None:
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    matching = build_matching(
        MatchingSettings(
            **namespace.settings(
                roles=["embedder", "matcher", "hubs"],
                search_dense=False,  # candidates use the hubs role's model: no query model
                search_sync_interval_s=0.0,
            )
        )
    )
    async with serving(profiles) as p, serving(matching) as m:
        for member_id, body in MEMBERS.items():
            stored = await p.put(f"/v1/members/{member_id}", json=body)
            assert stored.status_code == 201, stored.text
        for hub_id, body in ((NAIROBI, _hub("YAIL Nairobi", "KE")), (LISBON, _hub("Lisbon", "PT"))):
            assert (await p.put(f"/v1/hubs/{hub_id}", json=body)).status_code == 201
        closed = DROUGHT | {"title": "Drought watch, last year", "open": False}
        for hub_id, project_id, body in (
            (NAIROBI, "drought", DROUGHT),
            (NAIROBI, "old-drought", closed),
            (LISBON, "lisbon-only", DROUGHT),
        ):
            posted = await p.put(f"/v1/hubs/{hub_id}/projects/{project_id}", json=body)
            assert posted.status_code == 201, posted.text

        async def both_ranked() -> list[str] | None:
            ids = await _ids(m, NAIROBI, "drought")
            return ids if ids is not None and len(ids) == 2 else None

        assert await eventually(both_ranked, timeout=180) == ["sensing", "baker"]
        page = (await m.get(_path(NAIROBI, "drought"), headers=as_hub(NAIROBI))).json()
        first = page["items"][0]
        assert (page["hub_id"], page["project_id"], page["next_cursor"]) == (
            NAIROBI,
            "drought",
            None,
        )
        texts = {r["kind"]: r["text"] for r in first["reasons"]}
        assert texts["offer_meets_project_seek"] == (
            "offers “Remote sensing of drought from Sentinel-2 satellite imagery, with weekly "
            "maps…”, which this project seeks"
        )
        assert texts["shared_sdg"] == "works on SDG 13 (Climate action), as this project does"
        assert "shared_language" in texts
        assert first["display_name"] == "Ama"
        assert first["score"] > page["items"][1]["score"]
        one = await m.get(_path(NAIROBI, "drought"), params={"limit": 1}, headers=as_hub(NAIROBI))
        rest = await m.get(
            _path(NAIROBI, "drought"),
            params={"cursor": one.json()["next_cursor"]},
            headers=as_hub(NAIROBI),
        )
        assert [i["member_id"] for i in rest.json()["items"]] == ["baker"]

        # The operator may read any hub's; another hub, a member: 403 from the token alone.
        assert (await m.get(_path(NAIROBI, "drought"))).status_code == 200
        foreign = await m.get(_path(LISBON, "lisbon-only"), headers=as_hub(NAIROBI))
        member = await m.get(_path(NAIROBI, "drought"), headers=as_member("sensing"))
        assert (foreign.status_code, member.status_code) == (403, 403)
        # Another hub's project id under one's own hub, and one that exists nowhere: 404.
        for project_id in ("lisbon-only", "nowhere"):
            missing = await m.get(_path(NAIROBI, project_id), headers=as_hub(NAIROBI))
            assert missing.status_code == 404, missing.text
            assert missing.json()["title"] == "Not found"

        # The closed project's record may be read after the open one's (another partition).
        async def closed_refused() -> httpx.Response | None:
            response = await m.get(_path(NAIROBI, "old-drought"), headers=as_hub(NAIROBI))
            return response if response.status_code == 409 else None

        refused = await eventually(closed_refused, timeout=60)
        assert "closed" in refused.json()["detail"]

        # Closing the project takes it out; erasing a member takes them out of the candidates.
        assert (await p.delete("/v1/members/sensing")).status_code == 202

        async def erased_gone() -> list[str] | None:
            ids = await _ids(m, NAIROBI, "drought")
            return ids if ids == ["baker"] else None

        assert await eventually(erased_gone, timeout=60) == ["baker"]
        reclosed = await p.put(f"/v1/hubs/{NAIROBI}/projects/drought", json=closed)
        assert reclosed.status_code == 200, reclosed.text

        async def now_closed() -> int | None:
            response = await m.get(_path(NAIROBI, "drought"), headers=as_hub(NAIROBI))
            return response.status_code if response.status_code == 409 else None

        assert await eventually(now_closed, timeout=60) == 409


def _project_bads(template: dict[str, Any]) -> list[Bad]:
    """The kinds of bad record projects.v1 may see (as test_hub_partners.py for hubs.v1)."""
    without_project = {k: v for k, v in template.items() if k != "project_id"}
    foreign = json.loads((EXAMPLES / "profiles.v1/1/ProfileUpserted.json").read_text())
    return [
        Bad("bad JSON", POISON_KEY, b'{"type": "ProjectUpserted", "hub_id": ', "not JSON"),
        Bad(
            "unknown schema_version",
            POISON_KEY,
            _json({**template, "schema_version": 99}),
            "unsupported schema_version 99 for ProjectUpserted",
        ),
        Bad("another topic's event", POISON_KEY, _json(foreign), "unexpected event type"),
        Bad(
            "missing required field",
            POISON_KEY,
            _json(without_project),
            "invalid ProjectUpserted: project_id: Field required",
        ),
        Bad(
            "key is not the hub and project",
            b"p-template",
            _json(template),
            "is not the event's 'hub-a/p-template'",
        ),
    ]


async def test_projects_v1_bad_records_reach_the_dlq_once_and_the_projects_flow(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    template = json.loads((EXAMPLES / "projects.v1/1/ProjectUpserted.json").read_text())
    template |= {"hub_id": "hub-a", "project_id": "p-template"}

    def good(project_id: str) -> bytes:
        return _json(template | {"project_id": project_id})

    bads = _project_bads(template)
    written = await write(
        namespace,
        "projects.v1",
        [(b"hub-a/p-1", good("p-1"))]
        + [(b.key, b.value) for b in bads]
        + [(b"hub-a/p-2", good("p-2"))],
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))
    app = build_matching(MatchingSettings(**namespace.settings(roles=["hubs"])))
    async with serving(app):
        book = app.state.services.projects.book

        async def both_kept() -> bool:
            return book.get("hub-a", "p-1") is not None and book.get("hub-a", "p-2") is not None

        await eventually(both_kept, timeout=120)
        letters = await dead_letters(namespace, "projects.v1", len(bads))

        async def caught_up() -> bool:
            return await committed(namespace, PROJECTS_GROUP, "projects.v1") == end

        await eventually(caught_up, timeout=30)
    assert book.get("hub-a", "p-template") is None, "a record under another key was applied"
    assert_dead_lettered_once(
        letters, namespace, "projects.v1", PROJECTS_GROUP, "matching", poisoned
    )
