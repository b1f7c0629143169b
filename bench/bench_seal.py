"""Sealing a batch of lists for `matches.v1`: today's `MemberKey` (since `df655ee`: its id
made with it, its cipher on first use, in slots) against the `functools.cached_property`
class it replaced, beside the serialisation alone.

Not part of `make test`. Run: `.venv/bin/python bench/bench_seal.py`.
Builds an engine on `--members` seeded members as `bench_scale.backfill` does and ranks
`--lists` of their lists, so the cards and reasons are the engine's own. Then seals them
in batches of `--batch` as `publish_matches` does (`nnmatch.shredding.seal_records`), each
batch with new key objects made from the same secrets, one per member it names, as the
Redis key store hands them out after its MGET: with each key class, the order alternating
from round to round. The baseline, timed in the same rounds, is `model_dump_json` of the
same events: what any publish of them must do. Also times, per key object, making it and
reading its id and cipher (as sealing does) or its id only (as following the other
replicas' list heads does for most keys). Checks that both classes give the same key id
for every secret, that every record is sealed (it carries the list head and no card's name
in the clear), and that the records sealed with either class open to their lists, and
their sealed list heads to the lists' candidates. Writes
`bench/results/seal-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from bench_scale import Phases, _machine, backfill
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nnmatch.events import MatchesComputed
from nnmatch.member_keys import MemberKey, MemoryMemberKeys
from nnmatch.shredding import LIST_HEAD_HEADER, open_events, open_list_heads, seal_records
from nnmatch_matching.embedding.embedder import configured_embedder
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads
from nnmatch_tools.seed import generate_members

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class CachedPropertyKey:
    """`MemberKey` as it was before `df655ee`: its id and cipher behind `cached_property`."""

    secret: bytes = field(repr=False)

    @cached_property
    def key_id(self) -> str:
        return hashlib.sha256(b"nnmatch-member-key:" + self.secret).hexdigest()[:16]

    @cached_property
    def cipher(self) -> AESGCM:
        return AESGCM(self.secret)


KeyClass = Callable[[bytes], Any]
"""`MemberKey` or `CachedPropertyKey`: made from a secret, read for `key_id` and `cipher`."""


class FreshKeyObjects(MemoryMemberKeys):
    """The same secrets every batch, each handed out as a new object of `make` (as
    `RedisMemberKeys` decodes its MGET). Nobody is erased here, so erasure markers and
    `revive` are not modelled."""

    def __init__(self, secrets: dict[str, bytes], make: KeyClass) -> None:
        super().__init__()
        self._secrets = secrets
        self._make = make

    async def get_or_create_many(
        self, member_ids: Iterable[str], *, revive: Iterable[str] = ()
    ) -> dict[str, Any]:
        ids = dict.fromkeys([*member_ids, *revive])
        return {m: self._make(self._secrets[m]) for m in ids if m in self._secrets}


def ranked_lists(members: int, lists: int) -> list[MatchesComputed]:
    """`lists` of the engine's own lists over `members` seeded members, as events."""
    settings = MatchingSettings(service_name="bench-seal", embedding_backend="onnx-int8")
    limit_threads(settings)  # as the service process does
    seeded = list(generate_members(members))
    embedder = configured_embedder(settings)
    engine = backfill(seeded, embedder, settings, Phases(), set(), min(300, members), 1.0).engine
    ids = [m.member_id for m in seeded][:lists]
    ranked = engine.matches_for(ids, datetime.now(UTC))
    return [
        MatchesComputed(
            producer="bench-seal",
            member_id=member_id,
            profile_version=engine.profile_version(member_id),
            model_id=engine.model_id or "",
            suggestions=suggestions,
        )
        for member_id, suggestions in sorted(ranked.items())
    ]


def batches(events: Sequence[MatchesComputed], batch: int) -> list[Sequence[MatchesComputed]]:
    return [events[start : start + batch] for start in range(0, len(events), batch)]


def members_named(events: Iterable[MatchesComputed]) -> set[str]:
    """The members whose keys sealing `events` reads: the lists' owners and their cards'."""
    return {m for e in events for m in (e.member_id, *(s.member_id for s in e.suggestions))}


async def seal_all(keys: MemoryMemberKeys, events: Sequence[MatchesComputed], batch: int) -> float:
    """Seconds to seal `events` in batches of `batch`."""
    started = time.perf_counter()
    for chunk in batches(events, batch):
        await seal_records(keys, chunk)
    return time.perf_counter() - started


async def check(
    keys: MemoryMemberKeys, opener: MemoryMemberKeys, events: list[MatchesComputed]
) -> list[bytes]:
    """Seal `events` with `keys`; every record sealed and opening to its list with `opener`."""
    sealed = [r for r in await seal_records(keys, events) if r is not None]
    if len(sealed) != len(events) or any(LIST_HEAD_HEADER not in r.headers for r in sealed):
        raise SystemExit("a list was not sealed")
    for record, event in zip(sealed, events, strict=True):
        names = {s.display_name for s in event.suggestions if len(s.display_name) > 3}
        if any(f'"{name}"'.encode() in record.value for name in names):
            raise SystemExit(f"a card of {event.member_id}'s list is in the clear")
    values = [r.value for r in sealed]
    if await open_events(opener, values, (MatchesComputed,)) != events:
        raise SystemExit("a sealed list did not open to the list it sealed")
    heads = await open_list_heads(
        opener, values, [r.headers[LIST_HEAD_HEADER].encode() for r in sealed]
    )
    for head, event in zip(heads, events, strict=True):
        if head is None or head.candidates != [s.member_id for s in event.suggestions]:
            raise SystemExit(f"{event.member_id}'s sealed list head does not open to its list")
    return values


def time_key_objects(make: KeyClass, secrets: list[bytes], cipher: bool, passes: int) -> float:
    """Microseconds a key object, over `passes` passes: made, its id read, and its cipher if
    `cipher`."""
    started = time.perf_counter()
    for _ in range(passes):
        for secret in secrets:
            key = make(secret)
            _ = key.key_id
            if cipher:
                _ = key.cipher
    return (time.perf_counter() - started) / (passes * len(secrets)) * 1e6


def paired(new: list[float], old: list[float]) -> dict[str, Any]:
    """Round by round, `new` over `old`, and in how many rounds `new` took less."""
    ratios = [n / o for n, o in zip(new, old, strict=True)]
    return {**summary(ratios, 3), "rounds_member_key_faster": sum(r < 1 for r in ratios)}


def summary(values: list[float], digits: int) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "rounds": [round(v, digits) for v in values],
    }


async def measure(args: argparse.Namespace, events: list[MatchesComputed]) -> dict[str, Any]:
    made = MemoryMemberKeys()
    await made.get_or_create_many(members_named(events))
    secrets = {m: k.secret for m, k in made.keys.items()}
    makers: dict[str, KeyClass] = {
        "member_key": MemberKey,
        "cached_property_key": CachedPropertyKey,
    }
    if any(MemberKey(s).key_id != CachedPropertyKey(s).key_id for s in secrets.values()):
        raise SystemExit("the two key classes give different key ids")
    classes = {name: FreshKeyObjects(secrets, make) for name, make in makers.items()}
    sealed = {name: await check(classes[name], made, events) for name in makers}  # warmed

    names = list(makers)
    seal_ms: dict[str, list[float]] = {name: [] for name in [*names, "dump"]}
    key_us: dict[str, list[float]] = {
        f"{name}_{reads}": [] for name in names for reads in ("id_and_cipher", "id_only")
    }
    all_secrets = list(secrets.values())
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            seconds = await seal_all(classes[name], events, args.batch)
            seal_ms[name].append(seconds / len(events) * 1e3)
            for reads, cipher in (("id_and_cipher", True), ("id_only", False)):
                key_us[f"{name}_{reads}"].append(
                    time_key_objects(makers[name], all_secrets, cipher, args.key_passes)
                )
        started = time.perf_counter()
        for event in events:
            event.model_dump_json()
        seal_ms["dump"].append((time.perf_counter() - started) / len(events) * 1e3)

    median = {name: statistics.median(v) for name, v in seal_ms.items()}
    return {
        "lists": len(events),
        "cards": sum(len(e.suggestions) for e in events),
        "key_objects_per_batch_mean": round(
            statistics.mean(len(members_named(chunk)) for chunk in batches(events, args.batch)), 1
        ),
        "record_bytes_mean": round(statistics.mean(len(v) for v in sealed["member_key"])),
        "plain_json_bytes_mean": round(statistics.mean(len(e.model_dump_json()) for e in events)),
        "sealing_ms_per_list": {name: summary(v, 4) for name, v in seal_ms.items()},
        "member_key_over_cached_property_key": paired(
            seal_ms["member_key"], seal_ms["cached_property_key"]
        ),
        "member_key_over_dump": round(median["member_key"] / median["dump"], 2),
        "key_object_us": {name: summary(v, 2) for name, v in key_us.items()},
        "key_object_member_key_over_cached_property_key": {
            reads: paired(key_us[f"member_key_{reads}"], key_us[f"cached_property_key_{reads}"])
            for reads in ("id_and_cipher", "id_only")
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2_000, help="seeded members")
    parser.add_argument("--lists", type=int, default=1_024, help="lists ranked and sealed")
    parser.add_argument("--batch", type=int, default=64, help="lists sealed per call")
    parser.add_argument("--rounds", type=int, default=12, help="rounds, the order alternating")
    parser.add_argument(
        "--key-passes", type=int, default=20, help="passes over the secrets per key timing"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = _machine()  # first: the load before our own work
    events = ranked_lists(args.members, args.lists)  # first: backfill runs its own loop
    figures = asyncio.run(measure(args, events))
    print(json.dumps(figures, indent=2))
    result = {
        "bench": "seal",
        "at": datetime.now(UTC).isoformat(),
        "machine": machine,
        "members": args.members,
        "batch": args.batch,
        "rounds": args.rounds,
        "key_passes": args.key_passes,
        **figures,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"seal-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
