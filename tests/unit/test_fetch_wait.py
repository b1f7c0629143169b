"""The consumers' fetch wait: read from `NNMATCH_KAFKA_FETCH_MAX_WAIT_MS`, carried by every
consumer `kafka_clients` builds, and set low by the dev stack only on the embedded broker
(Tansu answers a fetch when its wait is over, so the wait is added to every hop)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nnmatch import kafka_clients
from nnmatch.settings import CONSUMER_FETCH_MAX_WAIT_MS, ServiceSettings
from nnmatch_tools.devstack import EMBEDDED_FETCH_MAX_WAIT_MS, Component, DevStack


def test_kafkas_own_default_unless_the_variable_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NNMATCH_KAFKA_FETCH_MAX_WAIT_MS", raising=False)  # `nnmatch dev up`'s
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
    tmp_path: Path, embedded: bool, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NNMATCH_KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    component = Component("kafka", "127.0.0.1:9092", False, None, None)
    stack = DevStack(component, component, kafka_embedded=embedded, auth_dir=tmp_path)

    assert stack.env()["NNMATCH_KAFKA_FETCH_MAX_WAIT_MS"] == str(expected)
    assert EMBEDDED_FETCH_MAX_WAIT_MS < CONSUMER_FETCH_MAX_WAIT_MS


def test_a_value_the_caller_set_wins_over_the_dev_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNMATCH_KAFKA_FETCH_MAX_WAIT_MS", "250")
    component = Component("kafka", "127.0.0.1:9092", False, None, None)
    stack = DevStack(component, component, kafka_embedded=True, auth_dir=tmp_path)

    assert stack.env()["NNMATCH_KAFKA_FETCH_MAX_WAIT_MS"] == "250"


def test_a_wait_as_long_as_a_request_may_take_is_refused_naming_both_variables() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(kafka_fetch_max_wait_ms=15_000, kafka_request_timeout_ms=15_000)

    assert "NNMATCH_KAFKA_FETCH_MAX_WAIT_MS (15000) must be below" in str(refused.value)
    assert "NNMATCH_KAFKA_REQUEST_TIMEOUT_MS" in str(refused.value)
    ServiceSettings(kafka_fetch_max_wait_ms=14_999, kafka_request_timeout_ms=15_000)
