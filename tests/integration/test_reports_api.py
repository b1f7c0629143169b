"""Reports and suspensions through the real profiles and notifications apps, over the real
broker and Redis: who may do what, what lands on `moderation.v1` and `profiles.v1`, the
reporter's one inbox item, and the audit trail (ids only). The report store's contract of
tests/unit/test_reports.py also runs here, on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from nnmatch.events import ProfileUpserted, ReportResolved, decode_event
from nnmatch.topics import MODERATION, PROFILES
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.report_store import RedisReportStore, ReportStore
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools import devstack
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    as_hub,
    as_member,
    as_operator,
    eventually,
    forget,
    latest_values,
    new_namespace,
    serving,
)
from tests.unit.test_reports import *  # noqa: F403 - the store contract, run here on Redis

pytestmark = pytest.mark.integration


@pytest.fixture  # type: ignore[no-redef]
async def report_store(namespace: Namespace) -> AsyncIterator[ReportStore]:
    """Replaces the unit module's fixture: the same tests, on Redis."""
    client = Redis.from_url(namespace.stack.redis.address)
    yield RedisReportStore(client, namespace.redis_prefix)
    await client.aclose()


@dataclass(frozen=True)
class Apps:
    namespace: Namespace
    profiles: httpx.AsyncClient
    notifications: httpx.AsyncClient


@pytest.fixture(scope="module")
async def apps(stack: devstack.DevStack) -> AsyncIterator[Apps]:
    namespace = new_namespace(stack)
    profiles = build_profiles(ProfilesSettings(**namespace.settings()))
    notifications = build_notifications(NotificationsSettings(**namespace.settings()))
    try:
        async with serving(profiles) as p, serving(notifications) as n:
            for member, body in (("rep-a", AMINA), ("rep-b", AMINA), ("rep-t", KOFI)):
                put = await p.put(f"/v1/members/{member}", json=body)
                assert put.status_code == 201, put.text
            yield Apps(namespace, p, n)
    finally:
        await forget(namespace)


def _report(target: str = "rep-t", **changes: Any) -> dict[str, Any]:
    return {
        "target_id": target,
        "source": "suggestion",
        "reason": "harassment",
        "text": "rude messages about my thesis",
    } | changes


async def _inbox(apps: Apps, member: str) -> list[dict[str, Any]]:
    response = await apps.notifications.get(
        f"/v1/members/{member}/inbox", headers=as_member(member)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _audit(apps: Apps, target: str | None = None) -> list[dict[str, Any]]:
    params = {"limit": 100} | ({"target": target} if target else {})
    page = await apps.profiles.get("/v1/audit", params=params)
    assert page.status_code == 200, page.text
    return [entry["record"] for entry in page.json()["items"]]


async def test_bad_reports_get_a_4xx_with_the_reason(apps: Apps) -> None:
    post = apps.profiles.post
    me = as_member("rep-a")

    cases = {
        "self": await post("/v1/members/rep-a/reports", json=_report("rep-a"), headers=me),
        "unknown": await post("/v1/members/rep-a/reports", json=_report("rep-zz"), headers=me),
        "reason": await post(
            "/v1/members/rep-a/reports", json=_report(reason="dislike"), headers=me
        ),
        "long": await post("/v1/members/rep-a/reports", json=_report(text="x" * 1001), headers=me),
        "for another": await post(
            "/v1/members/rep-b/reports", json=_report(), headers=as_member("rep-a")
        ),
        "operator": await post("/v1/members/rep-a/reports", json=_report()),
    }

    assert {k: r.status_code for k, r in cases.items()} == {
        "self": 422,
        "unknown": 404,
        "reason": 422,
        "long": 422,
        "for another": 403,
        "operator": 403,
    }
    assert "themself" in cases["self"].json()["detail"]
    assert "rep-zz" in cases["unknown"].json()["detail"]


async def test_only_operators_see_the_queue_and_decide(apps: Apps) -> None:
    for headers in (as_member("rep-a"), as_hub("yail-nairobi")):
        queue = await apps.profiles.get("/v1/reports", headers=headers)
        dismiss = await apps.profiles.post(f"/v1/reports/r-{'0' * 32}/dismiss", headers=headers)
        suspend = await apps.profiles.post("/v1/members/rep-t/suspension", headers=headers)
        lift = await apps.profiles.delete("/v1/members/rep-t/suspension", headers=headers)
        assert [r.status_code for r in (queue, dismiss, suspend, lift)] == [403] * 4

    unknown = await apps.profiles.post(f"/v1/reports/r-{'0' * 32}/dismiss")
    malformed = await apps.profiles.post("/v1/reports/nonsense/dismiss")
    not_suspended = await apps.profiles.delete("/v1/members/rep-b/suspension")
    assert [r.status_code for r in (unknown, malformed, not_suspended)] == [404, 404, 404]


async def test_dismissal_tells_the_reporter_once_and_is_audited_without_the_text(
    apps: Apps,
) -> None:
    filed = await apps.profiles.post(
        "/v1/members/rep-b/reports", json=_report(), headers=as_member("rep-b")
    )
    assert filed.status_code == 201, filed.text
    report_id = filed.json()["report_id"]
    again = await apps.profiles.post(
        "/v1/members/rep-b/reports", json=_report(), headers=as_member("rep-b")
    )
    assert again.status_code == 409
    queue = await apps.profiles.get("/v1/reports", params={"status": "open"})
    assert report_id in [r["report_id"] for r in queue.json()["items"]]
    assert queue.json()["items"][0]["text"] == "rude messages about my thesis"

    dismissed = await apps.profiles.post(
        f"/v1/reports/{report_id}/dismiss", headers=as_operator() | {"x-request-id": "rq-dis"}
    )
    twice = await apps.profiles.post(f"/v1/reports/{report_id}/dismiss")

    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed"
    assert twice.status_code == 409
    items = await eventually(lambda: _inbox(apps, "rep-b"), 60)
    assert [i["kind"] for i in items] == ["report_outcome"]
    assert "no action" in items[0]["suggestion"]["reasons"][0]["text"]
    records = await _audit(apps, "rep-t")
    assert any(r["action"] == "report_dismiss" and r["request_id"] == "rq-dis" for r in records)
    assert "thesis" not in str(await _audit(apps))


async def test_suspension_hides_the_member_by_the_visibility_path_and_is_reversible(
    apps: Apps,
) -> None:
    filed = await apps.profiles.post(
        "/v1/members/rep-a/reports", json=_report(), headers=as_member("rep-a")
    )
    assert filed.status_code == 201, filed.text
    report_id = filed.json()["report_id"]

    suspended = await apps.profiles.post(
        "/v1/members/rep-t/suspension", json={"report_id": report_id}
    )

    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["resolved_reports"] == [report_id]
    # On the topic the member is not discoverable; their own profile keeps their choice.
    own = await apps.profiles.get("/v1/members/rep-t", headers=as_member("rep-t"))
    assert own.json()["profile"]["visibility"]["discoverable"] is True
    hub_view = await apps.profiles.get("/v1/members/rep-t", headers=as_hub("yail-nairobi"))
    assert hub_view.status_code == 404
    assert (await _latest_profile(apps, "rep-t")).profile.visibility.discoverable is False
    outcomes = await _outcomes(apps)
    assert outcomes[report_id].outcome == "suspended"
    items = await eventually(lambda: _inbox(apps, "rep-a"), 60)
    assert [i["kind"] for i in items] == ["report_outcome"]
    assert "suspended" in items[0]["suggestion"]["reasons"][0]["text"]

    lifted = await apps.profiles.delete("/v1/members/rep-t/suspension")

    assert lifted.status_code == 200
    assert (await _latest_profile(apps, "rep-t")).profile.visibility.discoverable is True
    assert (
        await apps.profiles.get("/v1/members/rep-t", headers=as_hub("yail-nairobi"))
    ).status_code == 200
    actions = [r["action"] for r in await _audit(apps, "rep-t")]
    assert {"suspension", "unsuspension"} <= set(actions)
    assert len(await _inbox(apps, "rep-a")) == 1  # still one item


async def _latest_profile(apps: Apps, member: str) -> ProfileUpserted:
    value = (await latest_values(apps.namespace, PROFILES.name))[member.encode()]
    assert value is not None
    return decode_event(value, (ProfileUpserted,))


async def _outcomes(apps: Apps) -> dict[str, ReportResolved]:
    values = await latest_values(apps.namespace, MODERATION.name)
    return {
        key.decode().removeprefix("report/"): decode_event(value, (ReportResolved,))
        for key, value in values.items()
        if value is not None and key.startswith(b"report/")
    }


async def test_an_erased_member_takes_their_reports_with_them(apps: Apps) -> None:
    for member in ("rep-x", "rep-y"):
        put = await apps.profiles.put(f"/v1/members/{member}", json=KOFI)
        assert put.status_code == 201, put.text
    filed = await apps.profiles.post(
        "/v1/members/rep-x/reports",
        json=_report("rep-y", text="unique-erasure-words"),
        headers=as_member("rep-x"),
    )
    assert filed.status_code == 201, filed.text

    erased = await apps.profiles.delete("/v1/members/rep-y", headers=as_member("rep-y"))

    assert erased.status_code == 202
    queue = await apps.profiles.get("/v1/reports", params={"limit": 100})
    assert "unique-erasure-words" not in queue.text
    redis = Redis.from_url(apps.namespace.stack.redis.address)

    left: list[bytes] = []

    async def nothing_left() -> bool:
        # The erasure reaches notifications through profiles.v1 after the 202: wait for it.
        left[:] = [k async for k in redis.scan_iter(f"{apps.namespace.redis_prefix}*rep-y*")]
        return not left

    try:
        await eventually(nothing_left, timeout=30)
    except AssertionError:
        raise AssertionError(f"keys still name the erased member: {left}") from None
    finally:
        await redis.aclose()
