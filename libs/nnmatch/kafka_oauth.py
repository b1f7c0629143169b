"""OAUTHBEARER tokens for Kafka from an identity provider's client-credentials grant.

aiokafka asks for a token on every connection; one grant per connection would hammer the
identity provider, so a token is kept until shortly before it expires and shared by every
connection of the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from aiokafka.abc import AbstractTokenProvider
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

TOKEN_TIMEOUT_S = 10.0
# A token is renewed this long before its expiry, so no connection presents a stale one.
RENEW_BEFORE_S = 30.0
# When the provider names no lifetime, assume a short one rather than forever.
DEFAULT_LIFETIME_S = 300.0


class TokenError(RuntimeError):
    """The identity provider gave no usable token; the message says what it answered."""


class _TokenAnswer(BaseModel):
    """The part of an RFC 6749 token response we use (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    expires_in: float | None = Field(default=None, gt=0)


class ClientCredentialsTokens(AbstractTokenProvider):  # type: ignore[misc]
    """Fetches `client_credentials` tokens from `token_url` and caches each until expiry."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scope: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self._clock = clock
        self._transport = transport
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock: asyncio.Lock | None = None

    async def token(self) -> str:
        """A valid access token: the cached one, or a fresh one if it is near its expiry."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        async with httpx.AsyncClient(transport=self._transport, timeout=TOKEN_TIMEOUT_S) as http:
            try:
                answer = await http.post(
                    self.token_url,
                    data=form,
                    auth=(self.client_id, self._secret.get_secret_value()),
                )
            except httpx.HTTPError as exc:
                raise TokenError(
                    f"cannot reach the token URL {self.token_url}: {type(exc).__name__}: {exc}"
                ) from exc
        if answer.status_code != httpx.codes.OK:
            raise TokenError(
                f"token URL {self.token_url} answered {answer.status_code}: {answer.text[:200]}"
            )
        try:
            parsed = _TokenAnswer.model_validate_json(answer.content)
        except ValidationError as exc:
            raise TokenError(f"token URL {self.token_url} sent no access_token: {exc}") from exc
        lifetime = parsed.expires_in or DEFAULT_LIFETIME_S
        self._token = parsed.access_token
        self._renew_at = self._clock() + max(lifetime - RENEW_BEFORE_S, lifetime / 2)
