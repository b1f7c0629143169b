"""Members' contact details and preferences: the read model of `contacts.v1` (the `Contacts`
seam, its Redis adapter and an in-memory fake), and `ContactBook`, which changes them.

The topic is the durable copy (the API publishes first, acks=all); this is what deliveries read.
A member who never set anything gets the defaults (in-app only, instant).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from nnmatch.contact import ContactDetails, DeliverySettings, Preferences
from nnmatch.events import ContactUpserted
from nnmatch.publishing import EventPublisher
from nnmatch.topics import CONTACTS
from nnmatch_notifications.store import MemoryKeyspace
from nnmatch_notifications.webhooks import (
    SecretSealer,
    UnsafeWebhook,
    WebhookFailed,
    WebhookPolicy,
    new_secret,
    resolve,
)

# Write only if not older than what is stored: the API and the contacts.v1 projector both
# write, and a slow projector must never roll a member's newer settings back.
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'at')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'json', ARGV[2])
return 1
"""


class Contacts(Protocol):
    """Each member's delivery settings; writes older than what is stored are ignored."""

    async def get(self, member_id: str) -> DeliverySettings: ...

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, DeliverySettings]: ...

    async def put(self, member_id: str, settings: DeliverySettings, at: datetime) -> None: ...

    async def delete(self, member_id: str) -> None: ...


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


class RedisContacts:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(_PUT_IF_NEWER)

    def _key(self, member_id: str) -> str:
        return f"{self._prefix}contact:{member_id}"

    async def get(self, member_id: str) -> DeliverySettings:
        raw = await self._redis.hget(self._key(member_id), "json")
        return DeliverySettings.model_validate_json(raw) if raw else DeliverySettings()

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, DeliverySettings]:
        if not member_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in member_ids:
                pipe.hget(self._key(member_id), "json")
            raws = await pipe.execute()
        return {
            m: DeliverySettings.model_validate_json(raw) if raw else DeliverySettings()
            for m, raw in zip(member_ids, raws, strict=True)
        }

    async def put(self, member_id: str, settings: DeliverySettings, at: datetime) -> None:
        """Store unless something newer (by the event's time) is already there."""
        await self._put(
            keys=[self._key(member_id)],
            args=[_micros(at), settings.model_dump_json()],
        )

    async def delete(self, member_id: str) -> None:
        await self._redis.delete(self._key(member_id))


class MemoryContacts:
    """The contacts contract in the inbox fake's `MemoryKeyspace` (an erasure forgets them)."""

    def __init__(self, keyspace: MemoryKeyspace) -> None:
        self._k = keyspace

    async def get(self, member_id: str) -> DeliverySettings:
        stored = self._k.contacts.get(member_id)
        return DeliverySettings.model_validate_json(stored[1]) if stored else DeliverySettings()

    async def get_many(self, member_ids: Sequence[str]) -> dict[str, DeliverySettings]:
        return {m: await self.get(m) for m in member_ids}

    async def put(self, member_id: str, settings: DeliverySettings, at: datetime) -> None:
        current = self._k.contacts.get(member_id)
        if current is None or current[0] <= _micros(at):
            self._k.contacts[member_id] = (_micros(at), settings.model_dump_json())

    async def delete(self, member_id: str) -> None:
        self._k.contacts.pop(member_id, None)


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge: nothing was changed; the client should retry."""


class ContactBook:
    """Changes to a member's contact details and preferences: `contacts.v1` first (acks=all),
    then the read model, so what the API acknowledged survives Redis."""

    def __init__(
        self,
        contacts: Contacts,
        publisher: EventPublisher,
        sealer: SecretSealer | None,
        policy: WebhookPolicy,
    ) -> None:
        self._contacts = contacts
        self._publisher = publisher
        self._sealer = sealer
        self._policy = policy

    async def get(self, member_id: str) -> DeliverySettings:
        return await self._contacts.get(member_id)

    async def set_contact(
        self, member_id: str, contact: ContactDetails
    ) -> tuple[DeliverySettings, str | None]:
        """Save; a new or changed webhook URL gets a new secret, returned this once."""
        current = await self._contacts.get(member_id)
        secret: str | None = None
        sealed = current.webhook_secret_sealed
        if contact.webhook_url is None:
            sealed = None
        elif contact.webhook_url != current.contact.webhook_url or sealed is None:
            if self._sealer is None:
                raise ContactRefused("webhooks are not enabled here (NNMATCH_SECRETS_KEY unset)")
            try:
                await resolve(contact.webhook_url, self._policy)
            except UnsafeWebhook as exc:
                raise ContactRefused(f"webhook_url: {exc}") from exc
            except WebhookFailed as exc:
                raise ContactRefused(f"webhook_url: {exc}") from exc
            secret = new_secret()
            sealed = self._sealer.seal(secret)
        updated = current.model_copy(update={"contact": contact, "webhook_secret_sealed": sealed})
        await self._save(member_id, updated)
        return updated, secret

    async def set_preferences(self, member_id: str, preferences: Preferences) -> DeliverySettings:
        current = await self._contacts.get(member_id)
        updated = current.model_copy(update={"preferences": preferences})
        await self._save(member_id, updated)
        return updated

    async def opt_out(self, member_id: str) -> None:
        current = await self._contacts.get(member_id)
        preferences = current.preferences.model_copy(update={"opted_out": True})
        await self._save(member_id, current.model_copy(update={"preferences": preferences}))

    async def _save(self, member_id: str, settings: DeliverySettings) -> None:
        event = ContactUpserted(
            producer=self._publisher.service, member_id=member_id, settings=settings
        )
        try:
            await self._publisher.publish(CONTACTS, member_id, event)
        except Exception as exc:
            raise BrokerUnavailable(str(exc)) from exc
        await self._contacts.put(member_id, settings, event.occurred_at)


class ContactRefused(ValueError):
    """The contact details cannot be used (e.g. an unsafe webhook URL); says why."""
