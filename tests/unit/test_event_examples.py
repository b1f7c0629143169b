"""Every example message decodes as its topic's consumers decode it (sentry-kafka-schemas style).

A contract change that breaks a consumer fails here, not in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nnmatch
from nnmatch.events import (
    EVENT_TYPES,
    DeadLetter,
    Event,
    ProfileVectorsComputed,
    VectorKind,
    decode_event,
    encode_event,
    event_type_name,
)
from nnmatch.topics import ALL_TOPICS, TopicSpec

EXAMPLES = Path(nnmatch.__file__).parent / "examples"
SPECS = {spec.name: spec for spec in ALL_TOPICS}
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/*/*.json"))


def _accepted(topic: str) -> tuple[type[Event], ...]:
    """What a consumer of `topic` accepts: a topic's own events, or `DeadLetter` on its DLQ."""
    if topic.endswith(".dlq"):
        assert topic.removesuffix(".dlq") in SPECS, f"{topic} is the DLQ of no known topic"
        return (DeadLetter,)
    assert topic in SPECS, f"examples/{topic} names no topic in nnmatch.topics.ALL_TOPICS"
    return SPECS[topic].events


def _example_id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def test_every_example_file_sits_under_topic_and_schema_version() -> None:
    every_json = sorted(EXAMPLES.rglob("*.json"))
    assert every_json, f"no examples under {EXAMPLES}"
    assert every_json == EXAMPLE_FILES, "examples must be examples/<topic>/<version>/<Type>.json"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_example_id)
def test_example_decodes_as_its_topic_carries_it_and_re_encodes_to_the_same_event(
    path: Path,
) -> None:
    topic, version, _ = path.relative_to(EXAMPLES).parts
    raw = path.read_bytes()

    event = decode_event(raw, _accepted(topic))

    assert event_type_name(type(event)) == path.stem
    assert str(event.schema_version) == version
    assert decode_event(encode_event(event), (type(event),)) == event
    assert event.model_dump(mode="json") == json.loads(raw), "example has fields not round-tripped"


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=event_type_name)
def test_every_event_type_has_an_example(event_type: type[Event]) -> None:
    name = event_type_name(event_type)
    assert [p for p in EXAMPLE_FILES if p.stem == name], f"no example for {name}"


@pytest.mark.parametrize("spec", [s for s in ALL_TOPICS if s.events], ids=lambda s: s.name)
def test_every_topic_that_carries_events_has_examples_of_them(spec: TopicSpec) -> None:
    carried = {event_type_name(t) for t in spec.events}
    found = {p.stem for p in EXAMPLE_FILES if p.relative_to(EXAMPLES).parts[0] == spec.name}
    assert (EXAMPLES / spec.name).is_dir()
    assert carried <= found, f"{spec.name} lacks examples of {sorted(carried - found)}"


def test_dead_letter_example_sits_under_a_real_topics_dlq() -> None:
    dlq_dirs = {p.relative_to(EXAMPLES).parts[0] for p in EXAMPLE_FILES if p.stem == "DeadLetter"}
    assert dlq_dirs
    assert dlq_dirs <= {spec.dlq for spec in ALL_TOPICS}


def test_vectors_example_carries_unit_vectors_of_the_models_dimensions() -> None:
    path = EXAMPLES / "profile-vectors.v1" / "1" / "ProfileVectorsComputed.json"
    event = decode_event(path.read_bytes(), (ProfileVectorsComputed,))
    for kind in VectorKind:
        vector = event.vector(kind)
        assert vector.shape == (event.model.dimensions,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
