"""The AsyncAPI 3.0 document of nnmatch's topics, generated from `topics.py` and `events.py`.

`python -m nnmatch.asyncapi > docs/asyncapi.json` regenerates it; a test fails when the copy
in the repo no longer matches the code, so the published contract cannot drift.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from nnmatch import __version__
from nnmatch.events import EVENT_TYPES, event_type_name
from nnmatch.shredding import LIST_HEAD_HEADER, SEALED_FIELD_SCHEMA, describe_seals
from nnmatch.topics import ALL_TOPICS, TopicSpec

_REF = "#/components/schemas/{model}"


def _messages(spec: TopicSpec) -> dict[str, Any]:
    messages: dict[str, Any] = {
        event_type_name(event): {"$ref": f"#/components/messages/{event_type_name(event)}"}
        for event in spec.events
    }
    if spec.compacted:
        messages["Tombstone"] = {"$ref": "#/components/messages/Tombstone"}
    return messages


def document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(event, "validation") for event in EVENT_TYPES], ref_template=_REF
    )
    channels: dict[str, Any] = {}
    for spec in ALL_TOPICS:
        channels[spec.name] = {
            "address": spec.name,
            "description": f"key: {spec.key}; cleanup.policy={spec.config()['cleanup.policy']}",
            "messages": _messages(spec),
        }
        channels[spec.dlq] = {
            "address": spec.dlq,
            "description": f"Records of {spec.name} a consumer could not process, with the cause.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        }
    messages: dict[str, Any] = {
        event_type_name(event): {
            "name": event_type_name(event),
            "contentType": "application/json",
            "summary": (event.__doc__ or "").strip().splitlines()[0],
            "description": describe_seals(event_type_name(event)),
            "payload": {"$ref": _REF.format(model=event.__name__)},
        }
        for event in EVENT_TYPES
    }
    messages["MatchesComputed"]["headers"] = {
        "type": "object",
        "properties": {
            LIST_HEAD_HEADER: {
                "type": "string",
                "description": "A SealedField as JSON, under the list owner's key: "
                "`candidates` (member ids in order), `key_ids` (the key each card is sealed "
                "under) and `last` (the last card's `sealed` blobs), for readers that need "
                "only the list's head (docs/EVENTS.md). Absent when sealing is off and on "
                "records redriven from a dead letter; readers fall back on the value.",
            }
        },
    }
    messages["Tombstone"] = {
        "name": "Tombstone",
        "summary": "A null value: compaction erases the key.",
        "payload": {"type": "null"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "nnmatch events",
            "version": __version__,
            "description": "Topics between the profiles, matching and notifications services. "
            "Every value carries type, event_id, schema_version, occurred_at and producer. "
            "Evolution (docs/EVENTS.md): within a schema_version producers only add optional "
            "fields and never remove a field or change its meaning; consumers ignore fields "
            "they do not know (`additionalProperties: false` binds producers, not readers). "
            "A breaking change is a new schema_version, which older consumers dead-letter. "
            "Personal fields travel sealed under a per-member key (crypto-shredding): each "
            "message's description says which; an object may carry `sealed`, a list of "
            "SealedField, whose opened fields belong to it.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {
            "messages": messages,
            "schemas": schemas["$defs"] | {"SealedField": SEALED_FIELD_SCHEMA},
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
