"""Bearer JWTs: who is calling (member, hub or operator), checked against configured keys.

Tokens come from the community's identity provider; services only verify them, against the
public keys of a JWKS (a file or a URL). Only asymmetric algorithms (RS256, ES256) are
accepted, and each key only with its own algorithm, so `alg: none` and algorithm confusion
(an HS256 token "signed" with a public key) are refused. The dev stack generates its own
ES256 key pair, so development and tests exercise the same verification path as production;
`nnmatch token issue` mints tokens with that dev key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnmatch.profile import MEMBER_ID_PATTERN

ALLOWED_ALGORITHMS = ("RS256", "ES256")
DEV_KEY_FILE = "dev-signing-key.pem"
DEV_JWKS_FILE = "dev-jwks.json"
DEV_ISSUER = "nnmatch-dev"
AUDIENCE = "nnmatch"


class Role(StrEnum):
    MEMBER = "member"
    HUB = "hub"
    OPERATOR = "operator"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or for someone else."""


class Claims(BaseModel):
    """The claims nnmatch reads; the registered ones (exp, iss, aud) are checked by pyjwt."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str = Field(pattern=MEMBER_ID_PATTERN)
    role: Role
    hub: str | None = Field(default=None, pattern=MEMBER_ID_PATTERN)


@dataclass(frozen=True)
class Principal:
    """The caller a verified token names."""

    role: Role
    subject: str
    hub: str | None = None

    def acts_for(self, member_id: str) -> bool:
        """Whether this caller may read and write `member_id`'s own resources."""
        return self.role is Role.OPERATOR or (
            self.role is Role.MEMBER and self.subject == member_id
        )

    def manages_hub(self, hub_id: str) -> bool:
        """Whether this caller may write `hub_id`'s profile and projects: its own hub token,
        or an operator."""
        return self.role is Role.OPERATOR or (self.role is Role.HUB and self.hub == hub_id)

    @property
    def rate_key(self) -> str:
        """A stable, non-reversible key for per-token limits (no member id in Redis keys)."""
        return hashlib.sha256(f"{self.role}:{self.subject}".encode()).hexdigest()[:24]


class KeySource:
    """The verification keys: a JWKS file (read at start) or a JWKS URL (fetched, cached)."""

    def __init__(self, *, jwks_file: Path | None = None, jwks_url: str | None = None) -> None:
        if (jwks_file is None) == (jwks_url is None):
            raise ValueError("configure exactly one of a JWKS file and a JWKS URL")
        self._keys: dict[str, jwt.PyJWK] = {}
        self._client: jwt.PyJWKClient | None = None
        if jwks_file is not None:
            try:
                document = json.loads(jwks_file.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read the JWKS file {jwks_file}: {exc}") from exc
            if not isinstance(document, dict):
                raise ValueError(f"{jwks_file} is not a JWKS (a JSON object with `keys`)")
            try:
                key_set = jwt.PyJWKSet.from_dict(document)
            except jwt.PyJWTError as exc:
                raise ValueError(f"{jwks_file} holds no usable key: {exc}") from exc
            self._keys = _usable_keys(key_set)
            if not self._keys:
                raise ValueError(f"{jwks_file} holds no RS256/ES256 signing key")
        else:
            try:
                self._client = jwt.PyJWKClient(str(jwks_url), cache_keys=True, lifespan=300)
            except jwt.PyJWTError as exc:
                raise ValueError(f"unusable JWKS URL {jwks_url!r}: {exc}") from exc

    async def key_for(self, token: str) -> jwt.PyJWK:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if self._client is not None:
            try:
                return await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"no key for this token: {exc}") from exc
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        key = self._keys.get(str(kid))
        if key is None:
            raise InvalidToken("the token's key id (kid) is not one of the configured keys")
        return key


def _usable_keys(key_set: jwt.PyJWKSet) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for key in key_set.keys:
        if key.algorithm_name in ALLOWED_ALGORITHMS and getattr(key, "public_key_use", None) in (
            None,
            "sig",
        ):
            keys[str(key.key_id)] = key
    return keys


class TokenVerifier:
    """Checks signature, `exp`, `nbf`, `iss` and `aud`, then reads the nnmatch claims."""

    def __init__(
        self, keys: KeySource, *, issuer: str, audience: str = AUDIENCE, leeway_s: float = 30.0
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s

    async def verify(self, token: str) -> Principal:
        key = await self._keys.key_for(token)
        algorithm = key.algorithm_name
        if algorithm not in ALLOWED_ALGORITHMS:  # a JWKS URL may publish other keys too
            raise InvalidToken(f"algorithm {algorithm} is not accepted")
        try:
            raw: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],  # the key's own algorithm only: no confusion
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet (nbf)") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(f"the token is not for this audience ({self._audience})") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token's issuer is not trusted") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise InvalidToken(f"only {algorithm} tokens are accepted for this key") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        try:
            claims = Claims.model_validate(raw)
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
            raise InvalidToken(f"the token's claims are invalid ({fields})") from exc
        if claims.role is Role.HUB and claims.hub is None:
            raise InvalidToken("a hub token must carry a `hub` claim")
        return Principal(role=claims.role, subject=claims.sub, hub=claims.hub)


# --------------------------------------------------------------------------- dev keys


@dataclass(frozen=True)
class DevSigningKey:
    """The dev stack's ES256 key pair: the private half mints, the JWKS verifies."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, directory: Path) -> DevSigningKey:
        """Read the dev key from `directory`, creating it (and its JWKS) the first time."""
        directory.mkdir(parents=True, exist_ok=True)
        pem_path = directory / DEV_KEY_FILE
        if pem_path.exists():
            loaded = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{pem_path} is not an EC private key")
            key = loaded
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        dev = cls(private_key=key, kid="dev-" + hashlib.sha256(public_der).hexdigest()[:16])
        jwks_path = directory / DEV_JWKS_FILE
        jwks = json.dumps(dev.jwks(), indent=2)
        if not jwks_path.exists() or jwks_path.read_text() != jwks:
            jwks_path.write_text(jwks)
        return dev

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [public | {"kid": self.kid, "alg": "ES256", "use": "sig"}]}

    def mint(
        self,
        role: Role,
        subject: str,
        *,
        hub: str | None = None,
        ttl_s: int = 3600,
        issuer: str = DEV_ISSUER,
        audience: str = AUDIENCE,
        now: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": subject,
            "role": str(role),
            "iss": issuer,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
        }
        if hub is not None:
            claims["hub"] = hub
        return jwt.encode(
            claims | (extra or {}), self.private_key, algorithm="ES256", headers={"kid": self.kid}
        )


class TokenSource(Protocol):
    """Where a client gets the token for acting as a member, a hub or an operator."""

    def token(self, role: Role, subject: str | None = None) -> str: ...


class StaticToken:
    """One token for everything (a real deployment's operator or service token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, role: Role, subject: str | None = None) -> str:
        return self._token


class DevTokens:
    """Mints (and reuses) dev-stack tokens, so the demo and tests act as anyone."""

    def __init__(self, directory: Path, ttl_s: int = 3600) -> None:
        self._key = DevSigningKey.load_or_create(directory)
        self._ttl_s = ttl_s
        self._cache: dict[tuple[Role, str | None], tuple[str, float]] = {}

    def token(self, role: Role, subject: str | None = None) -> str:
        cached = self._cache.get((role, subject))
        if cached is not None and cached[1] > time.time() + 60:
            return cached[0]
        if role is Role.MEMBER:
            if not subject:
                raise ValueError("a member token needs the member id")
            token = self._key.mint(role, subject, ttl_s=self._ttl_s)
        elif role is Role.HUB:
            if not subject:
                raise ValueError("a hub token needs the hub id")
            token = self._key.mint(role, f"hub-{subject}", hub=subject, ttl_s=self._ttl_s)
        else:
            token = self._key.mint(role, subject or "operator", ttl_s=self._ttl_s)
        self._cache[(role, subject)] = (token, time.time() + self._ttl_s)
        return token
