"""The services' Kafka clients over real TLS: a Tansu broker behind stunnel, a CA made here.

With the CA that signed the broker's certificate, the admin client creates the topics, the
services' FastStream broker publishes and an aiokafka consumer reads the record back, every
connection through TLS (the broker advertises the stunnel port). With another CA, or a
certificate for another host name, start-up is refused with a message naming the setting.
SASL is not tested here against a live broker: no SASL-speaking broker runs on this machine
(tests/unit/test_kafka_security_settings.py checks what reaches aiokafka).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from nnmatch import kafka_clients
from nnmatch.events import FeedbackAction, FeedbackGiven, decode_event, encode_event
from nnmatch.messaging import make_broker
from nnmatch.settings import ServiceSettings
from nnmatch.topics import FEEDBACK, ensure_topics, topic_name
from tests.tls_broker import MissingTool, TlsBroker, tls_broker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    try:
        with tls_broker(tmp_path_factory.mktemp("kafka-tls")) as broker:
            yield broker
    except MissingTool as exc:
        pytest.fail(str(exc))  # never a skip: CI must install it


def _settings(address: str, cafile: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": address,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": cafile,
        "kafka_enable_idempotence": False,  # Tansu
        "kafka_partitions": 1,
        "topic_prefix": "tls.",
        "log_format": "text",
    }
    return ServiceSettings(**(values | overrides))


async def _read_one(settings: ServiceSettings, topic: str) -> bytes:
    consumer = kafka_clients.consumer(
        settings.kafka(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await kafka_clients.start(consumer, settings.kafka())
    try:
        consumer.assign([TopicPartition(topic, 0)])
        async with asyncio.timeout(60):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    value: bytes = records[0].value
                    return value
    finally:
        await consumer.stop()


async def test_with_the_broker_ca_the_services_clients_create_produce_and_consume_over_tls(
    tls: TlsBroker,
) -> None:
    settings = _settings(tls.address, tls.ca.cert_file)
    event = FeedbackGiven(
        producer="tls-test", member_id="m-1", candidate_id="m-2", action=FeedbackAction.ACCEPT
    )
    topic = topic_name(FEEDBACK, settings.kafka())

    created = await ensure_topics(settings.kafka())
    broker = make_broker(settings)
    await broker.connect()
    try:
        await broker.publish(encode_event(event), topic, key=b"m-1")
    finally:
        await broker.stop()
    value = await _read_one(settings, topic)

    assert topic in created
    assert decode_event(value, (FeedbackGiven,)) == event


async def test_a_client_trusting_another_ca_is_refused_with_a_message_naming_the_fix(
    tls: TlsBroker,
) -> None:
    settings = _settings(tls.address, tls.other_ca.cert_file, topic_prefix="tls-refused.")

    with pytest.raises(kafka_clients.KafkaTlsError) as refused:
        await ensure_topics(settings.kafka())

    message = str(refused.value)
    assert f"TLS with the Kafka broker at {tls.address} failed" in message
    assert "unable to get local issuer certificate" in message
    assert f"NNMATCH_KAFKA_SSL_CAFILE={tls.other_ca.cert_file}" in message
    assert "the CA that signed the broker's certificate" in message


async def test_a_certificate_for_another_host_is_refused_unless_the_check_is_off(
    tls: TlsBroker,
) -> None:
    checked = _settings(tls.misnamed_address, tls.ca.cert_file, topic_prefix="tls-name.")
    unchecked = _settings(
        tls.misnamed_address,
        tls.ca.cert_file,
        topic_prefix="tls-name.",
        kafka_ssl_check_hostname=False,
    )

    with pytest.raises(kafka_clients.KafkaTlsError) as refused:
        await ensure_topics(checked.kafka())
    created = await ensure_topics(unchecked.kafka())

    assert "does not name that host" in str(refused.value)
    assert "NNMATCH_KAFKA_SSL_CHECK_HOSTNAME=false" in str(refused.value)
    assert topic_name(FEEDBACK, unchecked.kafka()) in created
