"""Who may go on a hub's shortlist (ShortlistService on the in-memory store): only members a
hub may see — hidden, suspended and unknown members are refused alike — at most the limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from nnmatch.profile import StoredProfile
from nnmatch_profiles.shortlist_store import MemoryShortlistStore, Shortlisted, ShortlistFull
from nnmatch_profiles.shortlists import ShortlistService, UnknownMember
from tests.unit.builders import amina

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


@dataclass
class Members:
    profiles: dict[str, StoredProfile] = field(default_factory=dict)
    suspended: set[str] = field(default_factory=set)

    def add(self, member_id: str, **overrides: object) -> None:
        self.profiles[member_id] = StoredProfile(
            member_id=member_id, version=1, updated_at=NOW, profile=amina(**overrides)
        )

    async def get(self, member_id: str) -> StoredProfile | None:
        return self.profiles.get(member_id)

    async def is_suspended(self, member_id: str) -> bool:
        return member_id in self.suspended


def _service(members: Members, limit: int = 50) -> ShortlistService:
    return ShortlistService(MemoryShortlistStore(), members, lambda: NOW, limit=limit)


def _ids(listed: Sequence[Shortlisted]) -> list[str]:
    return [s.member_id for s in listed]


async def test_a_visible_member_goes_on_once_even_with_the_organisation_hidden() -> None:
    members = Members()
    members.add("m-1", visibility={"discoverable": True, "show_organisation": False})
    service = _service(members)

    assert _ids(await service.add("h", "m-1")) == ["m-1"]
    assert _ids(await service.add("h", "m-1")) == ["m-1"]
    assert (await service.members("h"))[0].added_at == NOW
    assert _ids(await service.remove("h", "m-1")) == []
    assert _ids(await service.remove("h", "m-1")) == []


@pytest.mark.parametrize("who", ["hidden", "suspended", "unknown"])
async def test_a_member_a_hub_may_not_see_is_refused_as_unknown(who: str) -> None:
    members = Members()
    members.add("hidden", visibility={"discoverable": False, "show_organisation": True})
    members.add("suspended")
    members.suspended.add("suspended")
    service = _service(members)

    with pytest.raises(UnknownMember):
        await service.add("h", who)
    assert await service.members("h") == []


async def test_past_the_limit_a_new_member_is_refused() -> None:
    members = Members()
    for i in range(3):
        members.add(f"m-{i}")
    service = _service(members, limit=2)
    await service.add("h", "m-0")
    await service.add("h", "m-1")

    with pytest.raises(ShortlistFull):
        await service.add("h", "m-2")
    assert _ids(await service.members("h")) == ["m-0", "m-1"]
