"""What the profiles API does, apart from HTTP: version, publish (acks=all), then read model."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal, Protocol

from nnmatch.events import ProfileDeleted, ProfileUpserted
from nnmatch.member_keys import MemberKeys
from nnmatch.profile import BulkProfileLine, MemberProfile, StoredProfile
from nnmatch.publishing import EventPublisher
from nnmatch.topics import PROFILES
from nnmatch_profiles.store import ProfileStore

log = logging.getLogger(__name__)


def published(profile: MemberProfile, suspended: bool) -> MemberProfile:
    """The profile as it goes to Kafka: a suspended member is not discoverable there, while
    the read model keeps their own choice for when the suspension ends."""
    if not suspended or not profile.visibility.discoverable:
        return profile
    hidden = profile.visibility.model_copy(update={"discoverable": False})
    return profile.model_copy(update={"visibility": hidden})


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge the write: nothing was accepted, the client should retry."""


class Leadership(Protocol):
    """Who else holds a member's id: the hubs that list them as a leader."""

    async def remove_leader(self, member_id: str) -> list[str]: ...


class Suspensions(Protocol):
    """Which members an operator suspended (nnmatch_profiles.moderation)."""

    async def suspended_among(self, member_ids: Sequence[str]) -> set[str]: ...


class NoSuspensions:
    async def suspended_among(self, member_ids: Sequence[str]) -> set[str]:
        return set()


class ProfileService:
    """Writes go to Kafka first (acks=all) and only then to the read model, so a profile the
    API acknowledged survives Redis, and one Kafka refused is never shown."""

    def __init__(
        self,
        store: ProfileStore,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
        *,
        keys: MemberKeys,
        chunk_size: int,
        leadership: Leadership,
        suspensions: Suspensions | None = None,
    ) -> None:
        self._store = store
        self._suspensions = suspensions or NoSuspensions()
        self._leadership = leadership
        self._keys = keys
        self._publisher = publisher
        self._clock = clock
        self._chunk_size = chunk_size

    async def upsert(self, member_id: str, profile: MemberProfile) -> StoredProfile:
        [stored] = await self._upsert_all([(member_id, profile)])
        return stored

    async def upsert_many(self, lines: Sequence[BulkProfileLine]) -> int:
        """A bulk import: its events say so (`origin`), so notifications can keep it quiet."""
        for start in range(0, len(lines), self._chunk_size):
            chunk = lines[start : start + self._chunk_size]
            items = [(line.member_id, line.profile()) for line in chunk]
            await self._upsert_all(items, origin="import")
        return len(lines)

    async def _upsert_all(
        self, items: Sequence[tuple[str, MemberProfile]], origin: Literal["import"] | None = None
    ) -> list[StoredProfile]:
        versions = await self._store.next_versions([member_id for member_id, _ in items])
        now = self._clock()
        stored = [
            StoredProfile(member_id=member_id, version=version, updated_at=now, profile=profile)
            for (member_id, profile), version in zip(items, versions, strict=True)
        ]
        suspended = await self._suspensions.suspended_among([s.member_id for s in stored])
        events = [
            (
                s.member_id,
                ProfileUpserted(
                    producer=self._publisher.service,
                    occurred_at=now,
                    member_id=s.member_id,
                    version=s.version,
                    profile=published(s.profile, s.member_id in suspended),
                    origin=origin,
                ),
            )
            for s in stored
        ]
        await self._publish(events)
        await self._update_read_model(stored)
        return stored

    async def _publish(
        self, events: Sequence[tuple[str, ProfileUpserted | ProfileDeleted | None]]
    ) -> None:
        try:
            await self._publisher.publish_many(PROFILES, events)
        except Exception as exc:
            log.error("kafka did not acknowledge profile writes", extra={"error": repr(exc)})
            raise BrokerUnavailable(str(exc)) from exc

    async def _update_read_model(self, stored: Sequence[StoredProfile]) -> None:
        # Already in Kafka: a read-model failure must not turn an accepted write into an error.
        try:
            await self._store.put_many(stored)
        except Exception as exc:
            log.error("read model update failed after kafka ack", extra={"error": repr(exc)})

    async def get(self, member_id: str) -> StoredProfile | None:
        return await self._store.get(member_id)

    async def is_suspended(self, member_id: str) -> bool:
        return bool(await self._suspensions.suspended_among([member_id]))

    async def republish(self, member_id: str) -> StoredProfile | None:
        """Publish the stored profile again as a new version, so a suspension (or its end)
        reaches every list and search by the path a visibility change takes; None if the
        member has no profile."""
        current = await self._store.get(member_id)
        if current is None:
            return None
        return await self.upsert(member_id, current.profile)

    async def delete(self, member_id: str) -> bool:
        """Take the member out of the hubs they lead, publish the deletion and the tombstone,
        then retire their data key and drop the read model; False if the member is unknown
        (no profile and named by no hub). The route audits who asked (nnmatch.audit).

        A Redis failure on the way raises before anything about the member is deleted.
        Retiring the member's data key makes every record ever written for them unreadable on
        every topic (`nnmatch.shredding`), whatever the broker's compaction does; it goes after
        the deletion is published, so a retried DELETE finds the member and publishes again."""
        known = await self._store.get(member_id) is not None
        changed_hubs = await self._leadership.remove_leader(member_id)
        if not known and not changed_hubs:
            await self._keys.delete(member_id)  # contact details or feedback without a profile
            return False
        now = self._clock()
        deleted = ProfileDeleted(
            producer=self._publisher.service, occurred_at=now, member_id=member_id
        )
        await self._publish([(member_id, deleted), (member_id, None)])
        await self._keys.delete(member_id)
        await self._store.delete(member_id)
        return True
