"""Operators find members by part of their display name (any case), across everyone the index
holds, discoverable or not; nothing else of the profile is searched."""

from __future__ import annotations

from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.operator_api import members_named
from tests.unit.builders import E0, E1, card, vectors_event


def _engine() -> MatchEngine:
    engine = MatchEngine(dimensions=len(E0))
    people = [
        ("m-3", card("Amina Yusuf", headline="Kofi's colleague")),
        ("m-1", card("AMINA Osei", discoverable=False)),
        ("m-2", card("Kofi Mensah")),
    ]
    for offset, (member_id, member) in enumerate(people):
        event = vectors_event(member_id, member, profile=E0, offers=E0, seeks=E1)
        engine.apply(event, LogPosition(0, offset))
    return engine


def test_members_are_found_by_part_of_their_name_in_any_case() -> None:
    found = members_named(_engine(), "amina", limit=10)

    assert [(m.member_id, m.discoverable) for m in found] == [("m-1", False), ("m-3", True)]
    assert members_named(_engine(), "amina", limit=1)[0].member_id == "m-1"
    assert [m.member_id for m in members_named(_engine(), "kofi", limit=10)] == ["m-2"]
