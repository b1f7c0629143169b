"""What the hubs role knows: each hub's own profile and vectors, and running sums of its
discoverable members' vectors and words.

Pure and in memory (about 100 hubs; members are folded into sums, not kept whole). A member
update subtracts that member's previous contribution and adds the new one, so a hub's
aggregate is always the sum over its current discoverable members, whatever the order of
updates (the words a reason shows included: `Aggregate.shown`). `put_member` answers which
hubs changed, for the recompute schedule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, ProfileVectorsComputed, VectorKind
from nnmatch.hub import HubProfile
from nnmatch_matching.embedding.words import displayed, form_order, terms

Vector = npt.NDArray[np.float32]
KINDS = tuple(VectorKind)


@dataclass(frozen=True)
class Contribution:
    """One discoverable member's share of each of their hubs' aggregates."""

    hubs: tuple[str, ...]
    vectors: dict[VectorKind, Vector]
    expertise: frozenset[str]
    interests: frozenset[str]
    offer_terms: Counter[str]
    shown: dict[str, str] = field(default_factory=dict)
    """Each of `offer_terms` in the member's shortest form of it (`words.displayed`)."""


def contribution(event: ProfileVectorsComputed) -> Contribution | None:
    """A member's contribution, or None when they count for no hub (hidden, or in none)."""
    return contribution_of(event.card, {kind: event.vector(kind) for kind in KINDS})


def contribution_of(card: MemberCard, vectors: dict[VectorKind, Vector]) -> Contribution | None:
    """The same from a card and its vectors (the eval builds them without events)."""
    if not card.discoverable or not card.hubs:
        return None
    offered = " ".join([card.offers_text, *card.expertise])
    return Contribution(
        hubs=tuple(dict.fromkeys(card.hubs)),
        vectors=vectors,
        expertise=frozenset(t.lower() for t in card.expertise),
        interests=frozenset(t.lower() for t in card.interests),
        offer_terms=Counter(terms(offered)),
        shown=displayed(offered),
    )


@dataclass
class Aggregate:
    """Sums over a hub's discoverable members (a tag's count is how many members list it)."""

    dimensions: int
    count: int = 0
    sums: dict[VectorKind, Vector] = field(default_factory=dict)
    expertise: Counter[str] = field(default_factory=Counter)
    interests: Counter[str] = field(default_factory=Counter)
    offer_terms: Counter[str] = field(default_factory=Counter)
    written: dict[str, Counter[str]] = field(default_factory=dict)
    """Per term, how many of the hub's members wrote it in each form (`shown` picks one)."""

    @property
    def shown(self) -> dict[str, str]:
        """Each term in the shortest form a current member wrote it in (ties by the word): the
        same on every replica whatever the order or history of updates, and never the word
        of a member who left."""
        return {t: min(forms, key=form_order) for t, forms in self.written.items()}

    def add(self, part: Contribution, sign: int) -> None:
        self.count += sign
        for term, word in part.shown.items():
            forms = self.written.setdefault(term, Counter())
            forms[word] += sign
            if forms[word] <= 0:
                del forms[word]
            if not forms:
                del self.written[term]
        for kind in KINDS:
            current = self.sums.get(kind, np.zeros(self.dimensions, dtype=np.float32))
            self.sums[kind] = current + sign * part.vectors[kind]
        for counts, items in (
            (self.expertise, Counter(part.expertise)),
            (self.interests, Counter(part.interests)),
            (self.offer_terms, part.offer_terms),
        ):
            counts.update(items) if sign > 0 else counts.subtract(items)
            for key in [k for k, v in counts.items() if v <= 0]:
                del counts[key]

    def mean(self, kind: VectorKind) -> Vector:
        if self.count <= 0 or kind not in self.sums:
            return np.zeros(self.dimensions, dtype=np.float32)
        return (self.sums[kind] / self.count).astype(np.float32)


@dataclass(frozen=True)
class OwnHub:
    """A hub's profile as its leaders wrote it, and its own texts' vectors (zero: no text)."""

    version: int
    profile: HubProfile
    vectors: dict[VectorKind, Vector]


class HubBook:
    """Every hub and every discoverable member's contribution to their hubs."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.hubs: dict[str, OwnHub] = {}
        self._members: dict[str, Contribution] = {}
        self._aggregates: dict[str, Aggregate] = {}

    def put_hub(self, hub_id: str, hub: OwnHub) -> None:
        self.hubs[hub_id] = hub

    def profile(self, hub_id: str) -> HubProfile | None:
        """The hub's profile as its leaders wrote it (None: unknown here)."""
        own = self.hubs.get(hub_id)
        return own.profile if own is not None else None

    def drop_hub(self, hub_id: str) -> None:
        self.hubs.pop(hub_id, None)

    def aggregate(self, hub_id: str) -> Aggregate:
        return self._aggregates.get(hub_id) or Aggregate(self.dimensions)

    def put_member(self, member_id: str, part: Contribution | None) -> set[str]:
        """Replace the member's contribution (None: remove it); the hubs whose sums changed."""
        old = self._members.pop(member_id, None)
        changed: set[str] = set()
        if old is not None:
            for hub_id in old.hubs:
                self._aggregates.setdefault(hub_id, Aggregate(self.dimensions)).add(old, -1)
                changed.add(hub_id)
        if part is not None:
            self._members[member_id] = part
            for hub_id in part.hubs:
                self._aggregates.setdefault(hub_id, Aggregate(self.dimensions)).add(part, +1)
                changed.add(hub_id)
        for hub_id in changed:
            if self._aggregates[hub_id].count <= 0:
                del self._aggregates[hub_id]
        return changed
