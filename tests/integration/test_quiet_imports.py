"""Quiet imports on the real broker and Redis: the notifications consumers see profiles a bulk
import wrote, then a stream of matches updates they caused; the member's inbox gets one
settled batch from the final list, not the stream, and a live update afterwards is delivered
as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from nnmatch.events import MatchesComputed, ProfileUpserted, Suggestion, encode_event, utc_now
from nnmatch_notifications.bootstrap import build_app
from nnmatch_notifications.settings import NotificationsSettings
from tests.support import Namespace, as_member, eventually, produce_raw, serving
from tests.unit.builders import amina

pytestmark = pytest.mark.integration

WINDOW_S = 4.0
SETTLED = 3


@pytest.fixture
async def service(namespace: Namespace) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(
        NotificationsSettings(
            **namespace.settings(notify_settle_seconds=WINDOW_S, settled_suggestions=SETTLED)
        )
    )
    async with serving(app, headers={}) as client:
        yield client


def _list(member: str, candidates: list[str], source: datetime) -> tuple[bytes, bytes]:
    event = MatchesComputed(
        producer="matching",
        member_id=member,
        profile_version=1,
        model_id="mini@test",
        suggestions=[
            Suggestion(
                member_id=c, display_name=c, country="KE", score=0.9 - i / 100, computed_at=source
            )
            for i, c in enumerate(candidates)
        ],
        source_occurred_at=source,
    )
    return member.encode(), encode_event(event)


async def _import(namespace: Namespace, members: list[str], at: datetime) -> None:
    """What the bulk route writes: profiles marked as imported, all of one chunk's time."""
    events = [
        ProfileUpserted(
            producer="profiles",
            occurred_at=at,
            member_id=m,
            version=1,
            profile=amina(display_name=m),
            origin="import",
        )
        for m in members
    ]
    await produce_raw(
        namespace, "profiles.v1", [(e.member_id.encode(), encode_event(e)) for e in events]
    )


async def _inbox(http: httpx.AsyncClient, member: str) -> list[dict[str, object]]:
    response = await http.get(f"/v1/members/{member}/inbox", headers=as_member(member))
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()["items"]
    return items


def _candidates(items: list[dict[str, object]]) -> list[str]:
    return [str(i["suggestion"]["member_id"]) for i in items]  # type: ignore[index]


async def _recorded(namespace: Namespace) -> int:
    redis = Redis.from_url(namespace.stack.redis.address)
    try:
        return int(await redis.zcard(f"{namespace.redis_prefix}import-sources"))
    finally:
        await redis.aclose()


async def test_an_imported_member_gets_one_settled_batch_then_live_updates_as_before(
    namespace: Namespace, service: httpx.AsyncClient
) -> None:
    member = "qi-amina"
    others = [f"qi-{i}" for i in range(8)]
    imported_at = utc_now() - timedelta(seconds=1)
    await _import(namespace, [member], imported_at)  # the others: members from before
    await eventually(lambda: _recorded(namespace), 120)  # the profiles consumer joined

    intermediate = [others[0:2], others[1:4], others[5:8] + others[0:1]]
    final = [others[4], others[7], others[2], others[6], others[3]]
    await produce_raw(
        namespace, "matches.v1", [_list(member, c, imported_at) for c in [*intermediate, final]]
    )
    delivered = await eventually(lambda: _inbox(service, member), 120)
    await asyncio.sleep(WINDOW_S)  # give a wrong second batch the time to show up
    settled = await _inbox(service, member)

    live_edit = utc_now()
    await produce_raw(namespace, "matches.v1", [_list(member, ["qi-live", *final], live_edit)])
    after_live = await eventually(
        lambda: _has(service, member, "qi-live"), 90
    )  # the e2e tests' bound for a live change

    assert sorted(_candidates(delivered)) == sorted(final[:SETTLED])  # the final list's top 3
    assert _candidates(settled) == _candidates(delivered)  # one batch, nothing after it
    assert len({i["created_at"] for i in settled}) == 1  # written at once
    # A live list adds its new pairs at once, as before: the edit's and the two not yet shown.
    assert sorted(_candidates(after_live)) == sorted(["qi-live", *final])


async def _has(http: httpx.AsyncClient, member: str, candidate: str) -> list[dict[str, object]]:
    items = await _inbox(http, member)
    return items if candidate in _candidates(items) else []
