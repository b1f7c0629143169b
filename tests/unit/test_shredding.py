"""Crypto-shredding: sealed events open back to themselves, and erasing a key blanks them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from nnmatch.events import (
    EVENT_TYPES,
    DeadLetter,
    DeliveryRequested,
    Event,
    FeedbackGiven,
    MatchesComputed,
    ProfileUpserted,
    ProfileVectorsComputed,
    UndecodableRecord,
    decode_event,
    encode_event,
)
from nnmatch.member_keys import MemberKey, MemoryMemberKeys
from nnmatch.shredding import (
    LIST_HEAD_HEADER,
    SEALS,
    ListHead,
    open_events,
    open_list_heads,
    seal_events,
    seal_records,
)

EXAMPLES = Path(__file__).parents[2] / "libs" / "nnmatch" / "examples"


def example(name: str) -> Event:
    path = next(EXAMPLES.glob(f"*/1/{name}.json"))
    return decode_event(path.read_bytes(), EVENT_TYPES)


def every_example() -> list[Event]:
    return [decode_event(p.read_bytes(), EVENT_TYPES) for p in sorted(EXAMPLES.glob("*/1/*.json"))]


class CountingKeys(MemoryMemberKeys):
    """Counts lookups, so a test can show a batch costs one per nesting level."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def get_many(self, member_ids: Iterable[str]) -> dict[str, MemberKey]:
        self.lookups += 1
        return await super().get_many(member_ids)


async def sealed_and_known(keys: MemoryMemberKeys, event: Event) -> bytes:
    """Seal `event` with every key it names created first (as its producers would have)."""
    await keys.get_or_create_many(_people(event))
    [raw] = await seal_events(keys, [event])
    assert raw is not None
    return raw


def _people(event: Event) -> set[str]:
    text = encode_event(event).decode()
    return {m for m in ("m-0001", "m-0042", "m-0007", "m-0099", "m-0100") if m in text} | {
        getattr(event, "member_id", None) or "m-0001"
    }


@pytest.mark.parametrize("event", every_example(), ids=lambda e: type(e).__name__)
async def test_every_example_opens_back_to_itself(event: Event) -> None:
    keys = MemoryMemberKeys()
    raw = await sealed_and_known(keys, event)

    [opened] = await open_events(keys, [raw], EVENT_TYPES)

    assert opened == event


@pytest.mark.parametrize("seal", [True, False], ids=["sealed", "written unsealed"])
async def test_a_member_who_writes_the_word_sealed_is_not_read_as_a_seal(seal: bool) -> None:
    # Found importing real researchers' bios: "sealed" became a key of `terms`, the opener
    # took it for a list of seals and the member's vectors were dead-lettered, never indexed.
    keys = MemoryMemberKeys()
    vectors = example("ProfileVectorsComputed")
    assert isinstance(vectors, ProfileVectorsComputed)
    event = vectors.model_copy(update={"terms": {**vectors.terms, "sealed": 2, "data": 1}})
    [raw] = await seal_events(keys, [event], seal=seal)
    assert raw is not None

    [opened] = await open_events(keys, [raw], EVENT_TYPES)

    assert opened == event


def test_every_event_type_says_what_it_seals_or_carries_nothing_personal() -> None:
    unsealed = {t.__name__ for t in EVENT_TYPES} - SEALS.keys()
    # A member id and the fact of erasure; a hub's and its projects' own words (a hub is not a
    # person: its leaders are member ids, which stay readable everywhere, and a leader's
    # erasure republishes the hub without them); a hub's partner list (hubs' names and
    # aggregates of their members: topics and counts, no member). Moderation events: ids and
    # an outcome only (the report's text stays in the profiles service).
    assert unsealed == {
        "MemberSuspended",
        "MemberUnsuspended",
        "ReportResolved",
        "ProfileDeleted",
        "HubUpserted",
        "HubDeleted",
        "ProjectUpserted",
        "ProjectDeleted",
        "HubPartnersComputed",
    }


async def test_a_sealed_profile_shows_no_personal_text_and_nothing_after_erasure() -> None:
    keys = MemoryMemberKeys()
    event = example("ProfileUpserted")
    assert isinstance(event, ProfileUpserted)
    raw = await sealed_and_known(keys, event)
    assert event.profile.display_name.encode() not in raw
    assert event.profile.bio[:40].encode() not in raw

    await keys.delete(event.member_id)

    assert await open_events(keys, [raw], (ProfileUpserted,)) == [None]


async def test_erasing_a_suggested_member_drops_their_card_from_other_lists() -> None:
    keys = MemoryMemberKeys()
    event = example("MatchesComputed")
    assert isinstance(event, MatchesComputed)
    assert event.suggestions
    erased = event.suggestions[0].member_id
    raw = await sealed_and_known(keys, event)
    assert event.suggestions[0].display_name.encode() not in raw

    await keys.delete(erased)
    [opened] = await open_events(keys, [raw], (MatchesComputed,))

    assert isinstance(opened, MatchesComputed)
    assert [s.member_id for s in opened.suggestions] == [
        s.member_id for s in event.suggestions if s.member_id != erased
    ]


async def test_erasing_the_list_owner_blanks_the_whole_list() -> None:
    keys = MemoryMemberKeys()
    event = example("MatchesComputed")
    raw = await sealed_and_known(keys, event)
    assert isinstance(event, MatchesComputed)

    await keys.delete(event.member_id)

    assert await open_events(keys, [raw], (MatchesComputed,)) == [None]
    assert event.suggestions[0].member_id.encode() not in raw  # whom they matched is hidden too


async def test_a_delivery_loses_the_introduction_of_an_erased_member() -> None:
    keys = MemoryMemberKeys()
    event = example("DeliveryRequested")
    assert isinstance(event, DeliveryRequested)
    first = event.items[0]
    other = first.model_copy(
        update={
            "item_id": "other",
            "suggestion": first.suggestion.model_copy(update={"member_id": "m-0100"}),
        }
    )
    both = event.model_copy(update={"items": [first, other]})
    raw = await sealed_and_known(keys, both)

    await keys.delete(first.suggestion.member_id)
    [opened] = await open_events(keys, [raw], (DeliveryRequested,))
    assert isinstance(opened, DeliveryRequested)
    assert [i.item_id for i in opened.items] == ["other"]

    await keys.delete("m-0100")  # nothing left but erased members' parts: as deleted
    assert await open_events(keys, [raw], (DeliveryRequested,)) == [None]


async def test_derived_records_of_an_erased_member_are_not_written() -> None:
    keys = MemoryMemberKeys()
    vectors = example("ProfileVectorsComputed")
    assert isinstance(vectors, ProfileVectorsComputed)
    await keys.delete(vectors.member_id)  # erased while the embedder was at work

    assert await seal_events(keys, [vectors]) == [None]
    assert keys.keys == {}  # a late derived record never brings the key back


async def test_a_member_seen_first_in_a_derived_record_gets_a_key() -> None:
    """Records written before sealing existed: their members' next records are sealed."""
    keys = MemoryMemberKeys()
    vectors = example("ProfileVectorsComputed")
    assert isinstance(vectors, ProfileVectorsComputed)

    [raw] = await seal_events(keys, [vectors])

    assert raw is not None
    assert set(keys.keys) == {vectors.member_id}


async def test_only_the_members_own_profile_or_contact_write_revives_an_erased_member() -> None:
    keys = MemoryMemberKeys()
    profile, feedback = example("ProfileUpserted"), example("FeedbackGiven")
    assert isinstance(feedback, FeedbackGiven)
    await keys.delete(feedback.member_id)

    assert await seal_events(keys, [feedback]) == [None]
    [raw] = await seal_events(keys, [profile])  # the member joins again

    assert raw is not None
    assert (await seal_events(keys, [feedback]))[0] is not None


async def test_the_members_own_writes_create_their_key() -> None:
    keys = MemoryMemberKeys()
    feedback = example("FeedbackGiven")
    assert isinstance(feedback, FeedbackGiven)

    [raw] = await seal_events(keys, [feedback])

    assert raw is not None
    assert set(keys.keys) == {feedback.member_id}
    assert feedback.candidate_id.encode() not in raw


async def test_a_member_who_joins_again_cannot_open_the_old_records() -> None:
    keys = MemoryMemberKeys()
    event = example("ProfileUpserted")
    assert isinstance(event, ProfileUpserted)
    old = await sealed_and_known(keys, event)
    await keys.delete(event.member_id)
    await keys.get_or_create_many([event.member_id])

    assert await open_events(keys, [old], (ProfileUpserted,)) == [None]


async def test_during_a_rollout_with_sealing_off_records_are_in_the_old_clear_form() -> None:
    """`NNMATCH_KAFKA_SEAL_EVENTS=false`: what a consumer of a release without sealing reads,
    field for field; an erased member's derived records are still not written."""
    keys = MemoryMemberKeys()
    profile, vectors = example("ProfileUpserted"), example("ProfileVectorsComputed")
    assert isinstance(vectors, ProfileVectorsComputed)

    [raw] = await seal_events(keys, [profile], seal=False)
    await keys.delete(vectors.member_id)
    erased = await seal_events(keys, [vectors], seal=False)

    assert raw is not None
    assert json.loads(raw) == json.loads(encode_event(profile))
    assert erased == [None]


async def test_values_written_before_sealing_still_decode() -> None:
    event = example("ProfileVectorsComputed")

    assert await open_events(MemoryMemberKeys(), [encode_event(event)], EVENT_TYPES) == [event]


async def test_a_tampered_seal_is_refused_for_the_dead_letter_queue() -> None:
    keys = MemoryMemberKeys()
    raw = await sealed_and_known(keys, example("ContactUpserted"))
    data = json.loads(raw)
    blob = data["sealed"][0]
    blob["data"] = blob["data"][:-8] + ("A" * 8 if not blob["data"].endswith("A" * 8) else "B" * 8)

    [opened] = await open_events(keys, [json.dumps(data).encode()], EVENT_TYPES)

    assert isinstance(opened, UndecodableRecord)
    assert "does not open" in str(opened)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        # Inserted, not replaced: a lenient decoder would skip them and open the blob.
        (lambda text: text[:10] + "!" + text[10:], "a character outside base64"),
        (lambda text: text + "\n", "a line break"),
        (lambda text: text[:10] + "é" + text[11:], "not ASCII"),
        (lambda text: text[:-1], "cut short: bad padding"),
    ],
)
async def test_a_seal_that_is_not_strict_base64_is_refused(
    damage: Callable[[str], str], why: str
) -> None:
    keys = MemoryMemberKeys()
    data = json.loads(await sealed_and_known(keys, example("ContactUpserted")))
    data["sealed"][0]["data"] = damage(data["sealed"][0]["data"])

    [opened] = await open_events(keys, [json.dumps(data).encode()], EVENT_TYPES)

    assert isinstance(opened, UndecodableRecord), why
    assert "does not open" in str(opened)


async def test_a_seal_moved_under_another_member_does_not_open() -> None:
    keys = MemoryMemberKeys()
    event = example("ProfileUpserted")
    raw = await sealed_and_known(keys, event)
    await keys.get_or_create_many(["m-other"])
    data = json.loads(raw)
    data["member_id"] = "m-other"
    data["sealed"][0]["member_id"] = "m-other"
    data["sealed"][0]["key_id"] = keys.keys["m-other"].key_id

    [opened] = await open_events(keys, [json.dumps(data).encode()], EVENT_TYPES)

    assert isinstance(opened, UndecodableRecord)


async def test_a_damaged_key_in_the_store_fails_no_batch() -> None:
    """A secret of the wrong length (a damaged store value) still makes a key object, whose
    id is not the one its records were sealed under: they read as an erased member's, and
    the rest of the batch opens (a cipher made with the key object raised while reading)."""
    keys = MemoryMemberKeys()
    damaged = example("ProfileUpserted")
    intact = example("ContactUpserted").model_copy(update={"member_id": "m-0042"})
    raws = [await sealed_and_known(keys, damaged), await sealed_and_known(keys, intact)]
    assert isinstance(damaged, ProfileUpserted)
    keys.keys[damaged.member_id] = MemberKey(keys.keys[damaged.member_id].secret[:5])

    assert await open_events(keys, raws, EVENT_TYPES) == [None, intact]


def test_a_key_equals_its_copy_whether_or_not_its_cipher_was_made() -> None:
    used, fresh = MemberKey(b"k" * 32), MemberKey(b"k" * 32)
    assert used.cipher.decrypt(b"n" * 12, used.cipher.encrypt(b"n" * 12, b"x", None), None)

    assert used.cipher is used.cipher  # made once
    assert used == fresh
    assert hash(used) == hash(fresh)
    assert used.key_id == fresh.key_id
    assert repr(used) == "MemberKey()"


async def test_a_batch_costs_one_key_lookup_per_nesting_level() -> None:
    keys = CountingKeys()
    lists = []
    for n in range(50):
        event = example("MatchesComputed")
        assert isinstance(event, MatchesComputed)
        lists.append(event.model_copy(update={"member_id": f"m-list-{n}"}))
        lists.append(event.model_copy(update={"member_id": f"m-list-{n}"}))
    await keys.get_or_create_many({e.member_id for e in lists} | {"m-0042", "m-0007"})
    for s in lists[0].suggestions:
        await keys.get_or_create_many([s.member_id])
    sealed = await seal_events(keys, lists)
    keys.lookups = 0

    opened = await open_events(keys, [r for r in sealed if r is not None], (MatchesComputed,))

    assert opened == lists
    assert keys.lookups == 2  # the lists' owners, then the cards' owners


async def test_a_dead_letter_value_is_sealed_under_the_records_member() -> None:
    keys = MemoryMemberKeys()
    letter = example("DeadLetter")
    assert isinstance(letter, DeadLetter)
    assert letter.key
    assert letter.value_b64
    [raw] = await seal_events(keys, [letter])
    assert raw is not None
    assert letter.value_b64.encode() not in raw

    await keys.delete(letter.key)

    assert await open_events(keys, [raw], (DeadLetter,)) == [None]


async def test_a_dead_letter_under_a_key_that_is_no_member_id_stays_as_it_was() -> None:
    letter = example("DeadLetter")
    assert isinstance(letter, DeadLetter)
    odd = letter.model_copy(update={"key": "not a member id!"})

    [raw] = await seal_events(MemoryMemberKeys(), [odd])

    assert raw is not None
    assert json.loads(raw)["value_b64"] == odd.value_b64


async def test_vectors_of_a_member_open_only_while_their_key_lives() -> None:
    keys = MemoryMemberKeys()
    event = example("ProfileVectorsComputed")
    assert isinstance(event, ProfileVectorsComputed)
    raw = await sealed_and_known(keys, event)
    assert event.card.display_name.encode() not in raw

    assert await open_events(keys, [raw], (ProfileVectorsComputed,)) == [event]
    await keys.delete(event.member_id)
    assert await open_events(keys, [raw], (ProfileVectorsComputed,)) == [None]


async def test_list_heads_read_what_open_events_reads_opening_two_blobs_a_list() -> None:
    """A replica following the others' lists reads only their heads (`open_list_heads`):
    owner, candidates in order and the last score, as `open_events` gives them, erasures
    included; one key lookup per level for the whole batch."""
    keys = CountingKeys()
    example_list = example("MatchesComputed")
    assert isinstance(example_list, MatchesComputed)
    card = example_list.suggestions[0]
    cards = [
        card.model_copy(update={"member_id": f"m-09{i}", "score": 0.9 - i / 10}) for i in range(4)
    ]
    event = example_list.model_copy(update={"suggestions": cards})
    last_gone = event.model_copy(update={"member_id": "owner-b"})
    owner_gone = event.model_copy(update={"member_id": "owner-c"})
    empty = event.model_copy(update={"member_id": "owner-d", "suggestions": []})
    again = event.model_copy(update={"member_id": "owner-e", "suggestions": cards[:1]})
    raws = [await sealed_and_known(keys, e) for e in (event, last_gone, owner_gone, empty, again)]
    clear = json.loads(encode_event(event))
    bad_seal, huge = json.loads(encode_event(event)), json.loads(encode_event(event))
    bad_seal["suggestions"][1]["sealed"] = "not a list"
    huge["suggestions"][-1]["score"] = 10**400
    raws += [
        json.dumps(clear).encode(),  # written before sealing: in the clear
        await sealed_and_known(keys, example("ProfileUpserted")),  # not a list
        b"not json",
        json.dumps(bad_seal).encode(),  # open_events refuses the record: so do the heads
        json.dumps(huge).encode(),  # a score no float holds
    ]
    await keys.delete(owner_gone.member_id)
    await keys.delete(cards[-1].member_id)  # the last card of every list but `again`'s
    await keys.delete(cards[0].member_id)
    await keys.get_or_create_many([cards[0].member_id])  # joined again: a new key

    keys.lookups = 0
    heads = await open_list_heads(keys, raws)
    assert keys.lookups == 2

    opened = await open_events(keys, raws, (MatchesComputed,))
    expected = [
        ListHead(
            o.member_id,
            [s.member_id for s in o.suggestions],
            o.suggestions[-1].score if o.suggestions else None,
        )
        if isinstance(o, MatchesComputed)
        else None
        for o in opened
    ]
    assert heads == expected
    kept = [c.member_id for c in cards[1:-1]]
    assert heads[0] == ListHead(event.member_id, kept, cards[-2].score)
    assert heads[1] is not None
    assert heads[2] is None  # its owner was erased
    assert heads[3] == ListHead("owner-d", [], None)
    assert heads[4] == ListHead("owner-e", [], None)  # its one card's member joined again
    assert heads[5] == ListHead(event.member_id, [c.member_id for c in cards], cards[-1].score)
    assert heads[6:] == [None, None, None, None]


async def test_a_lists_sealed_head_header_reads_as_its_value_does() -> None:
    """A list travels with its head sealed in a record header (`LIST_HEAD_HEADER`): read from
    the header, every head is what its value gives (erased candidates, a candidate who joined
    again, an erased owner, a last card left out: read from the value), in one batch with
    records that have none, two key lookups in all; the header names no candidate and no
    score in the clear, and a tampered one reads as nothing."""
    keys = CountingKeys()
    example_list = example("MatchesComputed")
    assert isinstance(example_list, MatchesComputed)
    cards = [
        example_list.suggestions[0].model_copy(
            update={"member_id": f"m-09{i}", "score": 0.9 - i / 10}
        )
        for i in range(4)
    ]
    event = example_list.model_copy(update={"suggestions": cards})
    lists = [
        event,
        event.model_copy(update={"member_id": "owner-b"}),
        event.model_copy(update={"member_id": "owner-c"}),  # its owner is erased below
        event.model_copy(update={"member_id": "owner-d", "suggestions": []}),
        event.model_copy(update={"member_id": "owner-e", "suggestions": cards[:1]}),
        event.model_copy(update={"member_id": "owner-f", "suggestions": cards[1:3]}),
        # Its first card's member joins again below, its last stays: the header alone reads.
        event.model_copy(update={"member_id": "owner-g", "suggestions": cards[:3]}),
    ]
    for one in lists:
        await keys.get_or_create_many(_people(one))
    records = await seal_records(keys, lists)
    assert all(r is not None for r in records)
    values = [r.value for r in records if r is not None]
    headers = [r.headers[LIST_HEAD_HEADER].encode() for r in records if r is not None]
    assert all(len(h) < len(v) for h, v in zip(headers[:3], values[:3], strict=True))
    assert not any(c.member_id.encode() in h for c in cards for h in headers)
    assert not any(b"score" in h for h in headers)
    no_head = await seal_records(keys, [example("ProfileUpserted"), *lists[:1]], seal=False)
    assert [r.headers if r else None for r in no_head] == [{}, {}]  # in the clear: no header
    [profile] = await seal_records(keys, [example("ProfileUpserted")])
    assert profile is not None
    assert profile.headers == {}
    await keys.delete("owner-c")
    await keys.delete(cards[-1].member_id)
    await keys.delete(cards[0].member_id)
    await keys.get_or_create_many([cards[0].member_id])  # joined again: a new key

    from_values = await open_list_heads(keys, values)
    keys.lookups = 0
    mixed = [h if i % 2 == 0 else None for i, h in enumerate(headers)]
    assert await open_list_heads(keys, values, mixed) == from_values
    assert keys.lookups == 2
    keys.lookups = 0
    assert await open_list_heads(keys, values, headers) == from_values
    assert keys.lookups == 2
    assert from_values[0] == ListHead(event.member_id, [c.member_id for c in cards[1:-1]], 0.7)
    assert from_values[2] is None
    assert from_values[4] == ListHead("owner-e", [], None)
    # The header alone: its last card kept (the others fell back on their value).
    assert from_values[5] == ListHead("owner-f", [c.member_id for c in cards[1:3]], 0.7)
    assert from_values[6] == ListHead("owner-g", [c.member_id for c in cards[1:3]], 0.7)
    unread = [b"not read"] * 2
    assert await open_list_heads(keys, unread, headers[5:]) == from_values[5:]

    # A header that is no blob or does not open is as good as none: the value is read.
    tampered = json.loads(headers[0])
    tampered["data"] = tampered["data"][:-8] + "AAAAAAA="
    bad = [json.dumps(tampered).encode(), b"not json", b'{"member_id": 1}', b"[" * 5000]
    assert await open_list_heads(keys, values[:4], bad) == from_values[:4]
    assert await open_list_heads(keys, [b"[" * 5000], [None]) == [None]  # nested too deeply
