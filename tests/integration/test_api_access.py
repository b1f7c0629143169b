"""Who may call what, on the three real apps over the real broker and Redis.

The BOLA matrix is built from the apps' own routes, so a route added later that takes a
member id is covered (and must refuse other members) without editing this file.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.auth import AUDIENCE, DEV_ISSUER, DevSigningKey, Role
from nnmatch.events import MatchesComputed, Reason, Suggestion, utc_now
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.matcher.store import RedisMatchesStore
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import RedisInbox
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools import devstack
from tests.support import (
    AMINA,
    DROUGHT_PROJECT,
    KOFI,
    NAIROBI_HUB,
    Namespace,
    as_hub,
    as_member,
    as_operator,
    dev_tokens,
    forget,
    new_namespace,
    serving,
)

pytestmark = pytest.mark.integration

OWNER = "owner-b"  # exists in every service (profile, matches, inbox)
GHOST = "ghost-c"  # exists nowhere
ATTACKER = "member-a"
HUB = "yail-nairobi"
MEMBER_PATH_PARAM = "{member_id}"
HUB_PATH_PARAM = "{hub_id}"
OWNER_HUB = "hub-owner"  # hidden (not discoverable), with a closed project "item-1"
GHOST_HUB = "hub-ghost"  # exists nowhere
HIDDEN_HUB = NAIROBI_HUB | {"visibility": {"discoverable": False}}
CLOSED_PROJECT = DROUGHT_PROJECT | {"open": False}
# A valid body where a route expects one; refusal must not depend on the body.
BODIES: dict[str, dict[str, Any]] = {
    "/v1/members/{member_id}": AMINA,
    "/v1/hubs/{hub_id}": NAIROBI_HUB,
    "/v1/hubs/{hub_id}/projects/{project_id}": DROUGHT_PROJECT,
}


@dataclass(frozen=True)
class Services:
    profiles: httpx.AsyncClient
    matching: httpx.AsyncClient
    notifications: httpx.AsyncClient
    apps: dict[str, FastAPI]

    def clients(self) -> dict[str, httpx.AsyncClient]:
        return {
            "profiles": self.profiles,
            "matching": self.matching,
            "notifications": self.notifications,
        }


def _suggestion(member_id: str) -> Suggestion:
    return Suggestion(
        member_id=member_id,
        display_name="Kofi Mensah",
        headline="Agronomist",
        country="GH",
        score=0.8,
        reasons=[Reason(kind="shared_sdg", text="both work on SDG 2")],
        computed_at=utc_now(),
    )


@pytest.fixture(scope="module")
async def services(stack: devstack.DevStack) -> AsyncIterator[Services]:
    """The three apps in one namespace, with OWNER's profile, matches and inbox in place."""
    namespace = new_namespace(stack)
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    # No embedder (no model load) and no matcher: the routes read the matches store only.
    matching = build_matching(MatchingSettings(**namespace.settings(roles=[])))
    notifications = build_notifications(NotificationsSettings(**namespace.settings()))
    try:
        async with (
            serving(profiles) as p,
            serving(matching) as m,
            serving(notifications) as n,
        ):
            stored = await p.put(f"/v1/members/{OWNER}", json=AMINA)
            assert stored.status_code == 201, stored.text
            matches: RedisMatchesStore = matching.state.services.matches
            await matches.put_many(
                [
                    MatchesComputed(
                        member_id=OWNER,
                        profile_version=1,
                        model_id="test",
                        producer="test",
                        suggestions=[_suggestion("kofi-1")],
                    )
                ]
            )
            inbox: RedisInbox = notifications.state.services.inbox
            item = NewItem(
                candidate_id="kofi-1",
                kind=ItemKind.SUGGESTION,
                created_at=utc_now(),
                suggestion=_suggestion("kofi-1"),
            )
            assert await inbox.add_new(OWNER, [item], limit=5) == 1
            hub = await p.put(f"/v1/hubs/{OWNER_HUB}", json=HIDDEN_HUB)
            assert hub.status_code == 201, hub.text
            project = await p.put(f"/v1/hubs/{OWNER_HUB}/projects/item-1", json=CLOSED_PROJECT)
            assert project.status_code == 201, project.text
            yield Services(
                p,
                m,
                n,
                {"profiles": profiles, "matching": matching, "notifications": notifications},
            )
    finally:
        await forget(namespace)


@dataclass(frozen=True)
class Call:
    service: str
    method: str
    template: str

    def path(self, member_id: str, hub_id: str = GHOST_HUB) -> str:
        path = self.template.replace(MEMBER_PATH_PARAM, member_id)
        path = path.replace(HUB_PATH_PARAM, hub_id)
        while "{" in path:  # any other path parameter (an item id): a harmless valid value
            start, end = path.index("{"), path.index("}")
            path = path[:start] + "item-1" + path[end + 1 :]
        return path

    async def send(
        self,
        client: httpx.AsyncClient,
        member_id: str,
        headers: dict[str, str],
        hub_id: str = GHOST_HUB,
    ) -> httpx.Response:
        body: dict[str, Any] = {}
        if self.method in ("PUT", "POST", "PATCH"):
            body["json"] = BODIES.get(self.template, {})
        path = self.path(member_id, hub_id)
        return await client.request(self.method, path, headers=headers, **body)

    def __str__(self) -> str:
        return f"{self.service}: {self.method} {self.template}"


def _api_routes(apps: dict[str, FastAPI]) -> list[Call]:
    """Every operation each app publishes in its OpenAPI document (the ops routes are not)."""
    calls: list[Call] = []
    for service, app in apps.items():
        for path, operations in app.openapi()["paths"].items():
            calls.extend(
                Call(service, method.upper(), path)
                for method in sorted(operations)
                if method in ("get", "put", "post", "patch", "delete")
            )
    return calls


def _member_routes(apps: dict[str, FastAPI]) -> list[Call]:
    return [c for c in _api_routes(apps) if MEMBER_PATH_PARAM in c.template]


def _hub_routes(apps: dict[str, FastAPI]) -> list[Call]:
    return [c for c in _api_routes(apps) if HUB_PATH_PARAM in c.template]


# Routes that take no bearer token, each with the reason; any other route without one fails.
PUBLIC_ROUTES = {
    "/v1/unsubscribe": "one-click unsubscribe from an e-mail: the signed link is the credential",
}


def _all_api_routes(apps: dict[str, FastAPI]) -> list[Call]:
    return [
        c
        for c in _api_routes(apps)
        if c.template.startswith("/v1/") and c.template not in PUBLIC_ROUTES
    ]


def test_only_the_known_public_routes_take_no_token(services: Services) -> None:
    unsecured = {
        f"{service}: {method.upper()} {path}"
        for service, app in services.apps.items()
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete") and not operation.get("security")
    }

    assert {u.split(" ", 2)[2] for u in unsecured} <= set(PUBLIC_ROUTES), unsecured


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


# --------------------------------------------------------------------------- BOLA matrix


async def test_the_matrix_covers_every_member_route_of_the_three_services(
    services: Services,
) -> None:
    covered = {str(c) for c in _member_routes(services.apps)}

    assert {
        "profiles: PUT /v1/members/{member_id}",
        "profiles: GET /v1/members/{member_id}",
        "profiles: DELETE /v1/members/{member_id}",
        "matching: GET /v1/members/{member_id}/matches",
        "matching: GET /v1/members/{member_id}/projects",
        "notifications: GET /v1/members/{member_id}/inbox",
        "profiles: GET /v1/operators/members/{member_id}",
        "matching: GET /v1/operators/members/{member_id}",
        "notifications: GET /v1/operators/members/{member_id}",
        "notifications: GET /v1/operators/members/{member_id}/contact",
        "profiles: GET /v1/members/{member_id}/export",
        "matching: GET /v1/members/{member_id}/export",
        "notifications: GET /v1/members/{member_id}/export",
        "profiles: POST /v1/members/{member_id}/reports",
        "profiles: POST /v1/members/{member_id}/suspension",
        "profiles: DELETE /v1/members/{member_id}/suspension",
        "notifications: POST /v1/members/{member_id}/invitations/{invitation_id}/accept",
        "notifications: POST /v1/members/{member_id}/invitations/{invitation_id}/decline",
    } <= covered


async def test_another_members_token_gets_403_whether_or_not_the_member_exists(
    services: Services,
) -> None:
    clients = services.clients()
    attacker = as_member(ATTACKER)
    failures = []
    for call in _member_routes(services.apps):
        client = clients[call.service]
        on_owner = await call.send(client, OWNER, attacker)
        on_ghost = await call.send(client, GHOST, attacker)
        if on_owner.status_code != 403 or on_ghost.status_code != 403:
            failures.append(f"{call}: {on_owner.status_code} / {on_ghost.status_code}")
            continue
        owner_problem, ghost_problem = _problem(on_owner), _problem(on_ghost)
        if owner_problem != ghost_problem:  # the answer must not reveal who exists
            failures.append(f"{call}: {owner_problem} != {ghost_problem}")
        if OWNER in on_owner.text or GHOST in on_ghost.text:
            failures.append(f"{call} echoes the member id")

    assert failures == []
    # Nothing the attacker sent changed the owner's data.
    still = await services.profiles.get(f"/v1/members/{OWNER}")
    assert still.status_code == 200
    assert still.json()["version"] == 1
    assert (await services.profiles.get(f"/v1/members/{GHOST}")).status_code == 404


async def test_the_owner_reads_their_own_resources(services: Services) -> None:
    owner = as_member(OWNER)

    profile = await services.profiles.get(f"/v1/members/{OWNER}", headers=owner)
    matches = await services.matching.get(f"/v1/members/{OWNER}/matches", headers=owner)
    inbox = await services.notifications.get(f"/v1/members/{OWNER}/inbox", headers=owner)

    assert profile.status_code == 200
    assert profile.json()["profile"]["organisation"]["name"] == "University of Nairobi"
    assert matches.status_code == 200
    assert [s["member_id"] for s in matches.json()["items"]] == ["kofi-1"]
    assert inbox.status_code == 200
    assert inbox.json()["unread"] == 1


async def test_an_operator_reads_profiles_and_matches_but_not_inboxes(
    services: Services,
) -> None:
    operator = as_operator()

    profile = await services.profiles.get(f"/v1/members/{OWNER}", headers=operator)
    matches = await services.matching.get(f"/v1/members/{OWNER}/matches", headers=operator)
    inbox = await services.notifications.get(f"/v1/members/{OWNER}/inbox", headers=operator)

    assert profile.status_code == 200
    assert matches.status_code == 200
    assert matches.json()["items"]
    assert inbox.status_code == 403
    assert "member themself" in _problem(inbox)["detail"]


async def test_a_hub_token_cannot_write_or_read_member_only_resources(
    services: Services,
) -> None:
    clients = services.clients()
    hub = as_hub(HUB)
    outcomes = {}
    for call in _all_api_routes(services.apps):
        if HUB_PATH_PARAM in call.template:
            continue  # hub routes: the hub matrix below
        if call.method == "GET" and call.template == "/v1/members/{member_id}":
            continue  # the one read a hub may make (its fields are checked below)
        if call.template == "/v1/search":
            continue  # hubs may search
        response = await call.send(clients[call.service], OWNER, hub)
        outcomes[str(call)] = response.status_code

    assert "profiles: POST /v1/members/bulk" in outcomes
    assert "profiles: PUT /v1/members/{member_id}" in outcomes
    assert "profiles: DELETE /v1/members/{member_id}" in outcomes
    assert {k: v for k, v in outcomes.items() if v != 403} == {}
    bulk = await services.profiles.post(
        "/v1/members/bulk",
        content=json.dumps({**KOFI, "member_id": "hub-import"}).encode(),
        headers=hub | {"content-type": "application/x-ndjson"},
    )
    assert bulk.status_code == 403
    assert "operator" in _problem(bulk)["detail"]
    assert (await services.profiles.get(f"/v1/members/{OWNER}")).json()["version"] == 1
    assert (await services.profiles.get("/v1/members/hub-import")).status_code == 404


async def test_a_member_cannot_bulk_import(services: Services) -> None:
    response = await services.profiles.post(
        "/v1/members/bulk",
        content=json.dumps({**KOFI, "member_id": ATTACKER}).encode(),
        headers=as_member(ATTACKER) | {"content-type": "application/x-ndjson"},
    )

    assert response.status_code == 403
    assert (await services.profiles.get(f"/v1/members/{ATTACKER}")).status_code == 404


async def test_a_hub_sees_only_the_fields_a_member_made_visible(services: Services) -> None:
    operator, hub = as_operator(), as_hub(HUB)
    hidden_org = {**KOFI, "visibility": {"discoverable": True, "show_organisation": False}}
    hidden = {**KOFI, "visibility": {"discoverable": False, "show_organisation": True}}
    for member_id, body in (("vis-org", hidden_org), ("vis-none", hidden)):
        put = await services.profiles.put(f"/v1/members/{member_id}", json=body, headers=operator)
        assert put.status_code == 201, put.text

    shown = await services.profiles.get(f"/v1/members/{OWNER}", headers=hub)
    org_hidden = await services.profiles.get("/v1/members/vis-org", headers=hub)
    not_discoverable = await services.profiles.get("/v1/members/vis-none", headers=hub)
    unknown = await services.profiles.get("/v1/members/vis-unknown", headers=hub)
    owner_view = await services.profiles.get("/v1/members/vis-org", headers=as_member("vis-org"))

    assert shown.status_code == 200
    assert shown.json()["profile"]["organisation"]["name"] == "University of Nairobi"
    assert org_hidden.status_code == 200
    assert org_hidden.json()["profile"]["display_name"] == "Kofi Mensah"
    assert org_hidden.json()["profile"]["organisation"]["name"] == ""
    assert "CSIR" not in org_hidden.text
    # Not discoverable looks exactly like not there.
    assert not_discoverable.status_code == 404
    assert unknown.status_code == 404
    assert "Kofi" not in not_discoverable.text
    assert _problem(not_discoverable)["title"] == _problem(unknown)["title"]
    # The member themself still sees everything.
    assert owner_view.json()["profile"]["organisation"]["name"] == "CSIR Crops Research Institute"


# --------------------------------------------------------------------------- hub matrix


async def test_the_hub_matrix_covers_every_hub_route(services: Services) -> None:
    covered = {str(c) for c in _hub_routes(services.apps)}

    assert {
        "profiles: PUT /v1/hubs/{hub_id}",
        "profiles: GET /v1/hubs/{hub_id}",
        "profiles: DELETE /v1/hubs/{hub_id}",
        "profiles: PUT /v1/hubs/{hub_id}/projects/{project_id}",
        "profiles: GET /v1/hubs/{hub_id}/projects/{project_id}",
        "profiles: GET /v1/hubs/{hub_id}/projects",
        "matching: GET /v1/hubs/{hub_id}/partners",
        "matching: POST /v1/hubs/{hub_id}/partners/{partner_id}/accept",
        "matching: POST /v1/hubs/{hub_id}/partners/{partner_id}/dismiss",
        "notifications: POST /v1/hubs/{hub_id}/projects/{project_id}/invitations",
        "notifications: GET /v1/hubs/{hub_id}/projects/{project_id}/invitations",
        "profiles: GET /v1/hubs/{hub_id}/shortlist",
        "profiles: PUT /v1/hubs/{hub_id}/shortlist/{member_id}",
        "profiles: DELETE /v1/hubs/{hub_id}/shortlist/{member_id}",
        "matching: GET /v1/hubs/{hub_id}/projects/{project_id}/candidates",
    } <= covered


async def test_another_hub_or_a_member_cannot_change_a_hub_nor_tell_hidden_from_absent(
    services: Services,
) -> None:
    """Writes by anyone but the hub itself (or an operator) are 403 from the token alone; a
    hidden hub or closed project reads exactly like one that does not exist."""
    clients = services.clients()
    failures = []
    for attacker in (as_hub(HUB), as_member(ATTACKER), as_member(OWNER)):
        for call in _hub_routes(services.apps):
            client = clients[call.service]
            on_owner = await call.send(client, OWNER, attacker, hub_id=OWNER_HUB)
            on_ghost = await call.send(client, OWNER, attacker, hub_id=GHOST_HUB)
            if call.method != "GET" and on_owner.status_code != 403:
                failures.append(f"{call}: {on_owner.status_code} on the owner hub")
            if on_owner.status_code != on_ghost.status_code or on_owner.status_code < 400:
                failures.append(f"{call}: {on_owner.status_code} / {on_ghost.status_code}")
                continue
            owner_problem, ghost_problem = _problem(on_owner), _problem(on_ghost)
            owner_problem["detail"] = owner_problem["detail"].replace(OWNER_HUB, "?")
            ghost_problem["detail"] = ghost_problem["detail"].replace(GHOST_HUB, "?")
            if owner_problem != ghost_problem:
                failures.append(f"{call}: {owner_problem} != {ghost_problem}")
            if "Nairobi" in on_owner.text or "Drought" in on_owner.text:
                failures.append(f"{call} leaked the hidden hub")

    assert failures == []
    operator = as_operator()
    hub = await services.profiles.get(f"/v1/hubs/{OWNER_HUB}", headers=operator)
    project = await services.profiles.get(f"/v1/hubs/{OWNER_HUB}/projects/item-1", headers=operator)
    assert (hub.json()["version"], project.json()["version"]) == (1, 1)


async def test_a_hub_changes_and_reads_its_own_hidden_hub_and_closed_project(
    services: Services,
) -> None:
    own = as_hub("hub-self")

    created = await services.profiles.put("/v1/hubs/hub-self", json=HIDDEN_HUB, headers=own)
    posted = await services.profiles.put(
        "/v1/hubs/hub-self/projects/p-1", json=CLOSED_PROJECT, headers=own
    )
    hub = await services.profiles.get("/v1/hubs/hub-self", headers=own)
    project = await services.profiles.get("/v1/hubs/hub-self/projects/p-1", headers=own)
    by_others = [
        (await services.profiles.get(path, headers=as_hub(HUB))).status_code
        for path in ("/v1/hubs/hub-self", "/v1/hubs/hub-self/projects/p-1")
    ]

    assert (created.status_code, posted.status_code) == (201, 201)
    assert hub.status_code == 200
    assert hub.json()["hub"]["name"] == "YAIL Nairobi"
    assert hub.json()["region"] == "Africa"
    assert project.status_code == 200
    assert project.json()["project"]["open"] is False
    assert by_others == [404, 404]


# --------------------------------------------------------------------------- audit trail


async def _audit(services: Services, **params: Any) -> list[dict[str, Any]]:
    """Every audit record the trail holds (newest first), paged through the operators' route."""
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await services.profiles.get(
            "/v1/audit", params={"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        records += [entry["record"] for entry in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return records


async def test_only_operators_read_the_audit_trail(services: Services) -> None:
    member = await services.profiles.get("/v1/audit", headers=as_member(OWNER))
    hub = await services.profiles.get("/v1/audit", headers=as_hub(HUB))
    operator = await services.profiles.get("/v1/audit", headers=as_operator())

    assert member.status_code == 403
    assert hub.status_code == 403
    assert "operator" in _problem(member)["detail"]
    assert operator.status_code == 200


async def test_every_operator_action_lands_in_the_audit_trail(services: Services) -> None:
    target = "audited-1"
    request_id = "req-audit-1"
    operator = as_operator() | {"x-request-id": request_id}
    put = await services.profiles.put(f"/v1/members/{target}", json=KOFI, headers=operator)
    read = await services.profiles.get(f"/v1/members/{target}", headers=operator)
    matches = await services.matching.get(f"/v1/members/{target}/matches", headers=operator)
    bulk = await services.profiles.post(
        "/v1/members/bulk",
        content=json.dumps({**KOFI, "member_id": "audited-bulk"}).encode(),
        headers=operator | {"content-type": "application/x-ndjson"},
    )
    erase = await services.profiles.delete(f"/v1/members/{target}", headers=operator)
    # The member's own reads are not operator actions; their own erasure is audited.
    own = "audited-own"
    await services.profiles.put(f"/v1/members/{own}", json=KOFI, headers=as_member(own))
    await services.profiles.get(f"/v1/members/{own}", headers=as_member(own))
    await services.profiles.delete(f"/v1/members/{own}", headers=as_member(own))

    assert [r.status_code for r in (put, read, matches, bulk, erase)] == [201, 200, 200, 200, 202]
    about_target = await _audit(services, target=target)
    mine = [r for r in about_target if r["request_id"] == request_id]
    assert [(r["action"], r["service"]) for r in reversed(mine)] == [
        ("profile_write", "profiles"),
        ("profile_read", "profiles"),
        ("matches_read", "matching"),
        ("erasure", "profiles"),
    ]
    assert {(r["actor_role"], r["actor"]) for r in mine} == {("operator", "operator")}
    everything = await _audit(services)
    assert any(
        r["action"] == "bulk_import" and r["count"] == 1 and r["request_id"] == request_id
        for r in everything
    )
    about_own = [(r["action"], r["actor_role"]) for r in await _audit(services, target=own)]
    assert about_own == [("erasure", "member")]
    # Reading the trail is itself on it.
    assert any(r["action"] == "audit_read" and r["target"] == target for r in everything)


async def test_the_audit_trail_holds_no_bio_email_or_token(services: Services) -> None:
    email = "owner-b@example.org"
    saved = await services.notifications.put(
        f"/v1/members/{OWNER}/contact",
        json={"email": email, "share_in_introductions": ["email"]},
        headers=as_member(OWNER),
    )
    assert saved.status_code == 200, saved.text
    operator = as_operator()
    for _ in range(2):
        await services.profiles.get(f"/v1/members/{OWNER}", headers=operator)
        await services.profiles.put(f"/v1/members/{OWNER}", json=AMINA, headers=operator)
        await services.matching.get(f"/v1/members/{OWNER}/matches", headers=operator)
    settings = services.apps["profiles"].state.services.settings
    client: Any = Redis.from_url(settings.redis_url)
    async with client:
        raw = b"".join(
            value
            for _, fields in await client.xrange(f"{settings.redis_prefix}audit:log")
            for value in fields.values()
        ).decode()

    assert f'"target":"{OWNER}"' in raw  # the actions are there
    token = operator["authorization"].removeprefix("Bearer ")
    for secret in (AMINA["bio"], KOFI["bio"], email, token, token.split(".")[1], "Amina"):
        assert secret not in raw


async def test_an_operator_looks_a_member_up_in_every_service(services: Services) -> None:
    request_id = "req-lookup-1"
    operator = as_operator() | {"x-request-id": request_id}
    profile = await services.profiles.get(f"/v1/operators/members/{OWNER}", headers=operator)
    matching = await services.matching.get(f"/v1/operators/members/{OWNER}", headers=operator)
    notes = await services.notifications.get(f"/v1/operators/members/{OWNER}", headers=operator)
    unknown = await services.profiles.get(f"/v1/operators/members/{GHOST}", headers=operator)

    assert profile.status_code == 200, profile.text
    assert profile.json()["version"] >= 1
    assert profile.json()["profile"]["display_name"] == "Amina Yusuf"
    assert matching.status_code == 200, matching.text
    assert matching.json()["served_here"] is False  # no matcher role in this app
    assert [s["member_id"] for s in matching.json()["items"]] == ["kofi-1"]
    assert matching.json()["items"][0]["reasons"]
    assert notes.status_code == 200, notes.text
    assert notes.json()["inbox"]["suggestions"] == 1
    assert set(notes.json()["channels"]) == {"in_app", "email", "webhook"}
    assert "@" not in notes.text  # contact details only on request
    assert unknown.status_code == 404
    lookups = [
        r["service"]
        for r in await _audit(services, target=OWNER)
        if r["action"] == "member_lookup" and r["request_id"] == request_id
    ]
    assert sorted(lookups) == ["matching", "notifications", "profiles"]


async def test_an_operators_contact_read_is_audited_and_members_and_hubs_cannot_make_it(
    services: Services,
) -> None:
    email = "owner-b@example.org"
    saved = await services.notifications.put(
        f"/v1/members/{OWNER}/contact", json={"email": email}, headers=as_member(OWNER)
    )
    assert saved.status_code == 200, saved.text
    path = f"/v1/operators/members/{OWNER}/contact"
    own = await services.notifications.get(path, headers=as_member(OWNER))
    hub = await services.notifications.get(path, headers=as_hub(HUB))
    read = await services.notifications.get(
        path, headers=as_operator() | {"x-request-id": "req-contact-1"}
    )

    assert (own.status_code, hub.status_code) == (403, 403)
    assert read.status_code == 200
    assert read.json()["email"] == email
    reads = [r for r in await _audit(services, target=OWNER) if r["action"] == "contact_read"]
    assert [(r["request_id"], r["actor_role"]) for r in reads] == [("req-contact-1", "operator")]


# --------------------------------------------------------------------------- 401s


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bad_tokens(stack: devstack.DevStack) -> Iterator[tuple[str, dict[str, str]]]:
    key = DevSigningKey.load_or_create(stack.auth_dir)
    now = time.time()
    # Another key that claims our key id: only the signature can tell them apart.
    stranger = DevSigningKey(private_key=ec.generate_private_key(ec.SECP256R1()), kid=key.kid)
    claims = {
        "sub": "operator",
        "role": "operator",
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "exp": int(now) + 600,
    }
    alg_none = ".".join(
        [
            _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": key.kid}).encode()),
            _b64(json.dumps(claims).encode()),
            "",
        ]
    )
    yield "none", {}
    yield "not bearer", {"authorization": "Basic b3BlcmF0b3I6c2VjcmV0"}
    yield "empty bearer", {"authorization": "Bearer "}
    yield "garbage", {"authorization": "Bearer not-a-jwt"}
    yield "three garbage parts", {"authorization": "Bearer a.b.c"}
    yield (
        "expired",
        {
            "authorization": "Bearer "
            + key.mint(Role.OPERATOR, "operator", ttl_s=60, now=now - 7200)
        },
    )
    yield (
        "not yet valid",
        {"authorization": "Bearer " + key.mint(Role.OPERATOR, "operator", now=now + 3600)},
    )
    yield (
        "wrong audience",
        {"authorization": "Bearer " + key.mint(Role.OPERATOR, "operator", audience="other")},
    )
    yield (
        "wrong issuer",
        {"authorization": "Bearer " + key.mint(Role.OPERATOR, "operator", issuer="evil")},
    )
    yield (
        "signed by another key",
        {"authorization": "Bearer " + stranger.mint(Role.OPERATOR, "operator")},
    )
    yield "alg none", {"authorization": f"Bearer {alg_none}"}


async def test_missing_or_bad_tokens_get_401_with_a_bearer_challenge_on_every_route(
    services: Services, stack: devstack.DevStack
) -> None:
    clients = services.clients()
    calls = _all_api_routes(services.apps)
    failures = []
    for label, headers in _bad_tokens(stack):
        for call in calls:
            # Replace the client's default operator token with this one (or none).
            client = clients[call.service]
            saved = client.headers.pop("authorization", None)
            try:
                response = await call.send(client, OWNER, headers)
            finally:
                if saved is not None:
                    client.headers["authorization"] = saved
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code != 401 or not challenge.startswith("Bearer"):
                failures.append(f"{label} on {call}: {response.status_code} {challenge!r}")
            elif (
                label not in ("none", "not bearer", "empty bearer")
                and 'error="invalid_token"' not in challenge
            ):
                failures.append(f"{label} on {call}: challenge {challenge!r}")
            elif "Kofi" in response.text or "Amina" in response.text:
                failures.append(f"{label} on {call} leaked profile data")

    assert failures == []
    assert len(calls) >= 6


async def test_a_401_says_why_without_echoing_the_token(
    services: Services, stack: devstack.DevStack
) -> None:
    key = DevSigningKey.load_or_create(stack.auth_dir)
    expired = key.mint(Role.OPERATOR, "operator", ttl_s=60, now=time.time() - 7200)
    client = services.profiles
    saved = client.headers.pop("authorization")
    try:
        missing = await client.get(f"/v1/members/{OWNER}")
        stale = await client.get(
            f"/v1/members/{OWNER}", headers={"authorization": f"Bearer {expired}"}
        )
    finally:
        client.headers["authorization"] = saved

    assert "Authorization: Bearer" in _problem(missing)["detail"]
    assert "expired" in _problem(stale)["detail"]
    assert expired not in stale.text


async def test_health_readiness_and_metrics_are_open_without_a_token(
    services: Services,
) -> None:
    for name, client in services.clients().items():
        saved = client.headers.pop("authorization")
        try:
            answers = {path: await client.get(path) for path in ("/healthz", "/readyz", "/metrics")}
        finally:
            client.headers["authorization"] = saved
        assert {p: r.status_code for p, r in answers.items()} == {
            "/healthz": 200,
            "/readyz": 200,
            "/metrics": 200,
        }, name
        assert "nnmatch_http_requests_total" in answers["/metrics"].text


# --------------------------------------------------------------------------- 413


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b" " * piece
        sent += piece


async def test_a_body_over_the_limit_gets_413_declared_or_streamed(services: Services) -> None:
    limit = 65_536
    big = {**AMINA, "bio": "x" * (limit + 100)}
    raw = json.dumps(big).encode()
    declared = await services.profiles.put(
        "/v1/members/big-1", content=raw, headers={"content-type": "application/json"}
    )
    streamed = await services.profiles.put(
        "/v1/members/big-2",
        content=_chunks(limit + 10_000),
        headers={"content-type": "application/json"},
    )
    unauthenticated = await services.profiles.put(
        "/v1/members/big-3",
        content=raw,
        headers={"content-type": "application/json", "authorization": "Bearer x"},
    )
    # A member whose id starts like the bulk route gets the ordinary limit, not the bulk one.
    lookalike = await services.profiles.put(
        "/v1/members/bulky",
        content=raw,
        headers={"content-type": "application/json"},
    )
    inbox_post = await services.notifications.post(
        f"/v1/members/{OWNER}/inbox", content=_chunks(limit + 1)
    )

    for response in (declared, streamed, unauthenticated, lookalike):
        assert response.status_code == 413, response.text
        assert str(limit) in _problem(response)["detail"]
    assert declared.headers["connection"] == "close"
    # A body on a route that reads none is still cut off, or refused as a method (never 5xx).
    assert inbox_post.status_code in (405, 413)
    for member_id in ("big-1", "big-2", "big-3", "bulky"):
        assert (await services.profiles.get(f"/v1/members/{member_id}")).status_code == 404


async def test_bulk_import_has_its_own_larger_limit(namespace: Namespace) -> None:
    settings = ProfilesSettings(**namespace.settings(max_body_bytes=2048, bulk_max_bytes=8192))
    lines = [json.dumps({**KOFI, "member_id": f"bulk-{i}"}) for i in range(5)]
    fits = "\n".join(lines).encode()  # over the ordinary limit, under the bulk one
    too_big = (lines[0] + "\n" + " " * 8192).encode()
    async with serving(build_profiles(settings)) as client:
        accepted = await client.post(
            "/v1/members/bulk", content=fits, headers={"content-type": "application/x-ndjson"}
        )
        refused = await client.post(
            "/v1/members/bulk",
            content=_chunks(len(too_big)),
            headers={"content-type": "application/x-ndjson"},
        )
        ordinary = await client.put(f"/v1/members/{'k' * 10}", content=fits)

    assert 2048 < len(fits) < 8192
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 5
    assert refused.status_code == 413
    assert "8192" in _problem(refused)["detail"]
    assert ordinary.status_code == 413


# --------------------------------------------------------------------------- 429


async def test_writes_are_limited_per_token_with_retry_after(namespace: Namespace) -> None:
    settings = ProfilesSettings(**namespace.settings(rate_limit_writes="3/minute"))
    amina, kofi = as_member("rl-amina"), as_member("rl-kofi")
    async with serving(build_profiles(settings)) as client:
        allowed = [
            await client.put("/v1/members/rl-amina", json=AMINA, headers=amina) for _ in range(3)
        ]
        limited = await client.put("/v1/members/rl-amina", json=AMINA, headers=amina)
        delete_limited = await client.delete("/v1/members/rl-amina", headers=amina)
        reads_still_fine = await client.get("/v1/members/rl-amina", headers=amina)
        other_member = await client.put("/v1/members/rl-kofi", json=KOFI, headers=kofi)
        operator = await client.put("/v1/members/rl-op", json=KOFI, headers=as_operator())

    assert [r.status_code for r in allowed] == [201, 200, 200]
    for response in (limited, delete_limited):
        assert response.status_code == 429
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert "writes" in _problem(response)["detail"]
    assert reads_still_fine.status_code == 200
    assert reads_still_fine.json()["version"] == 3  # the limited writes changed nothing
    assert other_member.status_code == 201
    assert operator.status_code == 201


async def test_dev_tokens_are_signed_by_the_stack_key(stack: devstack.DevStack) -> None:
    """The tokens the other tests use come from the key whose JWKS the apps load."""
    jwks = json.loads(stack.jwks_file.read_text())
    token = dev_tokens().token(Role.OPERATOR)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
