"""Hub profiles and projects over the real broker and Redis: what reaches `hubs.v1` and
`projects.v1`, who sees what, and a hub leader's erasure that leaves the hub standing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from nnmatch.events import (
    HubDeleted,
    HubUpserted,
    ProfileDeleted,
    ProjectDeleted,
    ProjectUpserted,
    decode_event,
)
from nnmatch_profiles.bootstrap import build_app
from nnmatch_profiles.settings import ProfilesSettings
from tests.support import (
    AMINA,
    DROUGHT_PROJECT,
    KOFI,
    NAIROBI_HUB,
    Namespace,
    as_hub,
    as_member,
    read_topic,
    redis_mentions,
    serving,
)

pytestmark = pytest.mark.integration

LEADERS = [
    {"member_id": "amina-lead", "role": "leader"},
    {"member_id": "kofi-lead", "role": "regional"},
    {"member_id": "amina-lead", "role": "impact"},
]


def _app(namespace: Namespace) -> FastAPI:
    return build_app(ProfilesSettings(**namespace.settings()))


async def test_a_hub_writes_its_profile_and_projects_onto_their_compacted_topics(
    namespace: Namespace,
) -> None:
    hub = as_hub("yail-nairobi")
    async with serving(_app(namespace), headers=hub) as client:
        created = await client.put("/v1/hubs/yail-nairobi", json=NAIROBI_HUB)
        replaced = await client.put(
            "/v1/hubs/yail-nairobi", json=NAIROBI_HUB | {"focus": "Drought early warning"}
        )
        posted = await client.put("/v1/hubs/yail-nairobi/projects/drought", json=DROUGHT_PROJECT)
        fetched = await client.get("/v1/hubs/yail-nairobi")
        invalid = await client.put(
            "/v1/hubs/yail-nairobi", json=NAIROBI_HUB | {"leaders": [{"member_id": "x"}]}
        )
        orphan = await client.put("/v1/hubs/yail-nairobi/projects/bad%20id", json=DROUGHT_PROJECT)

    assert created.status_code == 201, created.text
    assert (replaced.status_code, replaced.json()["version"]) == (200, 2)
    assert posted.status_code == 201, posted.text
    assert posted.json()["project"]["seeks"]["kinds"] == ["volunteer"]
    assert fetched.json()["hub"]["focus"] == "Drought early warning"
    assert fetched.json()["region"] == "Africa"
    assert invalid.status_code == 422
    assert "leaders" in {e["field"].split(".")[0] for e in invalid.json()["errors"]}
    assert orphan.status_code == 422
    hubs = await read_topic(namespace, "hubs.v1", count=2)
    assert [r.key for r in hubs] == [b"yail-nairobi"] * 2
    assert [decode_event(r.value, (HubUpserted,)).version for r in hubs] == [1, 2]
    [project] = await read_topic(namespace, "projects.v1", count=1)
    assert project.key == b"yail-nairobi/drought"
    event = decode_event(project.value, (ProjectUpserted,))
    assert (event.hub_id, event.project_id, event.project.title) == (
        "yail-nairobi",
        "drought",
        "Drought watch for Turkana",
    )


async def test_a_project_needs_its_hub_first(namespace: Namespace) -> None:
    async with serving(_app(namespace), headers=as_hub("new-hub")) as client:
        early = await client.put("/v1/hubs/new-hub/projects/p-1", json=DROUGHT_PROJECT)
        await client.put("/v1/hubs/new-hub", json=NAIROBI_HUB)
        later = await client.put("/v1/hubs/new-hub/projects/p-1", json=DROUGHT_PROJECT)

    assert early.status_code == 404
    assert "create the hub" in early.json()["detail"]
    assert later.status_code == 201


async def test_a_member_sees_discoverable_hubs_and_open_projects_only(
    namespace: Namespace,
) -> None:
    hidden = NAIROBI_HUB | {"visibility": {"discoverable": False}}
    async with serving(_app(namespace)) as operator:
        for hub_id, body in (("shown", NAIROBI_HUB), ("hidden", hidden)):
            assert (await operator.put(f"/v1/hubs/{hub_id}", json=body)).status_code == 201
        for hub_id, project_id, is_open in (
            ("shown", "open", True),
            ("shown", "closed", False),
            ("hidden", "open", True),
        ):
            put = await operator.put(
                f"/v1/hubs/{hub_id}/projects/{project_id}",
                json=DROUGHT_PROJECT | {"open": is_open},
            )
            assert put.status_code == 201, put.text
        member = as_member("reader-1")
        seen = {
            path: (await operator.get(path, headers=member)).status_code
            for path in (
                "/v1/hubs/shown",
                "/v1/hubs/hidden",
                "/v1/hubs/absent",
                "/v1/hubs/shown/projects/open",
                "/v1/hubs/shown/projects/closed",
                "/v1/hubs/hidden/projects/open",
                "/v1/hubs/shown/projects/absent",
                "/v1/hubs/hidden/projects",
            )
        }
        listed = (await operator.get("/v1/hubs/shown/projects", headers=member)).json()
        listed_by_operator = (await operator.get("/v1/hubs/shown/projects")).json()
        hidden_body = (await operator.get("/v1/hubs/hidden", headers=member)).json()
        absent_body = (await operator.get("/v1/hubs/absent", headers=member)).json()

    assert seen == {
        "/v1/hubs/shown": 200,
        "/v1/hubs/hidden": 404,
        "/v1/hubs/absent": 404,
        "/v1/hubs/shown/projects/open": 200,
        "/v1/hubs/shown/projects/closed": 404,
        "/v1/hubs/hidden/projects/open": 404,
        "/v1/hubs/shown/projects/absent": 404,
        "/v1/hubs/hidden/projects": 404,
    }
    assert [p["project_id"] for p in listed["items"]] == ["open"]
    assert [p["project_id"] for p in listed_by_operator["items"]] == ["closed", "open"]
    assert hidden_body["title"] == absent_body["title"]
    assert hidden_body["detail"].replace("hidden", "?") == absent_body["detail"].replace(
        "absent", "?"
    )


async def test_erasing_a_hub_leader_takes_them_off_the_hub_and_the_hub_survives(
    namespace: Namespace,
) -> None:
    async with serving(_app(namespace)) as operator:
        for member_id, body in (("amina-lead", AMINA), ("kofi-lead", KOFI)):
            assert (await operator.put(f"/v1/members/{member_id}", json=body)).status_code == 201
        hub = await operator.put("/v1/hubs/yail-nairobi", json=NAIROBI_HUB | {"leaders": LEADERS})
        assert hub.status_code == 201, hub.text
        other = await operator.put("/v1/hubs/yail-accra", json=NAIROBI_HUB | {"leaders": []})
        assert other.status_code == 201

        erased = await operator.delete("/v1/members/amina-lead", headers=as_member("amina-lead"))
        after = await operator.get("/v1/hubs/yail-nairobi")
        untouched = await operator.get("/v1/hubs/yail-accra")
        again = await operator.delete("/v1/members/amina-lead")

    assert erased.status_code == 202
    assert after.status_code == 200
    assert after.json()["hub"]["leaders"] == [{"member_id": "kofi-lead", "role": "regional"}]
    assert after.json()["version"] == 2
    assert untouched.json()["version"] == 1
    assert again.status_code == 404
    hubs = await read_topic(namespace, "hubs.v1", count=3)
    latest = [decode_event(r.value, (HubUpserted,)) for r in hubs if r.key == b"yail-nairobi"]
    assert [e.version for e in latest] == [1, 2]
    assert not latest[-1].hub.led_by("amina-lead")
    profiles = await read_topic(namespace, "profiles.v1", count=4)
    deletion = [r for r in profiles if r.key == b"amina-lead"][1]
    assert isinstance(decode_event(deletion.value, (ProfileDeleted,)), ProfileDeleted)
    # The hub lost its leader before the member's deletion was published.
    assert hubs[-1].timestamp <= deletion.timestamp
    # Nothing in the profiles service's Redis names her any more, but the audit trail.
    mentions = await redis_mentions(
        namespace.stack.redis.address, namespace.redis_prefix, "amina-lead"
    )
    assert [m for m in mentions if not m.endswith("audit:log")] == []


async def test_deleting_a_hub_deletes_its_projects_with_tombstones(namespace: Namespace) -> None:
    async with serving(_app(namespace), headers=as_hub("gone-hub")) as client:
        await client.put("/v1/hubs/gone-hub", json=NAIROBI_HUB)
        await client.put("/v1/hubs/gone-hub/projects/p-1", json=DROUGHT_PROJECT)
        deleted = await client.delete("/v1/hubs/gone-hub")
        hub = await client.get("/v1/hubs/gone-hub")
        project = await client.get("/v1/hubs/gone-hub/projects/p-1")
        again = await client.delete("/v1/hubs/gone-hub")

    assert deleted.status_code == 202
    assert (hub.status_code, project.status_code, again.status_code) == (404, 404, 404)
    hubs = await read_topic(namespace, "hubs.v1", count=3)
    assert isinstance(decode_event(hubs[1].value, (HubDeleted,)), HubDeleted)
    assert hubs[2].value is None
    projects = await read_topic(namespace, "projects.v1", count=3)
    assert [r.key for r in projects] == [b"gone-hub/p-1"] * 3
    assert isinstance(decode_event(projects[1].value, (ProjectDeleted,)), ProjectDeleted)
    assert projects[2].value is None
