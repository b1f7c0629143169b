"""Project invitations end to end on the real broker and Redis: profiles publishes the hub,
its projects and the members; notifications learns them from the topics, puts an invitation
in the member's inbox once however often the hub posts it, shares contacts once on accept and
nothing on decline, refuses foreign hubs and closed projects with a reason, withdraws a
deleted project's pending invitations and forgets an erased member's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from tests.support import (
    AMINA,
    DROUGHT_PROJECT,
    KOFI,
    NAIROBI_HUB,
    Namespace,
    as_hub,
    as_member,
    eventually,
    serving,
)

pytestmark = pytest.mark.integration

HUB, OTHER_HUB = "yail-nairobi", "yail-lisbon"
LEADER, INVITEE, DECLINER, PENDING, HIDDEN = "lead-1", "kofi-1", "decl-1", "pend-1", "hid-1"
PROJECT = f"/v1/hubs/{HUB}/projects/drought"
INVITATIONS = f"{PROJECT}/invitations"


async def _inbox(n: httpx.AsyncClient, member: str) -> list[dict[str, Any]]:
    response = await n.get(
        f"/v1/members/{member}/inbox", params={"limit": 100}, headers=as_member(member)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _kinds(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["kind"], i["suggestion"]["member_id"]) for i in items]


async def _invite(n: httpx.AsyncClient, member: str, path: str = INVITATIONS) -> httpx.Response:
    return await n.post(path, json={"member_id": member}, headers=as_hub(HUB))


async def _setup(p: httpx.AsyncClient, n: httpx.AsyncClient) -> None:
    members = {
        LEADER: AMINA,
        INVITEE: KOFI,
        DECLINER: KOFI | {"display_name": "Esi Decliner"},
        PENDING: KOFI | {"display_name": "Pat Pending"},
        HIDDEN: KOFI | {"visibility": {"discoverable": False}},
    }
    for member_id, body in members.items():
        assert (await p.put(f"/v1/members/{member_id}", json=body)).status_code == 201
    for member_id, address in ((LEADER, "lead@example.org"), (INVITEE, "kofi@example.org")):
        saved = await n.put(
            f"/v1/members/{member_id}/contact",
            json={"email": address, "share_in_introductions": ["email"]},
            headers=as_member(member_id),
        )
        assert saved.status_code == 200, saved.text
    hub = NAIROBI_HUB | {"leaders": [{"member_id": LEADER, "role": "leader"}]}
    assert (await p.put(f"/v1/hubs/{HUB}", json=hub)).status_code == 201
    assert (await p.put(f"/v1/hubs/{OTHER_HUB}", json=NAIROBI_HUB)).status_code == 201
    assert (await p.put(PROJECT, json=DROUGHT_PROJECT)).status_code == 201
    closed = DROUGHT_PROJECT | {"open": False}
    assert (await p.put(f"/v1/hubs/{HUB}/projects/closed", json=closed)).status_code == 201
    other = f"/v1/hubs/{OTHER_HUB}/projects/theirs"
    assert (await p.put(other, json=DROUGHT_PROJECT)).status_code == 201


async def test_an_invitation_reaches_the_inbox_once_and_accept_or_decline_share_accordingly(
    namespace: Namespace,
) -> None:
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    notifications = build_notifications(
        NotificationsSettings(**namespace.settings(rate_limit_writes="10000/minute"))
    )
    async with serving(profiles) as p, serving(notifications) as n:
        await _setup(p, n)

        # Notifications learns the hub, project and members from their topics.
        async def invited() -> httpx.Response | None:
            response = await _invite(n, INVITEE)
            return response if response.status_code == 201 else None

        first = await eventually(invited, timeout=60, interval=0.5)
        again = await _invite(n, INVITEE)

        invitation = first.json()
        assert again.status_code == 200
        assert again.json() == invitation
        assert invitation["status"] == "pending"
        assert invitation["reason"] == (
            "YAIL Nairobi invites you to contribute to its project “Drought watch for Turkana”."
        )
        items = await _inbox(n, INVITEE)
        assert _kinds(items) == [("project_invitation", invitation["invitation_id"])]
        assert items[0]["invitation"]["project_title"] == "Drought watch for Turkana"
        assert items[0]["suggestion"]["display_name"] == "YAIL Nairobi"

        # A foreign hub may not invite to this hub's project, nor reach it through its own.
        foreign = await n.post(INVITATIONS, json={"member_id": DECLINER}, headers=as_hub(OTHER_HUB))
        borrowed = await n.post(
            f"/v1/hubs/{OTHER_HUB}/projects/drought/invitations",
            json={"member_id": DECLINER},
            headers=as_hub(OTHER_HUB),
        )
        listing = await n.get(INVITATIONS, headers=as_hub(OTHER_HUB))
        assert (foreign.status_code, listing.status_code) == (403, 403)
        assert borrowed.status_code == 404
        assert "no project 'drought'" in borrowed.json()["detail"]

        # A closed project and a hidden member are refused, with the reason.
        async def closed_refused() -> httpx.Response | None:
            response = await _invite(n, DECLINER, f"/v1/hubs/{HUB}/projects/closed/invitations")
            return response if response.status_code != 404 else None

        closed = await eventually(closed_refused, timeout=30, interval=0.5)
        hidden = await _invite(n, HIDDEN)
        assert closed.status_code == 409
        assert closed.headers["content-type"].startswith("application/problem+json")
        assert "closed" in closed.json()["detail"]
        assert hidden.status_code == 404
        assert "no discoverable member" in hidden.json()["detail"]
        assert await _inbox(n, HIDDEN) == []
        assert await _inbox(n, DECLINER) == []

        # Accepting shares contacts both ways, once; accepting again changes nothing.
        accept = f"/v1/members/{INVITEE}/invitations/{invitation['invitation_id']}/accept"
        accepted = await n.post(accept, headers=as_member(INVITEE))
        repeated = await n.post(accept, headers=as_member(INVITEE))
        by_leader = await n.post(accept.replace(INVITEE, LEADER, 1), headers=as_member(LEADER))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert repeated.json() == accepted.json()
        assert by_leader.status_code == 404
        invitee_items, leader_items = await _inbox(n, INVITEE), await _inbox(n, LEADER)
        assert _kinds(invitee_items) == [
            ("introduction", LEADER),
            ("project_invitation", invitation["invitation_id"]),
        ]
        assert invitee_items[0]["shared_email"] == "lead@example.org"
        assert _kinds(leader_items) == [("introduction", INVITEE)]
        assert leader_items[0]["shared_email"] == "kofi@example.org"
        assert leader_items[0]["suggestion"]["display_name"] == "Kofi Mensah"

        # Declining shares nothing; the hub sees both answers.
        declined_invitation = (await _invite(n, DECLINER)).json()
        decline = f"/v1/members/{DECLINER}/invitations/{declined_invitation['invitation_id']}"
        declined = await n.post(f"{decline}/decline", headers=as_member(DECLINER))
        late_accept = await n.post(f"{decline}/accept", headers=as_member(DECLINER))
        assert declined.json()["status"] == "declined"
        assert late_accept.status_code == 409
        assert _kinds(await _inbox(n, LEADER)) == [("introduction", INVITEE)]
        assert _kinds(await _inbox(n, DECLINER)) == [
            ("project_invitation", declined_invitation["invitation_id"])
        ]
        listed = await n.get(INVITATIONS, headers=as_hub(HUB))
        assert listed.status_code == 200
        assert {i["member_id"]: i["status"] for i in listed.json()["items"]} == {
            INVITEE: "accepted",
            DECLINER: "declined",
        }

        # Erasing a member removes their invitations.
        assert (await p.delete(f"/v1/members/{DECLINER}")).status_code == 202

        async def decliner_gone() -> bool:
            page = await n.get(INVITATIONS, headers=as_hub(HUB))
            return DECLINER not in {i["member_id"] for i in page.json()["items"]}

        await eventually(decliner_gone, timeout=30)

        # Deleting the project withdraws the pending invitation; the accepted one's
        # introductions stay.
        pending = await _invite(n, PENDING)
        assert pending.status_code == 201
        assert len(await _inbox(n, PENDING)) == 1
        assert (await p.delete(PROJECT)).status_code == 202

        async def withdrawn() -> bool:
            return await _inbox(n, PENDING) == []

        await eventually(withdrawn, timeout=30)
        assert (await n.get(INVITATIONS, headers=as_hub(HUB))).status_code == 404
        assert ("introduction", LEADER) in _kinds(await _inbox(n, INVITEE))
