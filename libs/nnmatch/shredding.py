"""Crypto-shredding: personal fields travel sealed under their member's key; erasure drops it.

A broker may compact late or never, and `matches.v1`, `feedback.v1` and the DLQs are not
compacted at all, so tombstones alone cannot make an erased member unreadable. Instead the
personal fields of every event are sealed (AES-256-GCM) under a per-member key kept in
`nnmatch.member_keys`; DELETE removes the key and every record ever written for the member,
on every topic, becomes unreadable at once.

On the wire any JSON object of an event may carry `sealed`: a list of
`{"member_id", "key_id", "data"}`, where `data` is base64 of nonce ‖ ciphertext of a JSON object
whose fields belong in that object. Readers open what they can and merge it back, so handlers
see the same models as before; unsealed values (records written before sealing) still decode.
A sealed object whose key is gone is an erased member's: a list drops that element (a
suggestion of an erased member leaves every list it is in), and a whole event is skipped
(treated as deleted: neither handled nor dead-lettered). `SEALS` says what is sealed and for
whom; a member's first sealed record creates their key, and only their own new profile or
contact details (`revive`) replace an erasure marker by a new key, so a late derived record
never brings an erased member back (see `nnmatch.member_keys`).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from cryptography.exceptions import InvalidTag

from nnmatch.events import E, Event, UndecodableRecord, decode_data, parse_record, read_json
from nnmatch.member_keys import MemberKey, MemberKeys
from nnmatch.profile import MEMBER_ID_PATTERN

SEALED = "sealed"
NONCE_BYTES = 12
_MEMBER_ID = re.compile(MEMBER_ID_PATTERN)
Json = dict[str, Any]


@dataclass(frozen=True)
class Seal:
    """Seal `fields` (None: all but the owner's) of the objects at `at` under `owner`'s key.

    `at` walks from the event: a name steps into a field, `[]` into every list element.
    `owner` is a dotted path inside the object to the member id whose key seals it; a value
    that is not a member id (a dead letter's odd key) leaves the object as it is.
    """

    at: tuple[str, ...]
    owner: str
    fields: tuple[str, ...] | None
    revive: bool = False


SEALS: dict[str, tuple[Seal, ...]] = {
    "ProfileUpserted": (Seal((), "member_id", ("profile",), revive=True),),
    "ProfileVectorsComputed": (Seal((), "member_id", ("vectors", "text_hashes", "card", "terms")),),
    # Each card under its owner's key (erasing them blanks it in every list), then the whole
    # list under the list owner's key (erasing them hides whom they were matched with).
    "MatchesComputed": (
        Seal(("suggestions", "[]"), "member_id", None),
        Seal((), "member_id", ("suggestions",)),
    ),
    "FeedbackGiven": (Seal((), "member_id", ("candidate_id", "action")),),
    "ContactUpserted": (Seal((), "member_id", ("settings",), revive=True),),
    "DeliveryRequested": (
        Seal(("items", "[]"), "suggestion.member_id", ("shared_email",)),
        Seal(("items", "[]", "suggestion"), "member_id", None),
        Seal((), "member_id", ("items",)),
    ),
    # A dead letter keeps the raw value for an operator; under the record's member's key.
    "DeadLetter": (Seal((), "key", ("value_b64",)),),
}


def describe_seals(type_name: str) -> str:
    """In words, what of `type_name` travels sealed and under whose key (for the AsyncAPI)."""
    parts = []
    for seal in SEALS.get(type_name, ()):
        where = ".".join(seal.at).replace(".[]", "[]") or "the event"
        what = ", ".join(seal.fields) if seal.fields else f"every field but {seal.owner}"
        parts.append(f"{what} of {where} under the key of its {seal.owner}")
    if not parts:
        return "Nothing sealed: no personal field."
    return (
        "Sealed on the wire (docs/EVENTS.md, `sealed`): "
        + "; then ".join(parts)
        + ". Readers open and merge them back; an object whose key was erased is dropped."
    )


SEALED_FIELD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Fields of the enclosing object sealed under one member's data key "
    "(AES-256-GCM; associated data `member_id:key_id`). `data` is base64 of a 12-byte nonce and "
    "the ciphertext of a JSON object whose fields belong to the enclosing object.",
    "properties": {
        "member_id": {"type": "string"},
        "key_id": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
    "required": ["member_id", "key_id", "data"],
}


class _Drop(Exception):
    """The object's key is gone: drop the nearest list element, or the whole event."""


# --- sealing (producers) -----------------------------------------------------------------------


LIST_HEAD_HEADER = "nnmatch-list-head"
"""Record header of a sealed `MatchesComputed`: its head sealed under the list owner's key
(the candidates in order, the key id each card is sealed under, and the last card's own
sealed blob), so a matcher replica following the others' lists opens about 2 KB instead of
the whole list (about 27 KB): opening values was a fifth of each of two replicas' time while
they ranked everyone. Shredding is unchanged: the owner's key opens it, the cards name the
same candidates the list does, and the one score it holds stays under its candidate's key; a
candidate whose key is gone or replaced is left out as `open_events` leaves their card out.
Records without it are read from their value, as is one whose last card is left out."""


MAX_LIST_HEAD_BYTES = 64 * 1024
"""A list head of the longest list is under 10 KB; a header past this is read as none."""


@dataclass(frozen=True)
class SealedRecord:
    """An event as its record: the value (wire JSON, personal fields sealed) and the headers
    it travels with beside its content type (`LIST_HEAD_HEADER`)."""

    value: bytes
    headers: dict[str, str]


async def seal_events(
    keys: MemberKeys, events: Sequence[Event], *, seal: bool = True
) -> list[bytes | None]:
    """Each event as wire JSON with its personal fields sealed; None for an erased member's
    (`seal_records` without the headers)."""
    return [None if r is None else r.value for r in await seal_records(keys, events, seal=seal)]


async def seal_records(
    keys: MemberKeys, events: Sequence[Event], *, seal: bool = True
) -> list[SealedRecord | None]:
    """Each event as its record, personal fields sealed; None for an erased member's.

    One key lookup for the whole batch (MGET), plus one SET NX round for new members. With
    `seal` False (a rolling upgrade from a release that cannot open sealed fields) the fields
    stay in the clear and no header is sealed, but an erased member's events are still not
    written.
    """
    datas = [event.model_dump(mode="json") for event in events]
    owners: set[str] = set()
    revive: set[str] = set()
    for data in datas:
        for rule in SEALS.get(str(data.get("type")), ()):
            for obj in _objects(data, rule.at):
                owner = _owner(obj, rule.owner)
                if owner is not None:
                    (revive if rule.revive else owners).add(owner)
    found = await keys.get_or_create_many(owners, revive=revive) if owners | revive else {}
    sealed: list[SealedRecord | None] = []
    for data in datas:
        headers: dict[str, str] = {}
        cards = data.get("suggestions") if data.get("type") == "MatchesComputed" else None
        try:
            for rule in SEALS.get(str(data.get("type")), ()):
                _apply(data, rule, found, seal)
            # `cards` is the list the rules sealed in place, each card under its member's key,
            # erased members' dropped; the whole of it went into the owner's blob.
            head = _sealed_head(data, cards, found) if seal and isinstance(cards, list) else None
            if head is not None:
                headers[LIST_HEAD_HEADER] = head
        except _Drop:
            sealed.append(None)
            continue
        sealed.append(SealedRecord(orjson.dumps(data), headers))
    return sealed


def _sealed_head(data: Json, cards: list[Json], keys: Mapping[str, MemberKey]) -> str | None:
    """The `LIST_HEAD_HEADER` of a `MatchesComputed` whose `cards` are sealed: candidates, the
    key id of each card's seal (None: a card left in the clear) and the last card's blobs,
    all under the owner's key."""
    owner = _owner(data, "member_id")
    key = keys.get(owner) if owner is not None else None
    if owner is None or key is None:
        return None  # a list left in the clear (its owner is no member id): read its value
    key_ids = []
    for card in cards:
        blobs = card.get(SEALED)
        key_ids.append(blobs[0]["key_id"] if blobs else None)
    plain = {
        "candidates": [card["member_id"] for card in cards],
        "key_ids": key_ids,
        "last": cards[-1].get(SEALED) if cards else None,
    }
    return orjson.dumps(seal_blob(owner, key, plain)).decode("ascii")


def _apply(data: Json, seal: Seal, keys: dict[str, MemberKey], enabled: bool = True) -> None:
    def seal_one(obj: Json) -> None:
        owner = _owner(obj, seal.owner)
        if owner is None:
            return
        key = keys.get(owner)
        if key is None:
            raise _Drop
        if not enabled:
            return
        root = seal.owner.split(".")[0]
        names = seal.fields if seal.fields is not None else [n for n in obj if n != root]
        plain = {n: obj.pop(n) for n in names if n in obj}
        if plain:
            obj.setdefault(SEALED, []).append(seal_blob(owner, key, plain))

    _each(data, seal.at, seal_one)


def seal_blob(member_id: str, key: MemberKey, plain: Json) -> Json:
    nonce = os.urandom(NONCE_BYTES)
    text = orjson.dumps(plain)
    cipher = key.cipher.encrypt(nonce, text, _aad(member_id, key.key_id))
    return {
        "member_id": member_id,
        "key_id": key.key_id,
        "data": base64.b64encode(nonce + cipher).decode("ascii"),
    }


def _aad(member_id: str, key_id: str) -> bytes:
    """Binds a blob to its member and key: it cannot be moved under another member."""
    return f"{member_id}:{key_id}".encode()


def _owner(obj: Json, path: str) -> str | None:
    value: Any = obj
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, str) and _MEMBER_ID.fullmatch(value) else None


def _objects(data: Json, at: tuple[str, ...]) -> list[Json]:
    found: list[Json] = []
    _each(data, at, found.append)
    return found


def _each(data: Any, at: tuple[str, ...], visit: Any) -> None:
    """Call `visit` on every object at `at`; a `_Drop` from inside a list drops that element."""
    if not at:
        if isinstance(data, dict):
            visit(data)
        return
    step, rest = at[0], at[1:]
    if step == "[]":
        if isinstance(data, list):
            kept = []
            for item in data:
                try:
                    _each(item, rest, visit)
                except _Drop:
                    continue
                kept.append(item)
            data[:] = kept
        return
    if isinstance(data, dict) and step in data:
        _each(data[step], rest, visit)


# --- opening (consumers) -----------------------------------------------------------------------


async def open_events(
    keys: MemberKeys, raws: Sequence[bytes], accepted: tuple[type[E], ...]
) -> list[E | UndecodableRecord | None]:
    """Decode record values, opening their sealed fields with one key lookup per nesting level.

    Per value: the event; None when it belongs to an erased member (skip it), or is no
    longer a valid event only because erased members' parts left it (a delivery whose only
    introduction was theirs); or the `UndecodableRecord` to dead-letter (not JSON, a blob that
    fails to open, a bad event).
    """
    datas: list[Json | UndecodableRecord] = []
    for raw in raws:
        try:
            datas.append(parse_record(raw))
        except UndecodableRecord as exc:
            datas.append(exc)
    opened, shrunk = await _open_all(keys, datas)
    results: list[E | UndecodableRecord | None] = []
    for index, data in enumerate(opened):
        if data is None or isinstance(data, UndecodableRecord):
            results.append(data)
            continue
        try:
            results.append(decode_data(data, accepted))
        except UndecodableRecord as exc:
            results.append(None if index in shrunk else exc)
    return results


@dataclass(frozen=True)
class ListHead:
    """What a published list (`MatchesComputed`) says without opening its cards: whose it is,
    its candidates in order (but an erased one's: as `open_events` drops them) and the last
    one's score."""

    member_id: str
    candidates: list[str]
    last_score: float | None


async def open_list_heads(
    keys: MemberKeys, raws: Sequence[bytes], sealed_heads: Sequence[bytes | None] | None = None
) -> list[ListHead | None]:
    """`MatchesComputed` records as `ListHead`s, validating no model: what a replica following
    the others' lists needs (`listings.py`). A record with its `LIST_HEAD_HEADER` (in
    `sealed_heads`, one per value; None: none) opens that small blob and its last card's; one
    without (or whose last card is left out) opens two blobs of its value, the list's own
    and its last kept card's: a tenth of `open_events`' work. None for a record that is not a
    list, an erased member's, or malformed in what is read (the notifier's consumer
    dead-letters malformed records; a fault in a card whose blob is not opened here goes
    unseen). Two key lookups for the whole batch."""
    headers = sealed_heads if sealed_heads is not None else [None] * len(raws)
    parsed: list[tuple[str, Json | _HeadCards] | None] = []  # owner, value or sealed head
    for raw, header in zip(raws, headers, strict=True):
        try:
            sealed = _sealed_head_blob(header) if header is not None else None
            # A header that is no blob is as good as none: the value may read.
            parsed.append(sealed if sealed is not None else _list_value(raw))
        except UndecodableRecord:
            parsed.append(None)
    owners = {entry[0] for entry in parsed if entry is not None}
    owner_keys = await keys.get_many(owners) if owners else {}
    opened: list[tuple[str, list[Json] | _HeadCards] | None] = []
    for raw, entry in zip(raws, parsed, strict=True):
        try:
            if entry is None:
                opened.append(None)
            elif isinstance(entry[1], _HeadCards):
                try:
                    opened.append((entry[0], entry[1].opened(owner_keys)))
                except UndecodableRecord:  # a header that does not open: read the value
                    value = _list_value(raw)
                    opened.append(None if value is None else _opened_value(value, owner_keys))
            else:
                opened.append(_opened_value((entry[0], entry[1]), owner_keys))
        except (_Drop, UndecodableRecord):
            opened.append(None)
    candidates: set[str] = set()
    for head in opened:
        if head is not None:
            cards = head[1]
            candidates.update(
                cards.ids if isinstance(cards, _HeadCards) else (str(s["member_id"]) for s in cards)
            )
    candidate_keys = await keys.get_many(candidates) if candidates else {}
    heads: list[ListHead | None] = []
    for raw, head in zip(raws, opened, strict=True):
        try:
            if head is None:
                heads.append(None)
            elif isinstance(head[1], _HeadCards):
                read = head[1].kept(head[0], candidate_keys)
                # Its last card left out: the list's value names the same candidates, under
                # keys already fetched.
                heads.append(
                    read if read is not None else _value_head(raw, owner_keys, candidate_keys)
                )
            else:
                heads.append(_head_of(head[0], head[1], candidate_keys))
        except (_Drop, UndecodableRecord):
            heads.append(None)
    return heads


def _list_value(raw: bytes) -> tuple[str, Json] | None:
    """A record value as (owner, data) if it is a list (`UndecodableRecord`: not JSON)."""
    data = parse_record(raw)
    owner = data.get("member_id")
    ok = data.get("type") == "MatchesComputed" and isinstance(owner, str)
    return (owner, data) if ok and isinstance(owner, str) else None


def _opened_value(value: tuple[str, Json], keys: Mapping[str, MemberKey]) -> tuple[str, list[Json]]:
    """A list's value with its own blob opened: (owner, cards) (`_Drop`: the owner erased)."""
    return value[0], _suggestions(value[1], keys)


def _value_head(
    raw: bytes, owner_keys: Mapping[str, MemberKey], candidate_keys: Mapping[str, MemberKey]
) -> ListHead | None:
    value = _list_value(raw)
    if value is None:
        return None
    return _head_of(*_opened_value(value, owner_keys), candidate_keys)


def _head_of(owner: str, cards: list[Json], keys: Mapping[str, MemberKey]) -> ListHead:
    """The head of a list's opened `cards`: those whose blobs open, and the last one's score."""
    kept = [s for s in cards if _opens(s, keys)]
    last = _score(kept[-1], keys) if kept else None
    return ListHead(owner, [str(s["member_id"]) for s in kept], last)


@dataclass(frozen=True)
class _HeadCards:
    """A `LIST_HEAD_HEADER`: sealed (`blob`) until `opened`, then the candidates in order, the
    key id each card is sealed under (None: a card in the clear) and the last card's blobs."""

    blob: Json
    ids: list[str]
    key_ids: list[str | None]
    last: list[Any] | None

    def opened(self, keys: Mapping[str, MemberKey]) -> _HeadCards:
        """Opened under its owner's key (`_Drop`: the owner was erased)."""
        member_id, key_id, sealed = _blob_parts(self.blob)
        key = keys.get(member_id)
        if key is None or key.key_id != key_id:
            raise _Drop
        plain = _decrypt(member_id, key, sealed)
        ids, key_ids, last = plain.get("candidates"), plain.get("key_ids"), plain.get("last")
        if not (
            isinstance(ids, list)
            and isinstance(key_ids, list)
            and len(ids) == len(key_ids)
            and all(isinstance(m, str) for m in ids)
            and all(k is None or isinstance(k, str) for k in key_ids)
            and (last is None or isinstance(last, list))
        ):
            raise UndecodableRecord("a list head is not candidates with their key ids")
        return _HeadCards(self.blob, ids, key_ids, last)

    def kept(self, owner: str, keys: Mapping[str, MemberKey]) -> ListHead | None:
        """The head `open_events` would read of the value (a candidate whose key is gone or
        replaced left out, as its card is); None when the last card is left out, or in the
        clear: its value has the score to read."""
        kept = [
            i
            for i, (candidate, key_id) in enumerate(zip(self.ids, self.key_ids, strict=True))
            if key_id is None or ((key := keys.get(candidate)) is not None and key.key_id == key_id)
        ]
        if not kept:
            return ListHead(owner, [], None)
        if kept[-1] != len(self.ids) - 1 or not self.last:
            return None
        last = {SEALED: self.last}
        if not _opens(last, keys):
            return None
        return ListHead(owner, [self.ids[i] for i in kept], _score(last, keys))


def _sealed_head_blob(header: bytes) -> tuple[str, _HeadCards] | None:
    """A `LIST_HEAD_HEADER` read, still sealed; None if it is no blob (or past any list's
    head: `MAX_LIST_HEAD_BYTES`)."""
    if len(header) > MAX_LIST_HEAD_BYTES:
        return None
    try:
        blob = read_json(header)
        return _blob_parts(blob)[0], _HeadCards(blob, [], [], None)
    except (ValueError, UndecodableRecord):
        return None


def _suggestions(data: Json, keys: Mapping[str, MemberKey]) -> list[Json]:
    """The list's suggestions, its own blob opened (`_Drop`: its owner was erased)."""
    for blob in _blobs(data):
        member_id, key_id, sealed = _blob_parts(blob)
        key = keys.get(member_id)
        if key is None or key.key_id != key_id:
            raise _Drop
        data.update(_decrypt(member_id, key, sealed))
    suggestions = data.get("suggestions")
    if not isinstance(suggestions, list) or not all(
        isinstance(s, dict) and isinstance(s.get("member_id"), str) for s in suggestions
    ):
        raise UndecodableRecord("suggestions are not a list of members")
    return suggestions


def _blobs(node: Json) -> list[Any]:
    blobs = node.pop(SEALED, [])
    if not isinstance(blobs, list):
        raise UndecodableRecord(f"`{SEALED}` is not a list")
    return blobs


def _opens(suggestion: Json, keys: Mapping[str, MemberKey]) -> bool:
    """Whether `open_events` keeps this card: every blob's member still has that key
    (`UndecodableRecord`: a card `open_events` would refuse the whole record for)."""
    blobs = suggestion.get(SEALED, [])
    if not isinstance(blobs, list):
        raise UndecodableRecord(f"`{SEALED}` is not a list")
    for blob in blobs:
        member_id, key_id, _ = _blob_parts(blob)
        key = keys.get(member_id)
        if key is None or key.key_id != key_id:
            return False
    return True


def _score(suggestion: Json, keys: Mapping[str, MemberKey]) -> float:
    """A kept card's score (its blobs opened; `_opens` vouched for their keys)."""
    for blob in _blobs(suggestion):
        member_id, _, sealed = _blob_parts(blob)
        suggestion.update(_decrypt(member_id, keys[member_id], sealed))
    return _finite_score(suggestion.get("score"))


def _finite_score(score: Any) -> float:
    """A card's score as the model takes it (a number, or a numeric string), finite."""
    try:
        value = float(score)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UndecodableRecord("a suggestion's score is not a number") from exc
    if not math.isfinite(value):
        raise UndecodableRecord("a suggestion's score is not finite")
    return value


async def open_datas(
    keys: MemberKeys, datas: Sequence[Json | UndecodableRecord]
) -> list[Json | UndecodableRecord | None]:
    """Open every sealed blob reachable in `datas`, fetching keys a level at a time."""
    return (await _open_all(keys, datas))[0]


async def _open_all(
    keys: MemberKeys, datas: Sequence[Json | UndecodableRecord]
) -> tuple[list[Json | UndecodableRecord | None], set[int]]:
    """`open_datas`, and the indexes of values that lost list elements to erasures."""
    results: list[Json | UndecodableRecord | None] = list(datas)
    shrunk: set[int] = set()
    known: dict[str, MemberKey | None] = {}
    while True:
        wanted: set[str] = set()
        for index, data in enumerate(results):
            if data is None or isinstance(data, UndecodableRecord):
                continue
            dropped: list[bool] = []
            positions = frozenset(rule.at for rule in SEALS.get(str(data.get("type")), ()))
            try:
                if _open(data, (), positions, known, wanted, dropped):
                    results[index] = None
            except UndecodableRecord as exc:
                results[index] = exc
            if dropped:
                shrunk.add(index)
        if not wanted:
            return results, shrunk
        found = await keys.get_many(wanted)
        known |= {member_id: found.get(member_id) for member_id in wanted}


def _open(
    node: Any,
    path: tuple[str, ...],
    positions: frozenset[tuple[str, ...]],
    known: dict[str, MemberKey | None],
    wanted: set[str],
    dropped: list[bool],
) -> bool:
    """Open what `known` allows at and under `node` (at `path` in its event), in place; True
    when `node` must be dropped.

    Blobs are looked for only where the event type's `SEALS` put them (`positions`, each a
    rule's `at`): a member's own words are keys of `terms`, and one who writes "sealed" must
    not read as a seal. Blobs whose key was not fetched yet are left and named in `wanted`;
    a list element dropped is noted in `dropped`.
    """
    if isinstance(node, list):
        inner = (*path, "[]")
        kept = [item for item in node if not _open(item, inner, positions, known, wanted, dropped)]
        if len(kept) < len(node):
            dropped.append(True)
        node[:] = kept
        return False
    if not isinstance(node, dict):
        return False
    while path in positions and SEALED in node:
        blobs = node.pop(SEALED)
        if not isinstance(blobs, list):
            raise UndecodableRecord(f"`{SEALED}` is not a list")
        waiting: list[Any] = []
        nested: list[Any] = []
        for blob in blobs:
            member_id, key_id, data = _blob_parts(blob)
            if member_id not in known:
                wanted.add(member_id)
                waiting.append(blob)
                continue
            key = known[member_id]
            if key is None or key.key_id != key_id:
                return True  # erased (or erased and joined again: a new key)
            plain = _decrypt(member_id, key, data)
            more = plain.pop(SEALED, [])
            nested.extend(more if isinstance(more, list) else [more])
            node.update(plain)
        if waiting or nested:
            node[SEALED] = waiting + nested
        if waiting:
            break
    depth = len(path)
    for name in {p[depth] for p in positions if len(p) > depth and p[:depth] == path}:
        value = node.get(name)
        if isinstance(value, dict | list) and _open(
            value, (*path, name), positions, known, wanted, dropped
        ):
            return True
    return False


def _blob_parts(blob: Any) -> tuple[str, str, str]:
    # Spelt out (no generator): a replica following the others' lists checks every card's.
    if not isinstance(blob, dict):
        raise UndecodableRecord("a sealed field is not an object")
    member_id, key_id, data = blob.get("member_id"), blob.get("key_id"), blob.get("data")
    if isinstance(member_id, str) and isinstance(key_id, str) and isinstance(data, str):
        return member_id, key_id, data
    raise UndecodableRecord("a sealed field lacks member_id, key_id or data")


def _decrypt(member_id: str, key: MemberKey, data: str) -> Json:
    try:
        raw = base64.b64decode(data, validate=True)
        text = key.cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(member_id, key.key_id))
        plain = read_json(text)  # blobs sealed by json.dumps before orjson open too
    except (binascii.Error, InvalidTag, ValueError) as exc:
        raise UndecodableRecord(
            f"a field sealed for {member_id[:64]!r} does not open: {type(exc).__name__}"
        ) from exc
    if not isinstance(plain, dict):
        raise UndecodableRecord("a sealed field does not hold an object")
    return cast(Json, plain)
