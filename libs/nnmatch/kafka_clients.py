"""Every Kafka client of nnmatch is built here, so the cluster's TLS and SASL reach each one.

Producers, consumers, admin clients, the services' FastStream broker, replay, re-embedding and
redrive all call these builders; `tests/unit/test_kafka_security_settings.py` fails if a
module builds an aiokafka or FastStream client anywhere else.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.security import (
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from nnmatch.kafka_oauth import ClientCredentialsTokens
from nnmatch.settings import KafkaSecurity, KafkaSettings

log = logging.getLogger(__name__)

TLS_PROBE_TIMEOUT_S = 10.0
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = frozenset({62, 64})


class KafkaTlsError(ConnectionError):
    """The TLS handshake with the broker failed: says why, and which setting fixes it."""


class _Startable(Protocol):
    async def start(self) -> None: ...


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of `security` (None without TLS): its CA, client certificate, and the
    host-name check as configured; the certificate chain is always verified."""
    if not security.uses_tls:
        return None
    password = security.ssl_key_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=security.ssl_cafile,
        certfile=security.ssl_certfile,
        keyfile=security.ssl_keyfile,
        password=password.get_secret_value() if password is not None else None,
    )
    context.check_hostname = security.ssl_check_hostname
    return context


def token_provider(security: KafkaSecurity) -> AbstractTokenProvider | None:
    """The OAUTHBEARER token source of `security`, or None for other mechanisms."""
    if security.sasl_mechanism != "OAUTHBEARER" or not security.uses_sasl:
        return None
    url, client, secret = (
        security.sasl_oauth_token_url,
        security.sasl_oauth_client_id,
        security.sasl_oauth_client_secret,
    )
    assert url is not None
    assert client is not None
    assert secret is not None
    provider: AbstractTokenProvider = ClientCredentialsTokens(
        url, client, secret, security.sasl_oauth_scope
    )
    return provider


def security_kwargs(security: KafkaSecurity) -> dict[str, Any]:
    """The aiokafka keyword arguments (producer, consumer, admin) that carry TLS and SASL."""
    kwargs: dict[str, Any] = {"security_protocol": security.protocol}
    context = ssl_context(security)
    if context is not None:
        kwargs["ssl_context"] = context
    if security.uses_sasl:
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            kwargs["sasl_oauth_token_provider"] = token_provider(security)
        else:
            password = security.sasl_password
            kwargs["sasl_plain_username"] = security.sasl_username
            kwargs["sasl_plain_password"] = (
                password.get_secret_value() if password is not None else None
            )
    return kwargs


def _faststream_security(security: KafkaSecurity) -> dict[str, Any]:
    """The same settings in FastStream's terms (its `security` object and token provider)."""
    if security.protocol == "PLAINTEXT":
        return {}  # no security object: the AsyncAPI document stays as it is
    context = ssl_context(security)
    use_ssl = security.uses_tls
    if not security.uses_sasl:
        return {"security": BaseSecurity(ssl_context=context, use_ssl=use_ssl)}
    if security.sasl_mechanism == "OAUTHBEARER":
        return {
            "security": SASLOAuthBearer(ssl_context=context, use_ssl=use_ssl),
            "sasl_oauth_token_provider": token_provider(security),
        }
    classes: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    assert security.sasl_mechanism is not None
    assert security.sasl_username is not None
    assert security.sasl_password is not None  # validated with the mechanism
    login = classes[security.sasl_mechanism](
        username=security.sasl_username,
        password=security.sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )
    return {"security": login}


def consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer of this deployment's cluster; `options` as aiokafka takes them."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap_servers,
        **(
            security_kwargs(kafka.security)
            | {"fetch_max_wait_ms": kafka.fetch_max_wait_ms}
            | options
        ),
    )


def producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """An aiokafka producer of this deployment's cluster; `options` as aiokafka takes them."""
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        **(security_kwargs(kafka.security) | options),
    )


def admin(kafka: KafkaSettings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client of this deployment's cluster (topic creation and clean-up)."""
    return AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers,
        **(security_kwargs(kafka.security) | options),
    )


def broker(kafka: KafkaSettings, **options: Any) -> KafkaBroker:
    """A FastStream broker of this deployment's cluster; `options` as `KafkaBroker` takes them."""
    return KafkaBroker(kafka.bootstrap_servers, **(_faststream_security(kafka.security) | options))


async def start(client: _Startable, kafka: KafkaSettings) -> None:
    """Start `client`; if it cannot connect because TLS fails, raise `KafkaTlsError` saying why.

    aiokafka only logs the TLS cause and raises "Unable to bootstrap"; an operator with a wrong
    CA file would see a broker that seems down. The caller still stops the client on failure.
    """
    try:
        await client.start()
    except KafkaConnectionError as exc:
        problem = await tls_problem(kafka)
        if problem is not None:
            raise KafkaTlsError(problem) from exc
        raise


END_FETCHES = 20
"""Fetches with records `end_offsets` reads on past a listed end at most, a partition."""
END_WAIT_S = 60.0
"""How long `end_offsets` waits for the broker to answer past the ends, in all."""


def _now_ms() -> int:
    return int(1000 * time.time())  # the clock aiokafka stamps fetch responses with


async def end_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each assigned partition's end offset, checked by reading on from the last listed
    record; leaves the consumer's positions there (callers seek before reading).

    For the readers that read a topic "up to its end now" (replays, the re-embed walk): the
    Tansu dev broker lists a partition's end as its last batch's first offset + 1, which hides
    the rest of that batch (measured: 1,762 of 2,000 imported profiles walked; 2,000 records
    written in 1 MB batches over six partitions listed as 6). On Kafka the listed end is exact:
    reading on finds the last record, and records written meanwhile, which such a reader may
    take as well. Not for a follower that must not skip what comes after its start.

    A partition's end is where a fetch answered (aiokafka stamps each answer for the current
    position) after its last records were taken, and brought none. An empty `getmany` alone
    is no proof: on a loaded machine the answer may simply not have arrived yet, which once
    ended a walk 962 records short."""
    ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(tps))
    reading = [tp for tp in tps if ends[tp] > 0]
    taken_at = dict.fromkeys(reading, _now_ms())  # answers stamped later are for the seek
    fetches = dict.fromkeys(reading, 0)
    for tp in reading:
        consumer.seek(tp, ends[tp] - 1)
    deadline = time.monotonic() + END_WAIT_S
    while reading:
        answered = {tp: consumer.last_poll_timestamp(tp) or 0 for tp in reading}
        fetched = await consumer.getmany(*reading, timeout_ms=300)
        now = _now_ms()
        for tp in list(reading):
            records = fetched.get(tp, [])
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                taken_at[tp] = now
                fetches[tp] += 1
                if fetches[tp] >= END_FETCHES:
                    reading.remove(tp)  # a topic still written to: far enough
            elif answered[tp] > taken_at[tp]:
                reading.remove(tp)  # answered since, and nothing more: the end
        if reading and time.monotonic() > deadline:
            log.warning(
                "kafka: no answer past the listed end of %s within %.0f s; using what was read",
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in reading),
                END_WAIT_S,
            )
            break
    return ends


async def tls_problem(kafka: KafkaSettings) -> str | None:
    """Why TLS with the bootstrap servers fails, or None (no TLS, a handshake succeeded, or no
    server answers at all: that is not a TLS problem)."""
    context = ssl_context(kafka.security)
    if context is None:
        return None
    problems: list[str] = []
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        host = host.strip("[]")
        try:
            async with asyncio.timeout(TLS_PROBE_TIMEOUT_S):
                _, writer = await asyncio.open_connection(
                    host, int(port), ssl=context, server_hostname=host
                )
        except ssl.SSLError as exc:
            problems.append(_explain(kafka.security, f"{host}:{port}", exc))
            continue
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        return None
    return "; ".join(problems) or None


def _explain(security: KafkaSecurity, server: str, exc: ssl.SSLError) -> str:
    """The TLS failure in words, with the setting an operator changes to fix it."""
    cause = exc.reason or str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        cause = f"certificate verify failed: {exc.verify_message}"
    said = f"TLS with the Kafka broker at {server} failed: {cause.rstrip('.')}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH:
            return (
                f"{said}. The broker's certificate does not name that host: connect by a name "
                "it carries, or set NNMATCH_KAFKA_SSL_CHECK_HOSTNAME=false"
            )
        trusted = (
            f"NNMATCH_KAFKA_SSL_CAFILE={security.ssl_cafile}"
            if security.ssl_cafile is not None
            else "the system's CAs (NNMATCH_KAFKA_SSL_CAFILE is unset)"
        )
        return (
            f"{said}. The broker's certificate is not signed by a CA in {trusted}: point "
            "NNMATCH_KAFKA_SSL_CAFILE at the CA that signed the broker's certificate"
        )
    return (
        f"{said}. Is this a TLS listener of the broker? (NNMATCH_KAFKA_SECURITY_PROTOCOL="
        f"{security.protocol}; a broker's plain listener needs PLAINTEXT or SASL_PLAINTEXT)"
    )
