"""Commit-after-work, proved by SIGKILL: no profile's matches and no suggestion is lost or doubled.

The matching service (embedder + matcher) and the notifications service are killed with
SIGKILL in the middle of the stream, then restarted. Afterwards every accepted profile has
its matches, and every member's inbox holds exactly the suggestions that replaying
`matches.v1` through the delivery rules gives: no fewer (nothing lost), no repeats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from nnmatch.events import MatchesComputed, decode_event
from nnmatch_tools import devstack
from nnmatch_tools.client import NnmatchClient, metric_sum, scrape
from nnmatch_tools.launcher import ServiceGroup
from nnmatch_tools.seed import generate_members
from tests.support import (
    Namespace,
    all_inbox_ids,
    as_member,
    dev_tokens,
    expected_inboxes,
    forget,
    new_namespace,
    read_all,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

MEMBERS = 160
PER_UPDATE = 5
CONSUMED = "nnmatch_kafka_records_consumed_total"


@pytest.fixture(scope="module")
def crash_namespace(stack: devstack.DevStack) -> Iterator[Namespace]:
    ns = new_namespace(stack)
    yield ns
    asyncio.run(forget(ns))


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _consumed(url: str, group: str) -> float:
    try:
        return metric_sum(scrape(url), CONSUMED, group=group)
    except httpx.HTTPError:
        return 0.0


def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    crash_namespace: Namespace, tmp_path: Path
) -> None:
    env = crash_namespace.env() | {
        "NNMATCH_EMBEDDER_MAX_RECORDS": "16",
        "NNMATCH_MATCHER_MAX_RECORDS": "16",
        "NNMATCH_MAX_RECORDS": "8",
        "NNMATCH_SUGGESTIONS_PER_UPDATE": str(PER_UPDATE),
        # Every update delivered as it comes (no quiet-import hold): the replay below predicts
        # each inbox update by update.
        "NNMATCH_NOTIFY_SETTLE_SECONDS": "0",
        # Lists ranked as members arrive (no import pause): the kill lands mid-stream of them.
        "NNMATCH_MATCHER_IMPORT_QUIET_S": "0",
    }
    group = ServiceGroup.create(tmp_path, ports={"profiles": 0, "matching": 0, "notifications": 0})
    group.start(env, timeout=180)
    try:
        matching, notifications = group["matching"], group["notifications"]
        client = NnmatchClient(dev_tokens(), group["profiles"].url)
        members = list(generate_members(MEMBERS, seed=7, id_prefix="crash-"))
        assert client.bulk_import(members)["accepted"] == MEMBERS

        # Kill both in the middle: some profiles embedded, some suggestions delivered.
        _wait(
            lambda: (
                _consumed(matching.url, "nnmatch-embedder") >= 32
                and _consumed(notifications.url, "nnmatch-notifier") >= 1
            ),
            240,
            "the pipeline to be under way",
        )
        embedded_before = _consumed(matching.url, "nnmatch-embedder")
        matching.kill()
        notifications.kill()
        assert embedded_before < MEMBERS, "killed too late to prove anything"

        matching.start(env)
        notifications.start(env)
        matching.wait_ready(180)
        notifications.wait_ready(60)

        with httpx.Client(timeout=30) as http:
            ids = [m.member_id for m in members]

            def every_member_matched() -> bool:
                return all(
                    http.get(f"{matching.url}/v1/members/{m}/matches", headers=as_member(m)).json()[
                        "computed_at"
                    ]
                    for m in ids
                )

            _wait(every_member_matched, 400, "matches for every accepted profile")

            differences: dict[str, dict[str, list[str]]] = {}

            def inboxes_settled() -> bool:
                records = asyncio.run(read_all(crash_namespace, "matches.v1"))
                # One member's records share a partition: offset order is the delivery order.
                records.sort(key=lambda r: (r.partition, r.offset))
                updates = [decode_event(r.value, (MatchesComputed,)) for r in records]
                expected = expected_inboxes(updates, PER_UPDATE)
                actual = {m: all_inbox_ids(http, notifications.url, m) for m in ids}
                duplicates = {m: v for m, v in actual.items() if len(v) != len(set(v))}
                assert duplicates == {}, f"suggestions delivered twice: {duplicates}"
                differences.clear()
                for m in ids:
                    held, wanted = set(actual[m]), expected.get(m, set())
                    if held != wanted:
                        differences[m] = {
                            "missing": sorted(wanted - held),
                            "unexpected": sorted(held - wanted),
                        }
                return not differences

            try:
                _wait(inboxes_settled, 120, "every inbox to hold exactly the expected suggestions")
            except AssertionError as exc:
                shown = dict(list(differences.items())[:5])
                what = f"{len(differences)} inboxes differ, e.g. {shown}"
                raise AssertionError(f"{exc}: {what}") from None
            records = asyncio.run(read_all(crash_namespace, "matches.v1"))
            matched = {decode_event(r.value, (MatchesComputed,)).member_id for r in records}
            assert matched >= set(ids)
    finally:
        group.stop()
