"""Small builders shared by the unit tests: the contract's example profile, cards and vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from nnmatch.events import (
    EmbeddingModel,
    MemberCard,
    ProfileVectorsComputed,
    VectorKind,
    encode_vector,
)
from nnmatch.profile import Kind, MemberProfile
from tests.support import AMINA as CONTRACT_PROFILE

Vector = npt.NDArray[np.float32]

# The member profile of CONTRACTS.md, already in normal form (sorted SDGs, no duplicates).
AMINA: dict[str, Any] = CONTRACT_PROFILE


def amina(**overrides: Any) -> MemberProfile:
    """The contract's example profile with some fields replaced."""
    return MemberProfile.model_validate(AMINA | overrides)


def unit(*components: float) -> Vector:
    """A unit vector in the direction given (e.g. `unit(1, 1, 0, 0)`)."""
    vector = np.asarray(components, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector if norm == 0 else (vector / norm).astype(np.float32)


E0, E1, E2, E3 = (unit(*row) for row in np.eye(4))


def card(
    name: str = "Someone",
    *,
    offers: tuple[Kind, ...] = (),
    seeks: tuple[Kind, ...] = (),
    languages: tuple[str, ...] = ("en",),
    **fields: Any,
) -> MemberCard:
    """A member card with just what a test cares about; the rest are plain defaults."""
    values: dict[str, Any] = {
        "display_name": name,
        "country": "KE",
        "languages": list(languages),
        "offers_kinds": list(offers),
        "seeks_kinds": list(seeks),
    }
    return MemberCard.model_validate(values | fields)


def vectors_event(
    member_id: str,
    member: MemberCard,
    *,
    profile: Vector,
    offers: Vector,
    seeks: Vector,
    model_id: str = "test-model",
    model_version: str = "1",
    profile_version: int = 1,
    terms: dict[str, int] | None = None,
) -> ProfileVectorsComputed:
    """A `ProfileVectorsComputed` carrying the given (small) vectors, encoded as on the wire;
    `terms`: the whole profile's counted words (none: the matcher reads the card's words)."""
    return ProfileVectorsComputed(
        producer="tests",
        member_id=member_id,
        profile_version=profile_version,
        model=EmbeddingModel(id=model_id, version=model_version, dimensions=len(profile)),
        vectors={
            VectorKind.PROFILE: encode_vector(profile),
            VectorKind.OFFERS: encode_vector(offers),
            VectorKind.SEEKS: encode_vector(seeks),
        },
        text_hashes={kind: f"hash-of-{kind.value}" for kind in VectorKind},
        card=member,
        terms=terms or {},
    )


def mentor_vectors(member_id: str) -> ProfileVectorsComputed:
    """A mentor who seeks mentees, on the unit vectors E0/E1."""
    member = card(f"Mentor {member_id}", offers=(Kind.MENTOR,), seeks=(Kind.MENTEE,))
    return vectors_event(member_id, member, profile=E0, offers=E0, seeks=E1)


def mentee_vectors(member_id: str, rank: int, profile_version: int = 1) -> ProfileVectorsComputed:
    """A mentee who fits mentors less the higher `rank` is, in every search alike."""
    member = card(f"Mentee {member_id}", offers=(Kind.MENTEE,), seeks=(Kind.MENTOR,))
    drift = 0.2 * rank
    return vectors_event(
        member_id,
        member,
        profile=unit(1, 0, drift, 0),
        offers=unit(0, 1, drift, 0),
        seeks=unit(1, 0, drift, 0),
        profile_version=profile_version,
    )
