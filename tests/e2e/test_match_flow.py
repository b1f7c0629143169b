"""The whole flow across the three services as real processes, over the real broker and Redis.

A profile written over HTTP becomes a suggestion in another member's inbox; an update changes
what others see; an erased member disappears from matches and inboxes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from nnmatch.audit import AuditAction, AuditRecord
from nnmatch.auth import Role
from nnmatch.topics import ALL_TOPICS
from nnmatch_tools import devstack
from nnmatch_tools.client import metric_sum, scrape
from nnmatch_tools.launcher import ServiceGroup
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    as_member,
    as_operator,
    dev_tokens,
    eventually,
    forget,
    latest_values,
    new_namespace,
    opened_records,
    read_all,
    redis_mentions,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


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
    # End-to-end latency, from the profile change to the suggestion in an inbox, is measured.
    samples = scrape(services["notifications"].url)
    assert metric_sum(samples, "nnmatch_pipeline_latency_seconds_count", stage="end_to_end") > 0


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


async def _leave_traces(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, other: str
) -> None:
    """Contact details, preferences, an accept in the inbox and a dismiss in matching."""
    notifications, matching = services["notifications"].url, services["matching"].url
    me = as_member(member)
    contact = await http.put(
        f"{notifications}/v1/members/{member}/contact",
        json={"email": f"{member}@example.org", "share_in_introductions": ["email"]},
        headers=me,
    )
    prefs = await http.put(
        f"{notifications}/v1/members/{member}/preferences", json={"daily_cap": 3}, headers=me
    )
    inbox = (await http.get(f"{notifications}/v1/members/{member}/inbox", headers=me)).json()
    item = next(i for i in inbox["items"] if i["suggestion"]["member_id"] == other)
    accept = await http.post(
        f"{notifications}/v1/members/{member}/inbox/{item['item_id']}/feedback",
        json={"action": "accept"},
        headers=me,
    )
    dismiss = await http.post(
        f"{matching}/v1/members/{member}/feedback",
        json={"candidate_id": other, "action": "dismiss"},
        headers=me,
    )
    statuses = [r.status_code for r in (contact, prefs, accept, dismiss)]
    assert statuses == [200, 200, 202, 202], [r.text for r in (contact, prefs, accept, dismiss)]


async def _assert_erased_everywhere(namespace: Namespace, member: str) -> None:
    """Scan every Redis key and value of the deployment and the latest value per key of every
    compacted topic: the id remains only in tombstones and the erasure audit record."""
    audit = f"{namespace.redis_prefix}audit:log"
    deadline = asyncio.get_running_loop().time() + 90
    while True:  # other members' lists are recomputed asynchronously
        redis_residue = [
            key
            for key in await redis_mentions(
                namespace.stack.redis.address, namespace.redis_prefix, member
            )
            if key != audit
        ]
        topic_residue = []
        for spec in (t for t in ALL_TOPICS if t.compacted):
            for key, value in (await latest_values(namespace, spec.name)).items():
                if key == member.encode() and value is not None:
                    topic_residue.append(f"{spec.name}: latest value of its key is not a tombstone")
                elif key != member.encode() and value is not None and member.encode() in value:
                    topic_residue.append(f"{spec.name}: named in the value of key {key!r}")
        if not redis_residue and not topic_residue:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{member} remains in {redis_residue} and {topic_residue}")
        await asyncio.sleep(1)
    redis: Any = Redis.from_url(namespace.stack.redis.address)
    async with redis:
        entries = await redis.xrange(audit)
    records = [
        record
        for _, fields in entries
        if (record := AuditRecord.model_validate_json(fields[b"json"])).target == member
    ]
    erasures = [(r.actor_role, r.actor) for r in records if r.action is AuditAction.ERASURE]
    assert erasures == [(Role.MEMBER, member)]


async def _readable_in_kafka(namespace: Namespace, needles: list[str]) -> list[str]:
    """Where any needle can be read in any record of any topic or DLQ: every record, not only
    the latest per key, both as the broker holds it and opened with the member keys that
    exist now (as any service could), dead letters' kept values decoded too."""
    found: list[str] = []
    for spec in ALL_TOPICS:
        for topic in (spec.name, spec.dlq):
            raw = await read_all(namespace, topic, sealed=True)
            opened = await opened_records(namespace, raw)
            for how, records in (("raw", raw), ("opened", opened)):
                for record in records:
                    texts = [record.value or b"", *_kept_value(record.value)]
                    found += [
                        f"{topic}@{record.partition}/{record.offset} ({how}): {needle}"
                        for needle in needles
                        for text in texts
                        if needle.encode() in text
                    ]
    return found


def _kept_value(value: bytes | None) -> list[bytes]:
    """A dead letter's kept record, base64-decoded (nothing for any other value)."""
    with contextlib.suppress(ValueError):
        letter = json.loads(value or b"null")
        kept = letter.get("value_b64") if isinstance(letter, dict) else None
        if isinstance(kept, str):
            return [base64.b64decode(kept)]
    return []


async def _not_in_inbox(
    http: httpx.AsyncClient, services: ServiceGroup, member: str, other: str
) -> bool:
    return other not in await _inbox_ids(http, services, member)


async def test_an_erased_member_disappears_from_matches_and_later_suggestions(
    services: ServiceGroup, http: httpx.AsyncClient, system_namespace: Namespace
) -> None:
    await _put(http, services, "e2e-del-a", AMINA)
    erased_name = "Kwame Shredded"  # no other member of this module has it
    await _put(http, services, "e2e-del-k", {**KOFI, "display_name": erased_name})
    await eventually(lambda: _listed(http, services, "e2e-del-a", "e2e-del-k"), 90)

    await eventually(lambda: _has(http, services, "e2e-del-a", "e2e-del-k"), 90)
    await eventually(lambda: _has(http, services, "e2e-del-k", "e2e-del-a"), 90)
    # The member also left contact details, preferences and feedback: erasure must reach all.
    await _leave_traces(http, services, "e2e-del-k", "e2e-del-a")
    personal = [erased_name, "e2e-del-k@example.org"]
    before = await _readable_in_kafka(system_namespace, personal)
    assert any("(opened)" in f and erased_name in f for f in before), "the scan reads topics"
    assert not any("(raw)" in f for f in before), f"personal data in the clear: {before}"
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
    await _assert_erased_everywhere(system_namespace, "e2e-del-k")
    # Whatever the broker compacts or not: every record of every topic, raw or opened.
    assert await _readable_in_kafka(system_namespace, personal) == []
    assert await _listed(http, services, "e2e-del-new", "e2e-del-k") is None
    gone = await http.get(f"{services['profiles'].url}/v1/members/e2e-del-k", headers=as_operator())
    assert gone.status_code == 404


async def test_service_logs_carry_no_bios_emails_or_tokens(
    services: ServiceGroup, http: httpx.AsyncClient
) -> None:
    """Runs last in this module: every service's log of the whole flow above, plus requests
    built to tempt a leak (a bad token, a rejected body full of personal data)."""
    email = "amina.leak@example.org"
    token = dev_tokens().token(Role.MEMBER, "e2e-amina")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    rejected = await http.put(
        f"{services['profiles'].url}/v1/members/e2e-amina",
        json={**AMINA, "bio": f"write to {email} " * 2_000},
        headers=as_member("e2e-amina"),
    )
    refused = await http.get(
        f"{services['matching'].url}/v1/members/e2e-amina/matches",
        headers={"authorization": f"Bearer {tampered}"},
    )
    assert rejected.status_code == 422
    assert refused.status_code == 401
    await asyncio.sleep(1)  # let the services flush their logs

    secrets = [AMINA["bio"], KOFI["bio"], AMINA["offers"]["text"], KOFI["seeks"]["text"]]
    for name, service in services.services.items():
        text = service.log_path.read_text(errors="replace")
        assert text.strip(), f"{name} wrote no log at all: the check would prove nothing"
        for secret in secrets:
            assert secret not in text, f"{name}'s log carries a bio or intent text"
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), f"{name}'s log has an e-mail"
        assert "eyJ" not in text, f"{name}'s log carries a token"
        assert token.split(".")[2] not in text
