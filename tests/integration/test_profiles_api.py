"""The profiles API over the real broker and Redis: 2xx only once Kafka has the record."""

from __future__ import annotations

import json

import httpx
import pytest
from asgi_lifespan import LifespanManager

from nnmatch.events import ProfileDeleted, ProfileUpserted, decode_event
from nnmatch_profiles.bootstrap import build_app
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools.ports import free_port
from tests.support import AMINA, KOFI, Namespace, as_operator, read_topic, serving

pytestmark = pytest.mark.integration


def _app(namespace: Namespace) -> object:
    return build_app(ProfilesSettings(**namespace.settings()))


async def test_put_answers_after_kafka_has_the_profile_and_versions_each_write(
    namespace: Namespace,
) -> None:
    async with serving(_app(namespace)) as client:  # type: ignore[arg-type]
        created = await client.put("/v1/members/amina-1", json=AMINA)
        replaced = await client.put("/v1/members/amina-1", json={**AMINA, "headline": "New"})
        fetched = await client.get("/v1/members/amina-1")

    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert replaced.status_code == 200
    assert replaced.json()["version"] == 2
    assert fetched.json()["profile"]["headline"] == "New"
    records = await read_topic(namespace, "profiles.v1", count=2)
    events = [decode_event(r.value, (ProfileUpserted,)) for r in records]
    assert [r.key for r in records] == [b"amina-1", b"amina-1"]
    assert [(e.member_id, e.version) for e in events] == [("amina-1", 1), ("amina-1", 2)]
    assert events[1].profile.headline == "New"


async def test_invalid_profile_is_422_naming_each_field_and_reason(namespace: Namespace) -> None:
    bad = {**AMINA, "sdgs": [18], "country": "XX", "languages": []}
    async with serving(_app(namespace)) as client:  # type: ignore[arg-type]
        response = await client.put("/v1/members/amina-2", json=bad)
        bad_id = await client.put("/v1/members/not%20ok", json=AMINA)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = {e["field"]: e["reason"] for e in problem["errors"]}
    assert "less than or equal to 17" in fields["sdgs.0"]
    assert "ISO 3166-1" in fields["country"]
    assert "languages" in fields
    assert bad_id.status_code == 422
    assert "member_id" in bad_id.json()["detail"]
    assert await read_topic(namespace, "profiles.v1", count=1, timeout=2) == []


async def test_bulk_import_reports_bad_lines_by_number_and_keeps_the_good(
    namespace: Namespace,
) -> None:
    lines = [
        json.dumps({**AMINA, "member_id": "bulk-a"}),
        "{not json",
        json.dumps({**KOFI, "member_id": "bulk-k", "sdgs": [0]}),
        "",
        json.dumps({**KOFI, "member_id": "bulk-k2"}),
    ]
    async with serving(_app(namespace)) as client:  # type: ignore[arg-type]
        response = await client.post(
            "/v1/members/bulk",
            content="\n".join(lines).encode(),
            headers={"content-type": "application/x-ndjson"},
        )
        wrong_type = await client.post("/v1/members/bulk", json=[AMINA])
        kept = await client.get("/v1/members/bulk-k2")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert [r["line"] for r in body["rejected"]] == [2, 3]
    assert "not JSON" in body["rejected"][0]["error"]
    assert "sdgs" in body["rejected"][1]["error"]
    assert wrong_type.status_code == 415
    assert kept.status_code == 200
    records = await read_topic(namespace, "profiles.v1", count=2)
    assert sorted(r.key for r in records) == [b"bulk-a", b"bulk-k2"]


async def test_delete_publishes_the_deletion_then_a_tombstone_and_forgets(
    namespace: Namespace,
) -> None:
    async with serving(_app(namespace)) as client:  # type: ignore[arg-type]
        await client.put("/v1/members/gone-1", json=AMINA)
        deleted = await client.delete("/v1/members/gone-1")
        after = await client.get("/v1/members/gone-1")
        again = await client.delete("/v1/members/gone-1")

    assert deleted.status_code == 202
    assert after.status_code == 404
    assert after.json()["title"] == "Not found"
    assert again.status_code == 404
    records = await read_topic(namespace, "profiles.v1", count=3)
    assert [r.key for r in records] == [b"gone-1"] * 3
    assert isinstance(decode_event(records[1].value, (ProfileDeleted,)), ProfileDeleted)
    assert records[2].value is None


async def test_without_a_broker_a_write_is_503_with_retry_after_and_nothing_is_stored(
    namespace: Namespace,
) -> None:
    dead_broker = f"127.0.0.1:{free_port()}"
    app = build_app(ProfilesSettings(**namespace.settings(kafka_bootstrap_servers=dead_broker)))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://t", headers=as_operator()
        ) as http,
    ):
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
        response = await http.put("/v1/members/nobroker-1", json=AMINA)
        fetched = await http.get("/v1/members/nobroker-1")

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert "startup" in ready.json()["failing"]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "nothing was stored" in response.json()["detail"]
    assert fetched.status_code == 404
