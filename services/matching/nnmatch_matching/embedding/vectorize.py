"""Profiles → `ProfileVectorsComputed`, sending the model only texts whose hash or model changed.

Shared by the live embedder (handlers.EmbedProfiles) and the background re-embed after a model
change (reembed.py). `plan` is pure; `vectorize` runs the model in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nnmatch.events import (
    MemberCard,
    ProfileUpserted,
    ProfileVectorsComputed,
    VectorKind,
    encode_vector,
)
from nnmatch_matching.embedding.embedder import Embedder, embed_documents
from nnmatch_matching.embedding.embedding_cache import CachedEmbedding, model_key
from nnmatch_matching.embedding.texts import member_texts, text_hash
from nnmatch_matching.embedding.words import profile_terms


@dataclass(frozen=True)
class Plan:
    """Per member its texts' hashes, the texts to embed, and the vectors kept from the cache."""

    texts: list[dict[VectorKind, str]]
    hashes: list[dict[VectorKind, str]]
    to_embed: list[tuple[int, VectorKind]]  # (member's position, kind)
    reused: dict[tuple[int, VectorKind], bytes]


def plan(
    texts: Sequence[dict[VectorKind, str]],
    cached: Sequence[CachedEmbedding | None],
    model: str,
) -> Plan:
    """A kind is reused when the cache holds a vector of the same model for the same text."""
    hashes = [{kind: text_hash(t[kind]) for kind in VectorKind} for t in texts]
    to_embed: list[tuple[int, VectorKind]] = []
    reused: dict[tuple[int, VectorKind], bytes] = {}
    for i, (member_hashes, entry) in enumerate(zip(hashes, cached, strict=True)):
        usable = entry is not None and entry.model == model
        for kind in VectorKind:
            if usable and entry is not None and entry.hashes[kind] == member_hashes[kind]:
                reused[(i, kind)] = entry.vectors[kind]
            else:
                to_embed.append((i, kind))
    return Plan(list(texts), hashes, to_embed, reused)


@dataclass(frozen=True)
class Vectorized:
    events: list[ProfileVectorsComputed]
    entries: list[tuple[str, CachedEmbedding]]  # to write once Kafka acknowledged the events
    embedded: int  # texts the model encoded
    reused: int  # texts whose cached vector was kept


async def vectorize(
    embedder: Embedder,
    upserts: Sequence[ProfileUpserted],
    cached: Mapping[str, CachedEmbedding],
    producer: str,
) -> Vectorized:
    """The vectors events of `upserts` (one per member), embedding only changed texts."""
    model = model_key(embedder.model)
    texts = [member_texts(e.profile) for e in upserts]
    the_plan = plan(texts, [cached.get(e.member_id) for e in upserts], model)
    documents = [texts[i][kind] for i, kind in the_plan.to_embed]
    rows: dict[tuple[int, VectorKind], bytes] = dict(the_plan.reused)
    if documents:
        # The model runs in a worker thread so health and metrics stay responsive.
        matrix = await asyncio.to_thread(embed_documents, embedder, documents)
        for slot, row in zip(the_plan.to_embed, matrix, strict=True):
            rows[slot] = np.asarray(row, dtype="<f4").tobytes()
    events: list[ProfileVectorsComputed] = []
    entries: list[tuple[str, CachedEmbedding]] = []
    for i, event in enumerate(upserts):
        vectors = {kind: rows[(i, kind)] for kind in VectorKind}
        events.append(
            ProfileVectorsComputed(
                producer=producer,
                member_id=event.member_id,
                profile_version=event.version,
                model=embedder.model,
                vectors={k: _encoded(v) for k, v in vectors.items()},
                text_hashes=the_plan.hashes[i],
                card=MemberCard.from_profile(event.profile),
                terms=profile_terms(event.profile),
                source_occurred_at=event.occurred_at,
                origin=event.origin,
            )
        )
        entries.append(
            (event.member_id, CachedEmbedding(model, event.version, the_plan.hashes[i], vectors))
        )
    return Vectorized(events, entries, embedded=len(documents), reused=len(the_plan.reused))


def _encoded(raw: bytes) -> str:
    """As on the wire: the base64 of the little-endian float32 bytes."""
    return encode_vector(np.frombuffer(raw, dtype="<f4"))
