"""Kafka TLS and SASL settings: read from `NNMATCH_KAFKA_*`, checked as a whole with errors
naming the fix, and carried by every Kafka client the code builds.

SASL is checked here up to aiokafka's client (the mechanism, user and password or token
provider it is given); no SASL-speaking broker runs on this machine, so no test logs in to
one. TLS is tested against a real broker in tests/integration/test_kafka_tls.py.
"""

from __future__ import annotations

import ast
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from nnmatch import kafka_clients
from nnmatch.kafka_oauth import ClientCredentialsTokens, TokenError
from nnmatch.messaging import make_broker
from nnmatch.redrive import _consumer as redrive_consumer
from nnmatch.settings import KafkaSecurity, KafkaSettings, ServiceSettings
from tests.tls_broker import MissingTool, make_ca, stunnel_binary

ROOT = Path(__file__).resolve().parents[2]
CLIENT_CLASSES = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "KafkaBroker"}
# Modules allowed to build Kafka clients themselves, and why.
BUILDERS = {
    Path("libs/nnmatch/kafka_clients.py"): "the one place clients are built",
    Path("tools/nnmatch_tools/devstack.py"): "probes the plain local dev broker it started",
}


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    return make_ca(tmp_path, "unit-ca").cert_file


def _kafka(**security: Any) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="broker-1:9093",
        enable_idempotence=True,
        partitions=1,
        replication_factor=1,
        topic_prefix="",
        client_id="nnmatch-test",
        security=KafkaSecurity(**security),
    )


def _refusal(**env: str) -> str:
    """The error of settings read from these variables (and no others of the process)."""
    values: dict[str, Any] = {k.removeprefix("NNMATCH_").lower(): v for k, v in env.items()}
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**values)
    return str(refused.value)


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol() -> None:
    settings = ServiceSettings()

    assert settings.kafka().security == KafkaSecurity()
    assert kafka_clients.security_kwargs(settings.kafka().security) == {
        "security_protocol": "PLAINTEXT"
    }


def test_the_settings_are_read_from_nnmatch_kafka_variables(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    for name, value in {
        "NNMATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "NNMATCH_KAFKA_SSL_CAFILE": str(ca_file),
        "NNMATCH_KAFKA_SSL_CHECK_HOSTNAME": "false",
        "NNMATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "NNMATCH_KAFKA_SASL_USERNAME": "matching",
        "NNMATCH_KAFKA_SASL_PASSWORD": "s3cret",
    }.items():
        monkeypatch.setenv(name, value)

    security = ServiceSettings().kafka().security

    assert security.protocol == "SASL_SSL"
    assert security.ssl_cafile == ca_file
    assert security.ssl_check_hostname is False
    assert (security.sasl_mechanism, security.sasl_username) == ("SCRAM-SHA-256", "matching")
    assert security.sasl_password == SecretStr("s3cret")
    assert "s3cret" not in repr(ServiceSettings())


def test_a_sasl_mechanism_without_a_user_names_the_variables_to_set() -> None:
    message = _refusal(
        NNMATCH_KAFKA_SECURITY_PROTOCOL="SASL_SSL", NNMATCH_KAFKA_SASL_MECHANISM="SCRAM-SHA-512"
    )

    assert (
        "NNMATCH_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 needs NNMATCH_KAFKA_SASL_USERNAME, "
        "NNMATCH_KAFKA_SASL_PASSWORD"
    ) in message


def test_a_sasl_protocol_without_a_mechanism_names_the_choices() -> None:
    message = _refusal(NNMATCH_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")

    assert "needs NNMATCH_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256" in message


def test_sasl_settings_under_a_protocol_without_sasl_are_refused() -> None:
    message = _refusal(NNMATCH_KAFKA_SASL_MECHANISM="PLAIN", NNMATCH_KAFKA_SASL_USERNAME="u")

    assert "does not use SASL: set NNMATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in message


def test_a_ca_file_under_plaintext_is_refused_naming_the_protocol(ca_file: Path) -> None:
    message = _refusal(NNMATCH_KAFKA_SSL_CAFILE=str(ca_file))

    assert "NNMATCH_KAFKA_SSL_CAFILE set but NNMATCH_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in message
    assert "set NNMATCH_KAFKA_SECURITY_PROTOCOL=SSL" in message


def test_a_client_key_without_its_certificate_is_refused(ca_file: Path) -> None:
    message = _refusal(
        NNMATCH_KAFKA_SECURITY_PROTOCOL="SSL", NNMATCH_KAFKA_SSL_KEYFILE=str(ca_file)
    )

    assert "NNMATCH_KAFKA_SSL_KEYFILE needs NNMATCH_KAFKA_SSL_CERTFILE" in message


def test_a_ca_file_that_does_not_exist_is_refused_at_start_up() -> None:
    message = _refusal(
        NNMATCH_KAFKA_SECURITY_PROTOCOL="SSL", NNMATCH_KAFKA_SSL_CAFILE="/nowhere/ca.pem"
    )

    assert "kafka_ssl_cafile" in message
    assert "Path does not point to a file" in message


def test_oauthbearer_needs_its_token_url_and_client() -> None:
    message = _refusal(
        NNMATCH_KAFKA_SECURITY_PROTOCOL="SASL_SSL", NNMATCH_KAFKA_SASL_MECHANISM="OAUTHBEARER"
    )

    assert (
        "NNMATCH_KAFKA_SASL_MECHANISM=OAUTHBEARER needs NNMATCH_KAFKA_SASL_OAUTH_TOKEN_URL, "
        "NNMATCH_KAFKA_SASL_OAUTH_CLIENT_ID, NNMATCH_KAFKA_SASL_OAUTH_CLIENT_SECRET"
    ) in message


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_password_login_reaches_every_aiokafka_client(
    mechanism: str, ca_file: Path
) -> None:
    kafka = _kafka(
        protocol="SASL_SSL",
        ssl_cafile=ca_file,
        sasl_mechanism=mechanism,
        sasl_username="matching",
        sasl_password=SecretStr("s3cret"),
    )
    clients = [
        kafka_clients.consumer(kafka)._client,
        kafka_clients.producer(kafka).client,
        kafka_clients.admin(kafka)._client,
    ]

    for client in clients:
        assert client._security_protocol == "SASL_SSL"
        assert isinstance(client._ssl_context, ssl.SSLContext)
        assert client._ssl_context.check_hostname is True
        assert client._ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert client._sasl_mechanism == mechanism
        assert (client._sasl_plain_username, client._sasl_plain_password) == (
            "matching",
            "s3cret",
        )


async def test_tls_alone_reaches_aiokafka_with_the_hostname_check_as_configured(
    ca_file: Path,
) -> None:
    kafka = _kafka(protocol="SSL", ssl_cafile=ca_file, ssl_check_hostname=False)

    client = kafka_clients.producer(kafka).client

    assert client._security_protocol == "SSL"
    assert client._ssl_context.check_hostname is False
    assert client._ssl_context.verify_mode == ssl.CERT_REQUIRED  # the chain is still checked


async def test_oauthbearer_gives_aiokafka_a_client_credentials_token_provider() -> None:
    kafka = _kafka(
        protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_url="https://idp.example/token",
        sasl_oauth_client_id="nnmatch-matching",
        sasl_oauth_client_secret=SecretStr("s3cret"),
        sasl_oauth_scope="kafka",
    )

    client = kafka_clients.consumer(kafka)._client

    assert client._sasl_mechanism == "OAUTHBEARER"
    provider = client._sasl_oauth_token_provider
    assert isinstance(provider, ClientCredentialsTokens)
    assert (provider.token_url, provider.client_id, provider.scope) == (
        "https://idp.example/token",
        "nnmatch-matching",
        "kafka",
    )


async def test_the_services_faststream_broker_and_redrive_carry_the_login(ca_file: Path) -> None:
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=ca_file,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="notifications",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    broker = make_broker(settings)
    builder: Any = broker.config.broker_config.builder  # a partial of AIOKafkaConsumer
    options = [
        broker._connection_kwargs,  # the producer's
        builder.keywords,  # every subscriber's consumer
    ]
    redrive = redrive_consumer(settings, "nnmatch-redrive")._client

    for given in options:
        assert given["security_protocol"] == "SASL_SSL"
        assert isinstance(given["ssl_context"], ssl.SSLContext)
        assert given["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (given["sasl_plain_username"], given["sasl_plain_password"]) == (
            "notifications",
            "s3cret",
        )
    assert (redrive._security_protocol, redrive._sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")


def test_no_module_builds_a_kafka_client_but_the_one_builder() -> None:
    """A client built elsewhere would connect without the cluster's TLS and login."""
    offenders = []
    for top in ("libs", "services", "tools"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in BUILDERS:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    if name in CLIENT_CLASSES:
                        offenders.append(f"{relative}:{node.lineno} builds {name}")

    assert offenders == [], "build Kafka clients with nnmatch.kafka_clients: " + "; ".join(
        offenders
    )


def _token_server(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.MockTransport(answer)


async def test_an_oauth_token_is_fetched_once_and_reused_until_near_its_expiry() -> None:
    now = [1000.0]
    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(200, json={"access_token": "t1", "expires_in": 300, "token_type": "x"}),
        httpx.Response(200, json={"access_token": "t2", "expires_in": 300}),
    ]
    tokens = ClientCredentialsTokens(
        "https://idp.example/token",
        "nnmatch-matching",
        SecretStr("s3cret"),
        "kafka",
        clock=lambda: now[0],
        transport=_token_server(answers, seen),
    )

    first, again = await tokens.token(), await tokens.token()
    now[0] += 300 - 29  # inside the renewal margin
    renewed = await tokens.token()

    assert (first, again, renewed) == ("t1", "t1", "t2")
    assert len(seen) == 2
    body = seen[0].content.decode()
    assert "grant_type=client_credentials" in body
    assert "scope=kafka" in body
    assert seen[0].headers["authorization"].startswith("Basic ")


async def test_a_refused_token_request_says_what_the_provider_answered() -> None:
    seen: list[httpx.Request] = []
    tokens = ClientCredentialsTokens(
        "https://idp.example/token",
        "nnmatch-matching",
        SecretStr("wrong"),
        transport=_token_server([httpx.Response(401, text="invalid_client")], seen),
    )

    with pytest.raises(TokenError, match="answered 401: invalid_client"):
        await tokens.token()


def test_a_missing_stunnel_fails_the_tls_tests_naming_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no stunnel on it

    with pytest.raises(MissingTool, match=r"apt-get install -y stunnel4"):
        stunnel_binary()
