"""The AsyncAPI document in the repo is exactly what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

from nnmatch.asyncapi import document, render
from nnmatch.topics import ALL_TOPICS

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_committed_asyncapi_matches_the_code() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is stale: run `python -m nnmatch.asyncapi > docs/asyncapi.json`"
    )


def test_every_topic_and_its_dead_letter_topic_is_a_channel_with_resolvable_messages() -> None:
    doc = document()
    for spec in ALL_TOPICS:
        assert spec.name in doc["channels"]
        assert spec.dlq in doc["channels"]
    text = json.dumps(doc)
    for name in doc["components"]["messages"]:
        assert f"#/components/messages/{name}" in text or name == "Tombstone"
    for message in doc["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref:
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
