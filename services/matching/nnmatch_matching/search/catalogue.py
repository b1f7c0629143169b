"""What hub search reads of each member besides vectors: the card, its words and its facets.

Pure: the catalogue mirrors the engine's members (synced by diffing their cards, so the engine
needs no hook), holds the lexical index and, per facet value (a country, an SDG, a kind …), a
boolean row mask, so a filter over 55,000 members is a few vector ORs and ANDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nnmatch.events import MemberCard
from nnmatch.profile import Kind
from nnmatch.regions import REGIONS, region_of
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.lexical import LexicalIndex, Mask, apply_changes

REGION_NAMES = {region.casefold(): region for region in REGIONS}
"""Region filter values (case-insensitive) → the UN M49 regions countries map to."""


@dataclass(frozen=True)
class SearchFilters:
    """Within a facet any value matches; facets combine with AND. Countries and regions are
    one location facet (a member in any listed country or region matches). Kinds are what the
    member offers."""

    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    sdgs: frozenset[int] = frozenset()
    kinds: frozenset[Kind] = frozenset()
    languages: frozenset[str] = frozenset()
    hubs: frozenset[str] = frozenset()

    def facets(self) -> list[list[str]]:
        """The facet keys each group must hit (empty groups are no constraint)."""
        location = [f"country:{c}" for c in sorted(self.countries)] + [
            f"region:{REGION_NAMES[r.casefold()]}" for r in sorted(self.regions)
        ]
        groups = [
            location,
            [f"sdg:{n}" for n in sorted(self.sdgs)],
            [f"kind:{k.value}" for k in sorted(self.kinds)],
            [f"language:{code}" for code in sorted(self.languages)],
            [f"hub:{hub}" for hub in sorted(self.hubs)],
        ]
        return [group for group in groups if group]


def card_facets(card: MemberCard) -> tuple[str, ...]:
    keys = [f"country:{card.country}"]
    region = region_of(card.country)
    if region is not None:
        keys.append(f"region:{region}")
    keys += [f"sdg:{n}" for n in card.sdgs]
    keys += [f"kind:{k.value}" for k in card.offers_kinds]
    keys += [f"language:{code}" for code in card.languages]
    keys += [f"hub:{hub}" for hub in card.hubs]
    if card.discoverable:
        keys.append("discoverable")
    return tuple(keys)


def searchable_text(card: MemberCard) -> str:
    """The member's own words a hub searches: who they are and what they offer.

    What they seek is left out: a hub looks for people who can help, and matching a seeker's
    wish ("seeks a computer vision mentor") would put them among the computer vision mentors."""
    kinds = ", ".join(OFFER_PHRASES[k] for k in card.offers_kinds)
    return " ".join(
        part
        for part in (
            card.headline,
            ", ".join(card.expertise),
            ", ".join(card.interests),
            f"Offers {kinds}." if kinds else "",
            card.offers_text,
        )
        if part
    )


@dataclass
class _Facets:
    """One boolean row mask per facet key; rows are the lexical index's."""

    capacity: int = 1024
    masks: dict[str, Mask] = field(default_factory=dict)
    keys_of: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def set(self, row: int, keys: tuple[str, ...]) -> None:
        self.clear(row)
        if row >= self.capacity:
            while row >= self.capacity:
                self.capacity *= 2
            for key, mask in self.masks.items():
                self.masks[key] = np.concatenate(
                    [mask, np.zeros(self.capacity - len(mask), dtype=bool)]
                )
        for key in keys:
            if key not in self.masks:
                self.masks[key] = np.zeros(self.capacity, dtype=bool)
            self.masks[key][row] = True
        self.keys_of[row] = keys

    def clear(self, row: int) -> None:
        for key in self.keys_of.pop(row, ()):
            self.masks[key][row] = False

    def any_of(self, keys: Sequence[str], size: int) -> Mask:
        out = np.zeros(size, dtype=bool)
        for key in keys:
            mask = self.masks.get(key)
            if mask is not None:
                out |= mask[:size]
        return out


@dataclass(frozen=True)
class Changes:
    """Cards to (re)index with their analysed terms, and members to drop."""

    upserts: list[tuple[str, MemberCard, list[str]]]
    removals: list[str]


class Catalogue:
    def __init__(self, lexical: LexicalIndex | None = None) -> None:
        self.lexical = lexical or LexicalIndex()
        self.cards: dict[str, MemberCard] = {}
        self._facets = _Facets()

    def __len__(self) -> int:
        return len(self.cards)

    def diff(
        self, current: Mapping[str, MemberCard]
    ) -> tuple[list[tuple[str, MemberCard]], list[str]]:
        """Members whose card changed (a new card object) or appeared, and those now gone."""
        changed = [(m, card) for m, card in current.items() if self.cards.get(m) is not card]
        removed = [m for m in self.cards if m not in current]
        return changed, removed

    @staticmethod
    def analyse(changed: Iterable[tuple[str, MemberCard]], removed: list[str]) -> Changes:
        """The slow part of a sync (text analysis), separate so it can run off the event loop."""
        upserts = [(m, card, terms(searchable_text(card))) for m, card in changed]
        return Changes(upserts, removed)

    def apply(self, changes: Changes) -> None:
        for member_id in changes.removals:
            row = self.lexical.row(member_id)
            if row is not None:
                self._facets.clear(row)
            self.cards.pop(member_id, None)
        apply_changes(self.lexical, ((m, doc) for m, _, doc in changes.upserts), changes.removals)
        for member_id, card, _ in changes.upserts:
            row = self.lexical.row(member_id)
            assert row is not None
            self._facets.set(row, card_facets(card))
            self.cards[member_id] = card

    def upsert(self, member_id: str, card: MemberCard) -> None:
        self.apply(self.analyse([(member_id, card)], []))

    def remove(self, member_id: str) -> None:
        self.apply(Changes([], [member_id]))

    def sync(self, current: Mapping[str, MemberCard]) -> None:
        changed, removed = self.diff(current)
        if changed or removed:
            self.apply(self.analyse(changed, removed))

    def allowed(self, filters: SearchFilters) -> Mask:
        """Rows a search may return: discoverable members that pass every filter."""
        size = self.lexical.capacity
        mask = self._facets.any_of(["discoverable"], size)
        for group in filters.facets():
            mask &= self._facets.any_of(group, size)
        return mask

    def members(self, mask: Mask) -> list[str]:
        names = (self.lexical.member_at(r) for r in np.flatnonzero(mask).tolist())
        return [n for n in names if n is not None]
