"""Sealing a batch of lists for `matches.v1`: the key objects made once (since `df655ee`)
against the `functools.cached_property` ones they replaced, beside the serialisation alone.

Not part of `make test`. Run: `.venv/bin/python bench/bench_seal.py`.
Builds an engine on `--members` seeded members as `bench_scale.backfill` does and ranks
`--lists` of their lists, so the cards and reasons are the engine's own. Then seals them
in batches of `--batch` as `publish_matches` does (`nnmatch.shredding.seal_records`), each
batch with new key objects made from the same secrets, as the Redis key store hands out
after its MGET: with today's `MemberKey` and with the old class, the order alternating from
round to round. The baseline, timed in the same rounds, is `model_dump_json` of the same
events: what any publish of them must do. Checks that both key classes give the same key
ids and that every sealed record opens to its list. Writes
`bench/results/seal-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from bench_scale import Phases, _machine, backfill
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nnmatch.events import MatchesComputed
from nnmatch.member_keys import MemberKey, MemoryMemberKeys
from nnmatch.shredding import open_events, seal_records
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


class FreshKeyObjects(MemoryMemberKeys):
    """The same secrets every batch, each handed out as a new object of `make` (as
    `RedisMemberKeys` decodes its MGET)."""

    def __init__(self, secrets: dict[str, bytes], make: Any) -> None:
        super().__init__()
        self._secrets = secrets
        self._make = make

    async def get_or_create_many(
        self, member_ids: Iterable[str], *, revive: Iterable[str] = ()
    ) -> dict[str, MemberKey]:
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


async def seal_all(keys: MemoryMemberKeys, events: Sequence[MatchesComputed], batch: int) -> float:
    """Seconds to seal `events` in batches of `batch`."""
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        await seal_records(keys, events[start : start + batch])
    return time.perf_counter() - started


async def measure(args: argparse.Namespace, events: list[MatchesComputed]) -> dict[str, Any]:
    owners = {e.member_id for e in events} | {s.member_id for e in events for s in e.suggestions}
    made = MemoryMemberKeys()
    await made.get_or_create_many(owners)
    secrets = {m: k.secret for m, k in made.keys.items()}
    classes = {"member_key": FreshKeyObjects(secrets, MemberKey)}
    classes["cached_property_key"] = FreshKeyObjects(secrets, CachedPropertyKey)
    for m in list(secrets)[:100]:
        if MemberKey(secrets[m]).key_id != CachedPropertyKey(secrets[m]).key_id:
            raise SystemExit("the two key classes give different key ids")
    sealed = await seal_records(classes["member_key"], events)
    opened = await open_events(made, [r.value for r in sealed if r], (MatchesComputed,))
    if opened != events:
        raise SystemExit("a sealed list did not open to the list it sealed")

    seconds: dict[str, list[float]] = {"member_key": [], "cached_property_key": [], "dump": []}
    for round_ in range(args.rounds):
        order = ["member_key", "cached_property_key"]
        for name in order if round_ % 2 == 0 else order[::-1]:
            seconds[name].append(await seal_all(classes[name], events, args.batch))
        started = time.perf_counter()
        for event in events:
            event.model_dump_json()
        seconds["dump"].append(time.perf_counter() - started)

    def per_list(name: str) -> dict[str, float]:
        ms = [s / len(events) * 1e3 for s in seconds[name]]
        return {
            "median_ms": round(statistics.median(ms), 4),
            "min_ms": round(min(ms), 4),
            "max_ms": round(max(ms), 4),
        }

    figures = {name: per_list(name) for name in seconds}
    median = {name: figures[name]["median_ms"] for name in figures}
    return {
        "lists": len(events),
        "cards": sum(len(e.suggestions) for e in events),
        "record_bytes_mean": round(sum(len(r.value) for r in sealed if r) / len(events)),
        "per_list": figures,
        "member_key_over_cached_property_key": round(
            median["member_key"] / median["cached_property_key"], 3
        ),
        "member_key_over_dump": round(median["member_key"] / median["dump"], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2_000, help="seeded members")
    parser.add_argument("--lists", type=int, default=1_024, help="lists ranked and sealed")
    parser.add_argument("--batch", type=int, default=64, help="lists sealed per call")
    parser.add_argument("--rounds", type=int, default=12, help="rounds, the order alternating")
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
        **figures,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"seal-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
