"""Shared settings, in groups read from `NNMATCH_*` environment variables.

Each group (base, HTTP, auth, Kafka, Redis) owns its variables; a service's settings class
composes the groups it uses, so one variable means the same thing everywhere and the web pages
carry no Kafka or Redis settings. `KAFKA_BOOTSTRAP_SERVERS` and `REDIS_URL` are accepted too,
as most tools use them. Settings hold values only: the adapters that use them build objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# Kafka client defaults, written once: `KafkaGroup` documents them, `KafkaSettings` falls back on
# them where a tool builds its settings by hand.
PUBLISH_MAX_IN_FLIGHT = 256
PRODUCER_REQUEST_TIMEOUT_MS = 15_000
PRODUCER_MAX_BATCH_BYTES = 262_144
PRODUCER_LINGER_MS = 5
CONSUMER_FETCH_MAX_WAIT_MS = 500  # Kafka's own default


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
_ENV = "NNMATCH_KAFKA_"


class KafkaSecurity(BaseModel):
    """How a Kafka client proves who it is and whom it talks to (TLS, SASL).

    Checked as a whole, so a half-configured cluster login fails at start-up with the variable
    to set, not at the first connection with a broker's terse refusal.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: SecurityProtocol = "PLAINTEXT"
    ssl_cafile: FilePath | None = None
    ssl_certfile: FilePath | None = None
    ssl_keyfile: FilePath | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_oauth_token_url: str | None = None
    sasl_oauth_client_id: str | None = None
    sasl_oauth_client_secret: SecretStr | None = None
    sasl_oauth_scope: str | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        """Refuse combinations that cannot work, naming the variable that fixes each."""
        problems = [*self._tls_problems(), *self._sasl_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _tls_problems(self) -> list[str]:
        tls_set = [
            name
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")
            if getattr(self, name) is not None
        ]
        if tls_set and not self.uses_tls:
            names = ", ".join(_ENV + n.upper() for n in tls_set)
            return [
                f"{names} set but {_ENV}SECURITY_PROTOCOL={self.protocol} does not use TLS: "
                f"set {_ENV}SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset them"
            ]
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            return [f"{_ENV}SSL_KEYFILE needs {_ENV}SSL_CERTFILE (the client certificate)"]
        return []

    def _sasl_problems(self) -> list[str]:
        if not self.uses_sasl:
            sasl_set = [
                name
                for name in (
                    "sasl_mechanism",
                    "sasl_username",
                    "sasl_password",
                    "sasl_oauth_token_url",
                )
                if getattr(self, name) is not None
            ]
            if not sasl_set:
                return []
            names = ", ".join(_ENV + n.upper() for n in sasl_set)
            return [
                f"{names} set but {_ENV}SECURITY_PROTOCOL={self.protocol} does not use SASL: "
                f"set {_ENV}SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset them"
            ]
        if self.sasl_mechanism is None:
            return [
                f"{_ENV}SECURITY_PROTOCOL={self.protocol} needs {_ENV}SASL_MECHANISM "
                "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
            ]
        needed: tuple[str, ...]
        if self.sasl_mechanism == "OAUTHBEARER":
            needed = ("sasl_oauth_token_url", "sasl_oauth_client_id", "sasl_oauth_client_secret")
        else:
            needed = ("sasl_username", "sasl_password")
        missing = [_ENV + n.upper() for n in needed if getattr(self, n) is None]
        if missing:
            return [f"{_ENV}SASL_MECHANISM={self.sasl_mechanism} needs {', '.join(missing)}"]
        return []


class KafkaSettings(BaseModel):
    """What a Kafka client needs: the connection and the topic naming of this deployment."""

    bootstrap_servers: str
    enable_idempotence: bool
    partitions: int
    replication_factor: int
    topic_prefix: str
    client_id: str
    publish_max_in_flight: int = PUBLISH_MAX_IN_FLIGHT
    request_timeout_ms: int = PRODUCER_REQUEST_TIMEOUT_MS
    max_batch_bytes: int = PRODUCER_MAX_BATCH_BYTES
    linger_ms: int = PRODUCER_LINGER_MS
    fetch_max_wait_ms: int = CONSUMER_FETCH_MAX_WAIT_MS
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)


class BaseServiceSettings(BaseSettings):
    """What every process has: its name and logging."""

    model_config = SettingsConfigDict(env_prefix="NNMATCH_", extra="ignore")

    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json` (one object a line) or `text` for humans."
    )
    service_name: str = "nnmatch"


class HttpSettings(BaseServiceSettings):
    """The HTTP server and request limits."""

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Largest request body (413 above it)."
    )


class AuthSettings(BaseServiceSettings):
    """How bearer tokens are verified."""

    auth_jwks_file: Path | None = Field(
        default=None,
        description="JWKS file with the identity provider's public keys (`nnmatch dev up` "
        "makes a dev one).",
    )
    auth_jwks_url: str | None = Field(
        default=None, description="JWKS URL of the identity provider (instead of the file)."
    )
    auth_issuer: str = Field(default="nnmatch-dev", description="Expected `iss` of tokens.")
    auth_audience: str = Field(default="nnmatch", description="Expected `aud` of tokens.")
    auth_leeway_s: float = Field(
        default=30.0, ge=0, le=300, description="Clock skew allowed on `exp` and `nbf`."
    )


class KafkaGroup(BaseServiceSettings):
    """The Kafka cluster and the topics this deployment creates."""

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("NNMATCH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers (comma-separated host:port).",
    )
    kafka_enable_idempotence: bool = Field(
        default=True,
        description="Idempotent producer; the embedded dev broker (Tansu) needs false.",
    )
    kafka_seal_events: bool = Field(
        default=True,
        description="Seal personal event fields under member keys (crypto-shredding, "
        "docs/EVENTS.md). Only while rolling out from a release without sealing: false, until "
        "every consumer runs this release (they read both forms), then true.",
    )
    kafka_partitions: int = Field(default=6, ge=1, description="Partitions of topics we create.")
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of topics we create (3 in production)."
    )
    topic_prefix: str = Field(
        default="", description="Prefix on every topic name (isolates tests and tenants)."
    )
    kafka_publish_max_in_flight: int = Field(
        default=PUBLISH_MAX_IN_FLIGHT,
        ge=1,
        description="Most records one publish has awaiting the broker's acknowledgement at once "
        "(it sends in waves of at most this many).",
    )
    kafka_request_timeout_ms: int = Field(
        default=PRODUCER_REQUEST_TIMEOUT_MS,
        ge=1000,
        description="Kafka client request timeout: how long a publish waits for the broker's "
        "acknowledgement before it fails and is retried. Consumers use it too: keep it above "
        "the broker's group join time (seconds).",
    )
    kafka_max_batch_bytes: int = Field(
        default=PRODUCER_MAX_BATCH_BYTES,
        ge=1024,
        le=1_000_000,
        description="Largest batch of records the producer sends to one partition at once "
        "(below the broker's 1 MB message limit).",
    )
    kafka_linger_ms: int = Field(
        default=PRODUCER_LINGER_MS,
        ge=0,
        description="How long the producer waits for more records to fill a batch.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=CONSUMER_FETCH_MAX_WAIT_MS,
        ge=0,
        le=60_000,
        description="How long a consumer's fetch waits at the broker when no record is there. "
        "Apache Kafka answers as soon as one arrives, so this only paces idle polling; the "
        "embedded dev broker (Tansu) answers when the wait is over, which adds up to this "
        "much to every hop of an event: the dev stack sets it lower.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="`PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL` (login over TLS).",
    )
    kafka_ssl_cafile: FilePath | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (unset: the "
        "system's CAs).",
    )
    kafka_ssl_certfile: FilePath | None = Field(
        default=None, description="PEM client certificate, for brokers that require mutual TLS."
    )
    kafka_ssl_keyfile: FilePath | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of the client key, if it is encrypted."
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host connected to (the "
        "chain is checked either way).",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        description="`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`; needed with "
        "the `SASL_*` protocols.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="SASL user (PLAIN and SCRAM)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (PLAIN and SCRAM)."
    )
    kafka_sasl_oauth_token_url: str | None = Field(
        default=None,
        description="OAUTHBEARER: the identity provider's token endpoint (client-credentials "
        "grant).",
    )
    kafka_sasl_oauth_client_id: str | None = Field(
        default=None, description="OAUTHBEARER: the client id."
    )
    kafka_sasl_oauth_client_secret: SecretStr | None = Field(
        default=None, description="OAUTHBEARER: the client secret."
    )
    kafka_sasl_oauth_scope: str | None = Field(
        default=None, description="OAUTHBEARER: the scope to ask for (unset: none)."
    )

    @model_validator(mode="after")
    def _fetch_wait_within_request_timeout(self) -> KafkaGroup:
        """A fetch that waits as long as a request may take times out on every idle poll."""
        if self.kafka_fetch_max_wait_ms >= self.kafka_request_timeout_ms:
            raise ValueError(
                f"NNMATCH_KAFKA_FETCH_MAX_WAIT_MS ({self.kafka_fetch_max_wait_ms}) must be below "
                f"NNMATCH_KAFKA_REQUEST_TIMEOUT_MS ({self.kafka_request_timeout_ms}): lower the "
                "first (500, Kafka's default, suits a real broker)"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security_consistent(self) -> KafkaGroup:
        """Fail at start-up, with the variable to set, on a login that cannot work."""
        try:
            self.kafka_security()
        except ValidationError as exc:
            causes = (str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise ValueError("; ".join(causes)) from None
        return self

    def kafka_security(self) -> KafkaSecurity:
        """The TLS and SASL values every Kafka client of this process uses."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=self.kafka_ssl_key_password,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            sasl_oauth_token_url=self.kafka_sasl_oauth_token_url,
            sasl_oauth_client_id=self.kafka_sasl_oauth_client_id,
            sasl_oauth_client_secret=self.kafka_sasl_oauth_client_secret,
            sasl_oauth_scope=self.kafka_sasl_oauth_scope,
        )

    def kafka(self) -> KafkaSettings:
        """The connection values a Kafka client of this process uses."""
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap_servers,
            enable_idempotence=self.kafka_enable_idempotence,
            partitions=self.kafka_partitions,
            replication_factor=self.kafka_replication_factor,
            topic_prefix=self.topic_prefix,
            client_id=f"nnmatch-{self.service_name}",
            publish_max_in_flight=self.kafka_publish_max_in_flight,
            request_timeout_ms=self.kafka_request_timeout_ms,
            max_batch_bytes=self.kafka_max_batch_bytes,
            linger_ms=self.kafka_linger_ms,
            fetch_max_wait_ms=self.kafka_fetch_max_wait_ms,
            security=self.kafka_security(),
        )


class RedisGroup(BaseServiceSettings):
    """The Redis that holds the state this deployment owns."""

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("NNMATCH_REDIS_URL", "REDIS_URL"),
        description="Redis for read models, dedupe keys and inboxes.",
    )
    redis_prefix: str = Field(
        default="nnmatch:", description="Prefix on every Redis key this deployment writes."
    )
    redis_require_durable: bool = Field(
        default=True,
        description="Refuse to start on a Redis that keeps nothing on disk or may evict keys.",
    )


class RateLimitSettings(BaseServiceSettings):
    """Per-token request rates, counted in Redis across replicas."""

    rate_limit_writes: str = Field(
        default="120/minute", description="Writes per token (e.g. `120/minute`), any replica."
    )
    rate_limit_search: str = Field(default="60/minute", description="Searches per token.")


class ServiceSettings(HttpSettings, AuthSettings, KafkaGroup, RedisGroup, RateLimitSettings):
    """A service on Kafka and Redis behind the API (profiles, matching, notifications)."""
