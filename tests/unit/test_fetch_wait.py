"""The consumers' fetch wait: read from `NNMATCH_KAFKA_FETCH_MAX_WAIT_MS`, carried by every
consumer `kafka_clients` builds, and set low by the dev stack only on the embedded broker
(Tansu answers a fetch when its wait is over, so the wait is added to every hop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnmatch import kafka_clients
from nnmatch.settings import CONSUMER_FETCH_MAX_WAIT_MS, ServiceSettings
from nnmatch_tools.devstack import EMBEDDED_FETCH_MAX_WAIT_MS, Component, DevStack


def test_kafkas_own_default_unless_the_variable_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings().kafka().fetch_max_wait_ms == CONSUMER_FETCH_MAX_WAIT_MS == 500

    monkeypatch.setenv("NNMATCH_KAFKA_FETCH_MAX_WAIT_MS", "40")

    assert ServiceSettings().kafka().fetch_max_wait_ms == 40


async def test_every_consumer_built_carries_it_and_a_caller_may_override_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NNMATCH_KAFKA_FETCH_MAX_WAIT_MS", "40")
    kafka = ServiceSettings().kafka()

    assert kafka_clients.consumer(kafka)._fetch_max_wait_ms == 40
    assert kafka_clients.consumer(kafka, fetch_max_wait_ms=10)._fetch_max_wait_ms == 10


@pytest.mark.parametrize(
    ("embedded", "expected"),
    [(True, EMBEDDED_FETCH_MAX_WAIT_MS), (False, CONSUMER_FETCH_MAX_WAIT_MS)],
)
def test_the_dev_stack_lowers_it_only_for_the_embedded_broker(
    tmp_path: Path, embedded: bool, expected: int
) -> None:
    component = Component("kafka", "127.0.0.1:9092", False, None, None)
    stack = DevStack(component, component, kafka_embedded=embedded, auth_dir=tmp_path)

    assert stack.env()["NNMATCH_KAFKA_FETCH_MAX_WAIT_MS"] == str(expected)
    assert EMBEDDED_FETCH_MAX_WAIT_MS < CONSUMER_FETCH_MAX_WAIT_MS
