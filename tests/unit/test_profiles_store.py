"""The profile store's contract, run here on the in-memory store and in
tests/integration/test_store_contracts.py on Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nnmatch.profile import StoredProfile
from nnmatch_profiles.store import MemoryProfileStore, ProfileStore
from tests.unit.builders import AMINA, amina

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
def profile_store() -> ProfileStore:
    return MemoryProfileStore()


async def test_a_slow_older_write_never_rolls_a_profile_back(profile_store: ProfileStore) -> None:
    profile = amina()
    newer = StoredProfile(member_id="v-1", version=3, updated_at=NOW, profile=profile)
    older = StoredProfile(
        member_id="v-1",
        version=2,
        updated_at=NOW - timedelta(seconds=1),
        profile=profile.model_copy(update={"headline": "old"}),
    )
    await profile_store.put_many([newer])
    await profile_store.put_many([older])
    kept = await profile_store.get("v-1")

    assert kept is not None
    assert kept.version == 3
    assert kept.profile.headline == AMINA["headline"]


async def test_versions_count_per_member_and_start_again_after_a_delete(
    profile_store: ProfileStore,
) -> None:
    assert await profile_store.next_versions(["v-2", "v-2", "v-3"]) == [1, 2, 1]
    await profile_store.put_many(
        [StoredProfile(member_id="v-2", version=2, updated_at=NOW, profile=amina())]
    )

    assert await profile_store.delete("v-2") is True
    assert await profile_store.get("v-2") is None
    assert await profile_store.delete("v-unknown") is False
    assert await profile_store.next_versions(["v-2"]) == [1]
