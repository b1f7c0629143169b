"""Restart from a snapshot over the real broker and Redis: the matcher role in-process.

Synthetic 4-d `ProfileVectorsComputed` go straight onto `profile-vectors.v1` (no model). The
first matcher indexes them and writes its snapshot; while it is down a member changes and
another is erased; the second matcher loads the snapshot, replays only those two records and
ends with exactly the state a from-scratch rebuild of the topic gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from nnmatch.events import ProfileVectorsComputed, encode_event
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.deps import MatchingServices
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.replay import replay_vectors
from nnmatch_matching.matcher.snapshot import load_snapshot, snapshot_path
from nnmatch_matching.settings import MatchingSettings
from tests.support import Namespace, as_member, eventually, produce_raw, serving
from tests.unit.builders import mentee_vectors, mentor_vectors

pytestmark = pytest.mark.integration

ME = "me-mentor"
MENTEES = [f"m{i}" for i in range(6)]


async def _write(namespace: Namespace, *records: tuple[str, ProfileVectorsComputed | None]) -> None:
    await produce_raw(
        namespace,
        "profile-vectors.v1",
        [(key.encode(), None if e is None else encode_event(e)) for key, e in records],
    )


def _app(namespace: Namespace, snapshots: Path) -> Any:
    settings = MatchingSettings(
        **namespace.settings(
            roles=["matcher"],
            top_n=2,
            embedding_dimensions=4,
            embedding_model_id="test-model",
            search_dense=False,
            snapshot_dir=snapshots,
            snapshot_interval_s=0.5,
        )
    )
    return build_app(settings)


def _contents(engine: MatchEngine) -> dict[str, Any]:
    state = engine.export_state()
    order = np.argsort(state.member_ids)
    return {
        "model": state.model_id,
        "ids": sorted(state.member_ids),
        "vectors": {k.value: v[order].tolist() for k, v in state.vectors.items()},
        "cards": [state.cards[i] for i in order],
        "versions": [state.profile_versions[i] for i in order],
        "positions": [state.positions[i] for i in order],
        "removed": state.removed,
    }


async def _listed(client: httpx.AsyncClient, member_id: str) -> list[str]:
    response = await client.get(f"/v1/members/{member_id}/matches", headers=as_member(member_id))
    assert response.status_code == 200, response.text
    return [item["member_id"] for item in response.json()["items"]]


async def _metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_restart_loads_the_snapshot_and_replays_only_what_came_after(
    namespace: Namespace, tmp_path: Path
) -> None:
    await ensure_topics(namespace.kafka())
    await _write(
        namespace,
        (ME, mentor_vectors(ME)),
        *((m, mentee_vectors(m, i)) for i, m in enumerate(MENTEES)),
    )
    before = _app(namespace, tmp_path)
    path = snapshot_path(tmp_path, namespace.topic("profile-vectors.v1"))
    async with serving(before) as client:
        assert await _metric(client, "nnmatch_snapshot_loaded_members") == 0
        assert await _metric(client, "nnmatch_replayed_records") == 7, "no snapshot: everything"

        async def snapshotted() -> bool:
            written = load_snapshot(path) if path.exists() else None
            return written is not None and len(written.state.member_ids) == 7

        await eventually(snapshotted, timeout=30)
        assert await _listed_eventually(client, ME, ["m0", "m1"])
    saved = load_snapshot(path)
    assert saved is not None
    assert sorted(saved.state.member_ids) == sorted([ME, *MENTEES])

    # While the matcher is down: m0 changes (now fits mentors least) and m1 is erased.
    await _write(namespace, ("m0", mentee_vectors("m0", 9, profile_version=2)), ("m1", None))

    after = _app(namespace, tmp_path)
    async with serving(after) as client:
        assert await _metric(client, "nnmatch_snapshot_loaded_members") == 7
        assert await _metric(client, "nnmatch_replayed_records") == 2, "only the two new records"
        services: MatchingServices = after.state.services
        engine = services.engine
        assert engine is not None
        assert "m1" not in engine
        assert engine.profile_version("m0") == 2
        assert await _listed_eventually(client, ME, ["m2", "m3"])

        rebuilt = MatchEngine(dimensions=4, top_n=2)
        assert await replay_vectors(namespace.kafka(), rebuilt, keys=MemoryMemberKeys()) == 9
        assert _contents(engine) == _contents(rebuilt), "snapshot + tail == the whole topic"
    # The shutdown wrote the new state: a third start would replay nothing.
    final = load_snapshot(path)
    assert final is not None
    assert sorted(final.state.member_ids) == sorted([ME, *MENTEES[:1], *MENTEES[2:]])
    assert final.state.removed.keys() == {"m1"}


async def _listed_eventually(
    client: httpx.AsyncClient, member_id: str, expected: list[str]
) -> bool:
    async def check() -> bool:
        return await _listed(client, member_id) == expected

    await eventually(check, timeout=60)
    return True
