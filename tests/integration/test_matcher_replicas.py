"""Two matcher replicas on the real broker and Redis: they agree, split the lists, survive a kill.

Two matching processes (matcher role only, lexical hub search, replica ids `a` and `b`) and
the notifications service run as real processes. Vectors are written straight to
`profile-vectors.v1` (no model: seeded vectors in clusters, the cards of seeded members).
Each replica publishes under its own service name, so `matches.v1` says who published what.

- Both answer GET matches and hub search alike for 200 sampled members and a few queries.
- Each member's lists come from one replica only while both run.
- An erasure (a tombstone on `profile-vectors.v1`) is reflected by both within 5 s.
- Replica `b` is SIGKILLed, then members change: the survivor publishes every changed list,
  and every inbox holds exactly what the delivery rules make of `matches.v1`, none twice
  (the crash test's rules).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from redis import Redis

from nnmatch.events import (
    EmbeddingModel,
    MatchesComputed,
    MemberCard,
    ProfileVectorsComputed,
    VectorKind,
    decode_event,
    encode_event,
    encode_vector,
)
from nnmatch.profile import BulkProfileLine
from nnmatch_tools import devstack
from nnmatch_tools.launcher import ServiceGroup, ServiceProcess
from nnmatch_tools.ports import free_port
from nnmatch_tools.seed import generate_members
from tests.support import (
    Namespace,
    all_inbox_ids,
    as_hub,
    as_member,
    expected_inboxes,
    forget,
    new_namespace,
    produce_raw,
    read_all,
)

pytestmark = pytest.mark.integration

MEMBERS = 300
SAMPLED = 200
CHANGED = 30
DIMENSIONS = 32
PER_UPDATE = 5
MODEL = EmbeddingModel(
    id="sentence-transformers/all-MiniLM-L6-v2", version="replicas-test", dimensions=DIMENSIONS
)
QUERIES = ("climate data", "health", "mentoring on machine learning", "agriculture")


@pytest.fixture(scope="module")
def replicas_namespace(stack: devstack.DevStack) -> Iterator[Namespace]:
    ns = new_namespace(stack)
    yield ns
    asyncio.run(forget(ns))


def _vectors(
    members: list[BulkProfileLine], version: int, seed: int
) -> list[ProfileVectorsComputed]:
    """Seeded vectors around a few clusters: offers of one cluster fit seeks of the next."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, DIMENSIONS))
    events = []
    for i, line in enumerate(members):
        home = (i * 7 + version) % len(centres)
        rows = {
            VectorKind.PROFILE: centres[home],
            VectorKind.OFFERS: centres[home],
            VectorKind.SEEKS: centres[(home + 1) % len(centres)],
        }
        vectors = {}
        for kind, centre in rows.items():
            row = centre + rng.normal(0, 0.6, DIMENSIONS)
            vectors[kind] = encode_vector((row / np.linalg.norm(row)).astype(np.float32))
        events.append(
            ProfileVectorsComputed(
                producer="tests",
                member_id=line.member_id,
                profile_version=version,
                model=MODEL,
                vectors=vectors,
                text_hashes={k: f"v{version}" for k in VectorKind},
                card=MemberCard.from_profile(line.profile()),
            )
        )
    return events


def _write(ns: Namespace, events: list[ProfileVectorsComputed]) -> None:
    items: list[tuple[bytes, bytes | None]] = [
        (e.member_id.encode(), encode_event(e)) for e in events
    ]
    asyncio.run(produce_raw(ns, "profile-vectors.v1", items))


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _matches(http: httpx.Client, url: str, member: str) -> dict[str, Any]:
    response = http.get(f"{url}/v1/members/{member}/matches", headers=as_member(member))
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _search(http: httpx.Client, url: str, query: str, hub: str) -> list[dict[str, Any]]:
    response = http.post(
        f"{url}/v1/search", json={"query": query, "limit": 50}, headers=as_hub(hub)
    )
    response.raise_for_status()
    return [
        {k: v for k, v in item.items() if k != "computed_at"} for item in response.json()["items"]
    ]


def _updates(ns: Namespace) -> list[MatchesComputed]:
    records = asyncio.run(read_all(ns, "matches.v1"))
    # One member's records share a partition: offset order is the delivery order.
    records.sort(key=lambda r: (r.partition, r.offset))
    return [decode_event(r.value, (MatchesComputed,)) for r in records]


def _stored(ns: Namespace, member_ids: list[str]) -> dict[str, MatchesComputed | None]:
    """The lists the matches store holds (what GET matches serves), with their versions."""
    client = Redis.from_url(ns.stack.redis.address)
    try:
        raw = client.mget([f"{ns.redis_prefix}matches:{m}" for m in member_ids])
    finally:
        client.close()
    return {
        m: MatchesComputed.model_validate_json(value) if value is not None else None
        for m, value in zip(member_ids, raw, strict=True)
    }


def test_two_replicas_agree_split_the_lists_and_survive_a_kill(
    replicas_namespace: Namespace, tmp_path: Path
) -> None:
    ns = replicas_namespace
    env = ns.env() | {
        "NNMATCH_ROLES": '["matcher"]',
        "NNMATCH_SEARCH_DENSE": "false",
        "NNMATCH_EMBEDDING_DIMENSIONS": str(DIMENSIONS),
        "NNMATCH_MATCHER_MAX_RECORDS": "64",
        "NNMATCH_SUGGESTIONS_PER_UPDATE": str(PER_UPDATE),
    }
    notifier = ServiceGroup.create(tmp_path, ports={"notifications": 0}, names=["notifications"])
    replicas = {
        name: ServiceProcess("matching", free_port(), tmp_path / f"matching-{name}.log")
        for name in ("a", "b")
    }

    def replica_env(name: str) -> dict[str, str]:
        return env | {"NNMATCH_REPLICA_ID": name, "NNMATCH_SERVICE_NAME": f"matching-{name}"}

    notifier.start(env, timeout=120)
    for name, replica in replicas.items():
        replica.start(replica_env(name))
    try:
        for replica in replicas.values():
            replica.wait_ready(120)
        a, b = replicas["a"].url, replicas["b"].url
        members = list(generate_members(MEMBERS, seed=11, id_prefix="rep-"))
        ids = [m.member_id for m in members]
        _write(ns, _vectors(members, version=1, seed=3))

        with httpx.Client(timeout=30) as http:
            _wait(
                lambda: all(_matches(http, a, m)["computed_at"] for m in ids),
                90,
                "a list for every member",
            )

            # Same answers on both: GET matches for 200 sampled members, hub search.
            sampled = random.Random(5).sample(ids, SAMPLED)

            def agree() -> bool:
                return all(
                    _matches(http, a, m)["items"] == _matches(http, b, m)["items"] for m in sampled
                )

            _wait(agree, 30, "both replicas to answer GET matches alike")
            hubs = sorted({h for m in members for h in m.profile().hubs})[:3]
            assert hubs, "the seeded members belong to hubs"
            answered = 0
            for hub in hubs:
                for query in QUERIES:
                    on_a, on_b = _search(http, a, query, hub), _search(http, b, query, hub)
                    assert on_a == on_b, f"search {query!r} in {hub} differs"
                    answered += bool(on_a)
            assert answered, "some searches find someone"

            # Each member's lists come from one replica, and both replicas publish some.
            producers: dict[str, set[str]] = defaultdict(set)
            for update in _updates(ns):
                producers[update.member_id].add(update.producer)
            assert {m: p for m, p in producers.items() if len(p) > 1} == {}
            assert set().union(*producers.values()) == {"matching-a", "matching-b"}

            # An erasure is reflected by both within 5 s.
            listed = [s["member_id"] for m in sampled for s in _matches(http, a, m)["items"]]
            erased = max(set(listed), key=listed.count)
            listers = [
                m
                for m in sampled
                if erased in {s["member_id"] for s in _matches(http, a, m)["items"]}
            ]
            asyncio.run(produce_raw(ns, "profile-vectors.v1", [(erased.encode(), None)]))

            def erased_everywhere() -> bool:
                for url in (a, b):
                    if _matches(http, url, erased)["computed_at"] is not None:
                        return False
                    for lister in listers:
                        shown = {s["member_id"] for s in _matches(http, url, lister)["items"]}
                        if erased in shown:
                            return False
                    for hub in hubs:
                        for query in QUERIES:
                            if erased in {s["member_id"] for s in _search(http, url, query, hub)}:
                                return False
                return True

            _wait(erased_everywhere, 5, "the erasure on both replicas")

            # b dies; members on every partition change; a publishes every changed list.
            replicas["b"].kill()
            killed_at = len(_updates(ns))
            alive = [m for m in members if m.member_id != erased]
            changed = random.Random(9).sample(alive, CHANGED)
            _write(ns, _vectors(changed, version=2, seed=4))
            changed_ids = {m.member_id for m in changed}

            def published_all() -> bool:
                stored = _stored(ns, sorted(changed_ids))
                return all(s is not None and s.profile_version == 2 for s in stored.values())

            _wait(published_all, 90, "the survivor to publish every changed member's list")
            after = _updates(ns)[killed_at:]
            assert {u.producer for u in after} == {"matching-a"}, "only the survivor publishes"

            def inboxes_settled() -> bool:
                updates = _updates(ns)
                expected = expected_inboxes(updates, PER_UPDATE)
                actual = {m: all_inbox_ids(http, notifier["notifications"].url, m) for m in ids}
                duplicates = {m: v for m, v in actual.items() if len(v) != len(set(v))}
                assert duplicates == {}, f"suggestions delivered twice: {duplicates}"
                return all(set(actual[m]) == expected.get(m, set()) for m in ids)

            _wait(inboxes_settled, 60, "every inbox to hold exactly the expected suggestions")
    finally:
        for replica in replicas.values():
            replica.stop()
        notifier.stop()
