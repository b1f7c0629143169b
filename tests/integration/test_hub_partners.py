"""Hub ↔ hub partners end to end on the real broker, Redis and model: two complementary
hubs in different countries see each other first, with reasons from their members; both
accept, and each hub's leader gets one introduction to the other's. And the hubs role's
hubs.v1 consumer dead-letters bad records once while the good ones flow."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nnmatch.events import HubPartnersComputed, decode_event
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import HUBS_GROUP
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.hubs.store import HubStore
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.settings import NotificationsSettings
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
from tests.support import Namespace, as_hub, as_member, eventually, read_all, serving

pytestmark = pytest.mark.integration

NAIROBI, LISBON, ACCRA = "yail-nairobi", "yail-lisbon", "yail-accra"
WHY = "members offer remote sensing, which your hub seeks (2 members)"


def _member(name: str, country: str, hub: str, expertise: list[str], interests: list[str]) -> Any:
    return {
        "display_name": name,
        "headline": f"{expertise[0].capitalize()} researcher",
        "expertise": expertise,
        "interests": interests,
        "sdgs": [13],
        "offers": {"kinds": ["collaborator"], "text": f"Work on {', '.join(expertise)}"},
        "seeks": {"kinds": ["collaborator"], "text": f"Partners in {', '.join(interests)}"},
        "country": country,
        "languages": ["en"],
        "hubs": [hub],
    }


MEMBERS = {
    "lead-nairobi": _member("Amina", "KE", NAIROBI, ["crop disease models"], ["remote sensing"]),
    "nairobi-2": _member("Wanjiru", "KE", NAIROBI, ["crop disease models"], ["remote sensing"]),
    "lead-lisbon": _member("Joana", "PT", LISBON, ["remote sensing"], ["crop disease models"]),
    "lisbon-2": _member("Rui", "PT", LISBON, ["remote sensing"], ["crop disease models"]),
    "lead-accra": _member("Kwame", "GH", ACCRA, ["music generation"], ["fashion design"]),
}


def _hub(name: str, country: str, leader: str, offers: str, seeks: str) -> dict[str, Any]:
    return {
        "name": name,
        "country": country,
        "sdgs": [13],
        "focus": f"{name}: AI for climate",
        "offers": {"kinds": ["collaborator"], "text": offers},
        "seeks": {"kinds": ["collaborator"], "text": seeks},
        "languages": ["en"],
        "leaders": [{"member_id": leader, "role": "leader"}],
    }


HUBS = {
    NAIROBI: _hub("YAIL Nairobi", "KE", "lead-nairobi", "Crop disease models", "Remote sensing"),
    LISBON: _hub("YAIL Lisbon", "PT", "lead-lisbon", "Remote sensing", "Crop disease models"),
    ACCRA: _hub("YAIL Accra", "GH", "lead-accra", "Music generation", "Fashion design"),
}


async def _partners(client: httpx.AsyncClient, hub: str, scope: str = "anywhere") -> Any:
    response = await client.get(
        f"/v1/hubs/{hub}/partners", params={"scope": scope}, headers=as_hub(hub)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_complementary_hubs_are_partners_and_mutual_accepts_introduce_their_leaders(
    namespace: Namespace,
) -> None:
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    matching = build_matching(
        MatchingSettings(
            **namespace.settings(roles=["embedder", "hubs"], hub_recompute_interval_s=0.2)
        )
    )
    notifications = build_notifications(NotificationsSettings(**namespace.settings()))
    async with (
        serving(profiles) as p,
        serving(matching) as m,
        serving(notifications) as n,
    ):
        for member_id, body in MEMBERS.items():
            assert (await p.put(f"/v1/members/{member_id}", json=body)).status_code == 201
        for hub_id, body in HUBS.items():
            assert (await p.put(f"/v1/hubs/{hub_id}", json=body)).status_code == 201

        async def with_member_reasons() -> Any:
            page = await _partners(m, NAIROBI)
            items = page["items"]
            texts = {r["text"] for r in items[0]["reasons"]} if items else set()
            # Hubs and members arrive one by one: wait for the list over all three hubs with
            # both of Lisbon's members folded in.
            return page if WHY in texts and len(items) == 2 else None

        page = await eventually(with_member_reasons, timeout=120)
        first = page["items"][0]
        assert first["hub_id"] == LISBON
        assert [i["hub_id"] for i in page["items"]] == [LISBON, ACCRA]
        assert (await _partners(m, LISBON))["items"][0]["hub_id"] == NAIROBI
        in_region = await _partners(m, NAIROBI, scope="region")
        assert [i["hub_id"] for i in in_region["items"]] == [ACCRA]
        assert in_region["region"] == "Africa"

        # Everything published so far (lists are republished as hubs and members arrive).
        records = await read_all(namespace, "hub-partners.v1")
        published = {
            e.hub_id for e in (decode_event(r.value, (HubPartnersComputed,)) for r in records)
        }
        assert published == {NAIROBI, LISBON, ACCRA}

        one_way = await m.post(
            f"/v1/hubs/{NAIROBI}/partners/{LISBON}/accept", headers=as_hub(NAIROBI)
        )
        mutual = await m.post(
            f"/v1/hubs/{LISBON}/partners/{NAIROBI}/accept", headers=as_hub(LISBON)
        )
        again = await m.post(f"/v1/hubs/{LISBON}/partners/{NAIROBI}/accept", headers=as_hub(LISBON))
        assert (one_way.json()["mutual"], mutual.json()["introduced"]) == (False, True)
        assert again.json()["introduced"] is False

        async def introductions(member_id: str) -> list[Any]:
            inbox = await n.get(f"/v1/members/{member_id}/inbox", headers=as_member(member_id))
            assert inbox.status_code == 200, inbox.text
            return [i for i in inbox.json()["items"] if i["kind"] == "introduction"]

        to_nairobi = await eventually(lambda: introductions("lead-nairobi"), timeout=60)
        to_lisbon = await eventually(lambda: introductions("lead-lisbon"), timeout=60)
        assert [i["suggestion"]["member_id"] for i in to_nairobi] == ["lead-lisbon"]
        assert [i["suggestion"]["member_id"] for i in to_lisbon] == ["lead-nairobi"]

        dismissed = await m.post(
            f"/v1/hubs/{NAIROBI}/partners/{ACCRA}/dismiss", headers=as_hub(NAIROBI)
        )
        assert dismissed.status_code == 200
        assert [i["hub_id"] for i in (await _partners(m, NAIROBI))["items"]] == [LISBON]


def _hub_bads(template: dict[str, Any]) -> list[Bad]:
    """The kinds of bad record hubs.v1 may see (as test_malformed_records.py, keyed by hub)."""
    without_hub = {k: v for k, v in template.items() if k != "hub_id"}
    foreign = json.loads((EXAMPLES / "profiles.v1/1/ProfileUpserted.json").read_text())
    return [
        Bad("bad JSON", POISON_KEY, b'{"type": "HubUpserted", "hub_id": ', "not JSON"),
        Bad("JSON but not an object", POISON_KEY, b'["a", 1]', "expected a JSON object"),
        Bad(
            "unknown schema_version",
            POISON_KEY,
            _json({**template, "schema_version": 99}),
            "unsupported schema_version 99 for HubUpserted",
        ),
        Bad("another topic's event", POISON_KEY, _json(foreign), "unexpected event type"),
        Bad(
            "missing required field",
            POISON_KEY,
            _json(without_hub),
            "invalid HubUpserted: hub_id: Field required",
        ),
        Bad(
            "key is not the hub id",
            b"someone-else",
            _json(template),
            "is not the event's hub_id 'hub-template'",
        ),
    ]


async def test_hubs_v1_bad_records_reach_the_dlq_once_and_the_hubs_role_flows(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    template = json.loads((EXAMPLES / "hubs.v1/1/HubUpserted.json").read_text())
    template["hub_id"] = "hub-template"

    def good(hub_id: str, leader: str) -> bytes:
        hub = template["hub"] | {"leaders": [{"member_id": leader, "role": "leader"}]}
        return _json(template | {"hub_id": hub_id, "hub": hub})

    bads = _hub_bads(template)
    written = await write(
        namespace,
        "hubs.v1",
        [(b"hub-a", good("hub-a", "lead-a"))]
        + [(b.key, b.value) for b in bads]
        + [(b"hub-c", good("hub-c", "lead-c"))],
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))
    app = build_matching(MatchingSettings(**namespace.settings(roles=["hubs"])))
    async with serving(app):
        store: HubStore = app.state.services.hubs

        async def both_applied() -> bool:
            return (await store.leaders("hub-a"), await store.leaders("hub-c")) == (
                ["lead-a"],
                ["lead-c"],
            )

        await eventually(both_applied, timeout=120)

        async def ranked() -> list[str]:  # hubs read at start are ranked once the broker runs
            computed = await store.partners("hub-a")
            return [p.hub_id for p in computed.partners] if computed else []

        assert await eventually(ranked, timeout=60) == ["hub-c"]
        letters = await dead_letters(namespace, "hubs.v1", len(bads))

        async def caught_up() -> bool:
            return await committed(namespace, HUBS_GROUP, "hubs.v1") == end

        await eventually(caught_up, timeout=30)
    assert await store.leaders("hub-template") == [], "a record under another key was applied"
    assert_dead_lettered_once(letters, namespace, "hubs.v1", HUBS_GROUP, "matching", poisoned)
