"""Webhook delivery that cannot be turned against us: Standard Webhooks signatures, SSRF
checks before every call, bounded time and response size, and secrets sealed at rest.

A member's webhook URL is untrusted input. Before each call its host is resolved and every
address checked: private, loopback, link-local (cloud metadata), multicast, reserved and
unspecified ranges are refused unless an operator allow-listed them (the dev stack and tests
allow loopback). Production URLs must be https. The checked address is the one connected to
(the request goes to the IP, with the original Host header and TLS server name), so a DNS
answer that changes between check and call (rebinding) cannot redirect it. Redirects are not
followed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken

from nnmatch.contact import Channel, DeliverySettings
from nnmatch_notifications.channels import Delivery, PermanentFailure, TransientFailure

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's marker, not a secret
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeWebhook(ValueError):
    """The URL may not be called: the message says why (never retried)."""


class WebhookFailed(RuntimeError):
    """The receiver did not accept the delivery (time-out, refused, an error status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        """Time-outs, refused connections, 5xx, 408 and 429 may pass later; other 4xx won't."""
        return self.status is None or self.status >= 500 or self.status in (408, 429)


@dataclass(frozen=True)
class WebhookPolicy:
    require_https: bool = True
    allowed_networks: tuple[IpNetwork, ...] = ()
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 5.0
    max_response_bytes: int = 65_536

    @classmethod
    def from_settings(
        cls,
        *,
        require_https: bool,
        allow_networks: list[str],
        connect_timeout_s: float,
        read_timeout_s: float,
        max_response_bytes: int,
    ) -> WebhookPolicy:
        return cls(
            require_https=require_https,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks),
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_response_bytes=max_response_bytes,
        )

    def address_refusal(self, address: IpAddress) -> str | None:
        """Why `address` may not be called, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return None
        for flag, name in (
            (address.is_loopback, "loopback"),
            (address.is_unspecified, "unspecified"),
            (address.is_link_local, "link-local"),
            (address.is_multicast, "multicast"),
            (address.is_reserved, "reserved"),
            (address.is_private, "private"),
            (not address.is_global, "non-global"),
        ):
            if flag:
                return f"{address} is a {name} address"
        return None


@dataclass(frozen=True)
class Target:
    """A URL whose host resolved to addresses that passed the policy."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, policy: WebhookPolicy) -> tuple[str, str, int]:
    """Scheme, host and port of an acceptable URL; UnsafeWebhook otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeWebhook("a webhook URL must be https://")
    if parts.scheme == "http" and policy.require_https:
        raise UnsafeWebhook("a webhook URL must be https:// (http is for the dev stack only)")
    if parts.username or parts.password:
        raise UnsafeWebhook("a webhook URL must not carry credentials")
    if not parts.hostname:
        raise UnsafeWebhook("a webhook URL needs a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhook(f"bad port in webhook URL: {exc}") from exc
    return parts.scheme, parts.hostname, port


async def resolve(url: str, policy: WebhookPolicy) -> Target:
    """Resolve the URL's host and check every address it has (all must pass)."""
    scheme, host, port = check_url(url, policy)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise WebhookFailed(f"cannot resolve {host}: {exc}") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookFailed(f"{host} has no address")
    for address in addresses:
        refusal = policy.address_refusal(ipaddress.ip_address(address.split("%")[0]))
        if refusal:
            raise UnsafeWebhook(f"{host} resolves to {refusal}")
    return Target(url, scheme, host, port, addresses)


def new_secret() -> str:
    """A fresh per-member signing secret, Standard Webhooks style (`whsec_` + base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 over id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Delivered:
    status: int
    response_bytes: int
    truncated: bool


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    secret: str,
    message_id: str,
    now: datetime,
    policy: WebhookPolicy,
) -> Delivered:
    """POST one signed delivery. UnsafeWebhook: never call again; WebhookFailed: retry later.

    The `webhook-id` is the caller's idempotency key, so a receiver can drop a repeat."""
    target = await resolve(url, policy)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
    }
    address = target.addresses[0]
    pinned = httpx.URL(url).copy_with(host=address)
    timeout = httpx.Timeout(
        policy.read_timeout_s, connect=policy.connect_timeout_s, pool=policy.connect_timeout_s
    )
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        request = http.build_request(
            "POST", pinned, content=body, headers=headers, timeout=timeout, extensions=extensions
        )
        response = await http.send(request, stream=True, follow_redirects=False)
        try:
            received, truncated = 0, False
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > policy.max_response_bytes:
                    truncated = True
                    break
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"{type(exc).__name__} calling the webhook: {exc}") from exc
    if response.status_code >= 300:
        raise WebhookFailed(f"the webhook answered {response.status_code}", response.status_code)
    return Delivered(response.status_code, min(received, policy.max_response_bytes), truncated)


class SecretSealer:
    """Seals webhook secrets before they are stored, so a Redis dump shows no secret in clear.

    The key (Fernet, from `NNMATCH_SECRETS_KEY`) lives only in the notifications service's
    environment; rotating it means re-sealing, which `MultiFernet` would allow later."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("sealed secret does not open with this key") from exc


class WebhookChannel:
    """Deliveries as signed POSTs to the member's webhook; `webhook-id` is the delivery key."""

    channel = Channel.WEBHOOK

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: WebhookPolicy,
        sealer: SecretSealer | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._policy = policy
        self._sealer = sealer
        self._clock = clock

    async def send(self, delivery: Delivery, settings: DeliverySettings) -> None:
        url = settings.contact.webhook_url
        if not url:
            raise PermanentFailure("the member has no webhook URL")
        if not settings.webhook_secret_sealed or self._sealer is None:
            raise PermanentFailure("no webhook secret (set NNMATCH_SECRETS_KEY)")
        try:
            secret = self._sealer.open(settings.webhook_secret_sealed)
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        body = json.dumps(
            {
                "type": "nnmatch.digest" if delivery.digest else "nnmatch.suggestion",
                "member_id": delivery.member_id,
                "items": [item.model_dump(mode="json") for item in delivery.items],
            },
            separators=(",", ":"),
        ).encode()
        try:
            await deliver(
                self._http,
                url,
                body,
                secret=secret,
                message_id=f"msg_{delivery.key}",
                now=self._clock(),
                policy=self._policy,
            )
        except UnsafeWebhook as exc:
            raise PermanentFailure(f"unsafe webhook URL: {exc}") from exc
        except WebhookFailed as exc:
            if exc.retryable:
                raise TransientFailure(str(exc)) from exc
            raise PermanentFailure(str(exc)) from exc
