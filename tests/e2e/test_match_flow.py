"""The whole flow across the three services as real processes, over the real broker and Redis.

A profile written over HTTP becomes a suggestion in another member's inbox; an update changes
what others see; an erased member disappears from matches and inboxes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nnmatch import devstack
from nnmatch.launcher import ServiceGroup
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    as_member,
    as_operator,
    eventually,
    forget,
    new_namespace,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system_namespace(stack: devstack.DevStack) -> Iterator[Namespace]:
    ns = new_namespace(stack)
    yield ns
    asyncio.run(forget(ns))


@pytest.fixture(scope="module")
def services(
    system_namespace: Namespace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceGroup]:
    logs = Path(tmp_path_factory.mktemp("service-logs"))
    group = ServiceGroup.create(logs, ports={"profiles": 0, "matching": 0, "notifications": 0})
    try:
        group.start(system_namespace.env() | {"NNMATCH_LOG_FORMAT": "json"}, timeout=180)
        yield group
    finally:
        group.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def _inbox_ids(http: httpx.AsyncClient, services: ServiceGroup, member: str) -> list[str]:
    response = await http.get(
        f"{services['notifications'].url}/v1/members/{member}/inbox", headers=as_member(member)
    )
    response.raise_for_status()
    return [item["suggestion"]["member_id"] for item in response.json()["items"]]


async def _matches(
    http: httpx.AsyncClient, services: ServiceGroup, member: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{services['matching'].url}/v1/members/{member}/matches", headers=as_member(member)
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _put(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, body: dict[str, Any]
) -> None:
    response = await http.put(
        f"{services['profiles'].url}/v1/members/{member}", json=body, headers=as_member(member)
    )
    assert response.status_code in (200, 201), response.text


async def test_two_complementary_members_find_each_other_in_their_inboxes(
    services: ServiceGroup, http: httpx.AsyncClient
) -> None:
    await _put(http, services, "e2e-amina", AMINA)
    await _put(http, services, "e2e-kofi", KOFI)

    amina_inbox = await eventually(lambda: _has(http, services, "e2e-amina", "e2e-kofi"), 90)
    kofi_inbox = await eventually(lambda: _has(http, services, "e2e-kofi", "e2e-amina"), 90)
    matches = await _matches(http, services, "e2e-amina")

    assert "e2e-kofi" in amina_inbox
    assert "e2e-amina" in kofi_inbox
    kofi = next(m for m in matches if m["member_id"] == "e2e-kofi")
    assert kofi["display_name"] == "Kofi Mensah"
    assert 0 < kofi["score"] <= 1
    kinds = {r["kind"] for r in kofi["reasons"]}
    assert {"offer_meets_seek", "seek_meets_offer", "shared_sdg"} <= kinds


async def _has(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, other: str
) -> list[str] | None:
    ids = await _inbox_ids(http, services, member)
    return ids if other in ids else None


async def test_an_update_changes_what_the_other_member_is_shown(
    services: ServiceGroup, http: httpx.AsyncClient
) -> None:
    await _put(http, services, "e2e-upd-a", AMINA)
    await _put(http, services, "e2e-upd-k", KOFI)
    await eventually(lambda: _listed(http, services, "e2e-upd-a", "e2e-upd-k"), 90)

    renamed = {**KOFI, "display_name": "Kofi A. Mensah", "headline": "Cassava data lead"}
    await _put(http, services, "e2e-upd-k", renamed)
    shown = await eventually(
        lambda: _listed(http, services, "e2e-upd-a", "e2e-upd-k", name="Kofi A. Mensah"), 90
    )
    assert shown["headline"] == "Cassava data lead"

    # Now they share no language: the other member drops out of the list.
    await _put(http, services, "e2e-upd-k", {**renamed, "languages": ["fr"]})
    await eventually(lambda: _not_listed(http, services, "e2e-upd-a", "e2e-upd-k"), 90)


async def _listed(
    http: httpx.AsyncClient,
    services: ServiceGroup,
    member: str,
    other: str,
    name: str | None = None,
) -> dict[str, Any] | None:
    for item in await _matches(http, services, member):
        if item["member_id"] == other and (name is None or item["display_name"] == name):
            return item
    return None


async def _not_listed(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, other: str
) -> bool:
    return all(i["member_id"] != other for i in await _matches(http, services, member))


async def _not_in_inbox(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, other: str
) -> bool:
    return other not in await _inbox_ids(http, services, member)


async def test_an_erased_member_disappears_from_matches_and_later_suggestions(
    services: ServiceGroup, http: httpx.AsyncClient
) -> None:
    await _put(http, services, "e2e-del-a", AMINA)
    await _put(http, services, "e2e-del-k", KOFI)
    await eventually(lambda: _listed(http, services, "e2e-del-a", "e2e-del-k"), 90)

    await eventually(lambda: _has(http, services, "e2e-del-a", "e2e-del-k"), 90)
    response = await http.delete(
        f"{services['profiles'].url}/v1/members/e2e-del-k", headers=as_member("e2e-del-k")
    )
    assert response.status_code == 202
    await eventually(lambda: _not_listed(http, services, "e2e-del-a", "e2e-del-k"), 90)
    await eventually(lambda: _not_in_inbox(http, services, "e2e-del-a", "e2e-del-k"), 90)
    own = await http.get(
        f"{services['notifications'].url}/v1/members/e2e-del-k/inbox",
        headers=as_member("e2e-del-k"),
    )
    assert own.json()["items"] == []

    # A newcomer who fits both gets a list without the erased member.
    await _put(http, services, "e2e-del-new", {**KOFI, "display_name": "Esi Owusu"})
    newcomer = await eventually(lambda: _listed(http, services, "e2e-del-new", "e2e-del-a"), 90)
    assert newcomer["display_name"] == "Amina Yusuf"
    assert await _listed(http, services, "e2e-del-new", "e2e-del-k") is None
    gone = await http.get(f"{services['profiles'].url}/v1/members/e2e-del-k", headers=as_operator())
    assert gone.status_code == 404
