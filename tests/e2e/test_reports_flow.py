"""Reports and suspensions across the three services as real processes, over the real broker
and Redis: a member reports another, an operator suspends them and they leave every list and
hub search within the pipeline's usual latency; unsuspending brings them back, and the
reporter gets exactly one inbox item with the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nnmatch_tools import devstack
from nnmatch_tools.launcher import ServiceGroup
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    as_hub,
    as_member,
    as_operator,
    eventually,
    forget,
    new_namespace,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LATENCY_S = 90  # the bound the other end-to-end tests give a profile change to reach lists


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
        group.start(system_namespace.env(), timeout=180)
        yield group
    finally:
        group.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def _listed_ids(http: httpx.AsyncClient, services: ServiceGroup, member: str) -> list[str]:
    response = await http.get(
        f"{services['matching'].url}/v1/members/{member}/matches", headers=as_member(member)
    )
    response.raise_for_status()
    return [m["member_id"] for m in response.json()["items"]]


async def _found_by_hub(http: httpx.AsyncClient, services: ServiceGroup) -> list[str]:
    response = await http.post(
        f"{services['matching'].url}/v1/search",
        json={"query": "labelled cassava field data", "limit": 20},
        headers=as_hub("yail-nairobi"),
    )
    response.raise_for_status()
    return [m["member_id"] for m in response.json()["items"]]


async def _inbox(http: httpx.AsyncClient, services: ServiceGroup, member: str) -> list[Any]:
    response = await http.get(
        f"{services['notifications'].url}/v1/members/{member}/inbox", headers=as_member(member)
    )
    response.raise_for_status()
    items: list[Any] = response.json()["items"]
    return items


async def test_a_reported_member_is_suspended_hidden_everywhere_and_brought_back(
    services: ServiceGroup, http: httpx.AsyncClient
) -> None:
    profiles = services["profiles"].url
    for member, body in (("rf-amina", AMINA), ("rf-kofi", KOFI)):
        put = await http.put(
            f"{profiles}/v1/members/{member}", json=body, headers=as_member(member)
        )
        assert put.status_code == 201, put.text

    async def kofi_everywhere() -> bool:
        listed = "rf-kofi" in await _listed_ids(http, services, "rf-amina")
        return listed and "rf-kofi" in await _found_by_hub(http, services)

    await eventually(kofi_everywhere, LATENCY_S)
    report = await http.post(
        f"{profiles}/v1/members/rf-amina/reports",
        json={"target_id": "rf-kofi", "source": "suggestion", "reason": "spam", "text": "ads"},
        headers=as_member("rf-amina"),
    )
    assert report.status_code == 201, report.text

    suspended = await http.post(
        f"{profiles}/v1/members/rf-kofi/suspension",
        json={"report_id": report.json()["report_id"]},
        headers=as_operator(),
    )
    assert suspended.status_code == 200, suspended.text

    async def kofi_gone() -> bool:
        listed = "rf-kofi" in await _listed_ids(http, services, "rf-amina")
        return not listed and "rf-kofi" not in await _found_by_hub(http, services)

    await eventually(kofi_gone, LATENCY_S)

    async def outcome() -> list[Any]:
        items = await _inbox(http, services, "rf-amina")
        return [i for i in items if i["kind"] == "report_outcome"]

    [told] = await eventually(outcome, LATENCY_S)
    assert told["suggestion"]["member_id"] == "rf-kofi"
    assert "suspended" in told["suggestion"]["reasons"][0]["text"]

    lifted = await http.delete(f"{profiles}/v1/members/rf-kofi/suspension", headers=as_operator())
    assert lifted.status_code == 200, lifted.text
    await eventually(kofi_everywhere, LATENCY_S)
    # Exactly one outcome item, after the suspension and its end both went through.
    items = await _inbox(http, services, "rf-amina")
    assert [i["kind"] for i in items].count("report_outcome") == 1
