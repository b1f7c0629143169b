"""A member's export, on the three real apps over the real broker and Redis: it holds every
piece of their data the erasure scan would find (every Redis key named for them belongs to a
key family some service declares, and the exported ones come back filled), nothing of another
member's private data, and each service's export is audited. Who may export is in the BOLA
matrix (tests/integration/test_api_access.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.contact import Channel
from nnmatch.events import FeedbackAction, MatchesComputed, Reason, Suggestion, utc_now
from nnmatch.export import MEMBER, MemberExporter
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.matcher.exclusions import PairFeedback
from nnmatch_matching.matcher.feedback_store import RedisFeedbackStore
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.delivery_state import RedisDeliveryStates
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import RedisInbox
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools import devstack
from tests.support import AMINA, KOFI, Namespace, as_member, forget, new_namespace, serving

pytestmark = pytest.mark.integration

ME, OTHER = "exp-amina", "exp-kofi"
MY_EMAIL, OTHER_EMAIL = "exp-amina@example.org", "exp-kofi@example.org"


@dataclass(frozen=True)
class Apps:
    namespace: Namespace
    clients: dict[str, httpx.AsyncClient]
    apps: dict[str, FastAPI]


def _suggestion(member_id: str, name: str) -> Suggestion:
    return Suggestion(
        member_id=member_id,
        display_name=name,
        country="GH",
        score=0.8,
        reasons=[Reason(kind="shared_sdg", text="both work on SDG 2")],
        computed_at=utc_now(),
    )


@pytest.fixture(scope="module")
async def apps(stack: devstack.DevStack) -> AsyncIterator[Apps]:
    """Two members with data in every store: profile, list, feedback, inbox, deliveries,
    contact and preferences."""
    namespace = new_namespace(stack)
    built = {
        "profiles": build_profiles(ProfilesSettings(**namespace.settings())),
        "matching": build_matching(MatchingSettings(**namespace.settings(roles=[]))),
        "notifications": build_notifications(NotificationsSettings(**namespace.settings())),
    }
    try:
        async with (
            serving(built["profiles"]) as p,
            serving(built["matching"]) as m,
            serving(built["notifications"]) as n,
        ):
            for member, body, email in ((ME, AMINA, MY_EMAIL), (OTHER, KOFI, OTHER_EMAIL)):
                token = as_member(member)
                assert (await p.put(f"/v1/members/{member}", json=body, headers=token)).is_success
                contact = {"email": email, "share_in_introductions": ["email"]}
                put = await n.put(f"/v1/members/{member}/contact", json=contact, headers=token)
                assert put.is_success, put.text
            prefs = {"channels": ["in_app", "email"], "frequency": "daily", "daily_cap": 3}
            put = await n.put(f"/v1/members/{ME}/preferences", json=prefs, headers=as_member(ME))
            assert put.is_success, put.text
            redis: Any = Redis.from_url(stack.redis.address)
            async with redis:
                prefix = namespace.redis_prefix
                await built["matching"].state.services.matches.put_many(
                    [
                        MatchesComputed(
                            member_id=a,
                            profile_version=1,
                            model_id="test",
                            producer="test",
                            suggestions=[_suggestion(b, name)],
                        )
                        for a, b, name in ((ME, OTHER, "Kofi"), (OTHER, ME, "Amina"))
                    ]
                )
                await RedisFeedbackStore(redis, prefix).put_many(
                    [PairFeedback(ME, OTHER, FeedbackAction.ACCEPT)]
                )
                inbox: RedisInbox = built["notifications"].state.services.inbox
                due = utc_now() + timedelta(hours=1)
                for a, b, name in ((ME, OTHER, "Kofi"), (OTHER, ME, "Amina")):
                    item = NewItem(
                        candidate_id=b,
                        kind=ItemKind.SUGGESTION,
                        created_at=utc_now(),
                        suggestion=_suggestion(b, name),
                    )
                    await inbox.add_new_many([(a, [item])], 5, {a: due}, update_ids=[f"u-{a}"])
                await RedisDeliveryStates(redis, prefix).failed(
                    ME, Channel.EMAIL, utc_now(), "SMTP 550"
                )
            yield Apps(
                namespace,
                {"profiles": p, "matching": m, "notifications": n},
                built,
            )
    finally:
        await forget(namespace)


async def _exports(apps: Apps, member: str) -> dict[str, dict[str, Any]]:
    answers = {}
    for service, client in apps.clients.items():
        response = await client.get(f"/v1/members/{member}/export", headers=as_member(member))
        assert response.status_code == 200, (service, response.text)
        answers[service] = response.json()
    return answers


async def _families_named_for(apps: Apps, member: str) -> set[str]:
    """The key family (`inbox:{m}`) of every Redis key whose name has the member's id as a part:
    what the erasure scan deletes as theirs."""
    prefix = apps.namespace.redis_prefix
    client: Any = Redis.from_url(apps.namespace.stack.redis.address)
    families = set()
    async with client:
        async for raw in client.scan_iter(match=f"{prefix}*", count=1000):
            parts = raw.decode()[len(prefix) :].split(":")
            if member in parts:
                families.add(":".join(MEMBER if p == member else p for p in parts))
    return families


async def test_the_export_covers_every_store_the_erasure_scan_finds(apps: Apps) -> None:
    exports = await _exports(apps, ME)
    declared = {
        family.pattern: (service, family.exported)
        for service, app in apps.apps.items()
        for family in app.state.exporter.families
        if isinstance(app.state.exporter, MemberExporter)
    }
    found = await _families_named_for(apps, ME)

    assert found, "the fixture stored nothing named for the member"
    assert found - set(declared) == set(), "key families no service's export declares"
    for family in found:
        service, exported = declared[family]
        if exported:
            assert exports[service]["stores"][family], f"{family} is held but exported empty"
        else:
            assert family in exports[service]["not_exported"]
    assert {"inbox:{m}", "suggested:{m}", "matches:{m}", "feedback:{m}", "profile:{m}"} <= found


async def test_the_export_holds_the_members_data_and_none_of_anothers(apps: Apps) -> None:
    exports = await _exports(apps, ME)
    text = str(exports)

    assert exports["profiles"]["stores"]["profile:{m}"]["json"]["profile"]["bio"] == AMINA["bio"]
    assert exports["notifications"]["contact"]["email"] == MY_EMAIL
    assert exports["notifications"]["preferences"]["frequency"] == "daily"
    assert exports["matching"]["stores"]["feedback:{m}"] == {OTHER: "accept"}
    listed = exports["matching"]["stores"]["matches:{m}"]
    assert [s["member_id"] for s in listed["suggestions"]] == [OTHER]
    assert "PermanentFailure" not in text
    for secret in (KOFI["bio"], OTHER_EMAIL, "webhook_secret_sealed"):
        assert secret not in text


async def test_every_export_is_audited(apps: Apps) -> None:
    await _exports(apps, OTHER)
    audit = await apps.clients["profiles"].get("/v1/audit", params={"target": OTHER})

    exports = [r["record"] for r in audit.json()["items"] if r["record"]["action"] == "export"]
    assert sorted(r["service"] for r in exports) == ["matching", "notifications", "profiles"]
    assert {(r["actor_role"], r["actor"]) for r in exports} == {("member", OTHER)}
