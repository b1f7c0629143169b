"""What hub search reads of each member besides vectors: the card, its words and its facets.

Pure: the catalogue mirrors the engine's members (synced by diffing their cards, so the engine
needs no hook), holds the lexical index and, per facet value (a country, an SDG, a kind …), a
boolean row mask, so a filter over 55,000 members is a few vector ORs and ANDs.

Every applied change appends the rows it touched to a change log, so what is derived from the
rows (each row's member id as an array; each row's place in a vector index, `rows_in`) is kept
up to date from the rows that changed since, never rebuilt from every member.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Protocol

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard
from nnmatch.profile import Kind
from nnmatch.regions import REGIONS, region_of
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.lexical import LexicalIndex, Mask, apply_changes

Rows = npt.NDArray[np.int64]
LOG_LIMIT = 65_536
"""Rows kept in the change log; a derived array further behind than that is rebuilt whole."""

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


class _HasCard(Protocol):
    @property
    def card(self) -> MemberCard: ...


@dataclass
class _Derived:
    """An array over rows kept up to date from the change log (see `Catalogue.rows_in`)."""

    source: object
    values: Rows
    seen: int  # change-log position it reflects


class Catalogue:
    def __init__(self, lexical: LexicalIndex | None = None) -> None:
        self.lexical = lexical or LexicalIndex()
        self.cards: dict[str, MemberCard] = {}
        self._facets = _Facets()
        self._names: npt.NDArray[np.object_] = np.full(0, None, dtype=object)
        self._log: list[int] = []  # rows touched by each apply, in order
        self._log_start = 0  # change-log position of self._log[0]
        self._derived: dict[object, _Derived] = {}
        self._states: Mapping[str, _HasCard] = {}

    def __len__(self) -> int:
        return len(self.cards)

    @property
    def changes(self) -> int:
        """Change-log position: rows touched so far (a derived array is current at this)."""
        return self._log_start + len(self._log)

    def diff(
        self, current: Mapping[str, MemberCard]
    ) -> tuple[list[tuple[str, MemberCard]], list[str]]:
        """Members whose card changed (a new card object) or appeared, and those now gone."""
        changed = [(m, card) for m, card in current.items() if self.cards.get(m) is not card]
        removed = [m for m in self.cards if m not in current]
        return changed, removed

    def diff_states(
        self, states: Mapping[str, _HasCard]
    ) -> tuple[list[tuple[str, MemberCard]], list[str]]:
        """`diff` over the engine's member states against those of the last sync
        (`note_states`): the engine makes a new state object for every change, so an unchanged
        engine is one C-level dict comparison (identity first), and otherwise the changed
        members are found by identity with C-level iteration; removals are a key-set
        difference. Never looks into a card that did not change."""
        seen = self._states
        if len(seen) == len(states) and states == seen:
            return [], []
        keys = list(states.keys())
        flags = map(operator.is_not, map(seen.get, keys), states.values())
        changed = [(m, states[m].card) for m in compress(keys, flags)]
        removed = sorted(m for m in seen.keys() - states.keys() if m in self.cards)
        return changed, removed

    def note_states(self, states: dict[str, _HasCard]) -> None:
        """The states the catalogue now reflects (the next `diff_states` compares with them)."""
        self._states = states

    @staticmethod
    def analyse(changed: Iterable[tuple[str, MemberCard]], removed: list[str]) -> Changes:
        """The slow part of a sync (text analysis), separate so it can run off the event loop."""
        upserts = [(m, card, terms(searchable_text(card))) for m, card in changed]
        return Changes(upserts, removed)

    def apply(self, changes: Changes) -> None:
        touched: list[int] = []
        for member_id in changes.removals:
            row = self.lexical.row(member_id)
            if row is not None:
                self._facets.clear(row)
                touched.append(row)
            self.cards.pop(member_id, None)
        apply_changes(self.lexical, ((m, doc) for m, _, doc in changes.upserts), changes.removals)
        for member_id, card, _ in changes.upserts:
            row = self.lexical.row(member_id)
            assert row is not None
            self._facets.set(row, card_facets(card))
            self.cards[member_id] = card
            touched.append(row)
        self._update_names(touched)
        self._log.extend(touched)
        if len(self._log) > LOG_LIMIT:
            drop = len(self._log) - LOG_LIMIT // 2
            del self._log[:drop]
            self._log_start += drop

    def _update_names(self, rows: list[int]) -> None:
        capacity = self.lexical.capacity
        if len(self._names) < capacity:
            grown = np.full(max(capacity, 2 * len(self._names)), None, dtype=object)
            grown[: len(self._names)] = self._names
            self._names = grown
        for row in rows:
            self._names[row] = self.lexical.member_at(row) if row < capacity else None

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

    def names_of(self, rows: Rows) -> npt.NDArray[np.object_]:
        """Member id of each row (None where free), as an array."""
        return self._names[rows]

    def members(self, mask: Mask) -> list[str]:
        names = self._names[np.flatnonzero(mask[: len(self._names)])]
        return [n for n in names.tolist() if n is not None]

    def rows_in(self, key: object, source: object, lookup: Callable[[str], int | None]) -> Rows:
        """Per row, `lookup(member id)` (-1 where None or the row is free), e.g. the member's
        row in a vector index. Cached under `key` for `source`: only rows changed since the last
        call are looked up again, unless the source is another object (then every row is)."""
        derived = self._derived.get(key)
        capacity = self.lexical.capacity
        if derived is None or derived.source is not source or derived.seen < self._log_start:
            values = np.full(capacity, -1, dtype=np.int64)
            rows: Iterable[int] = range(capacity)
        else:
            values = derived.values
            if len(values) < capacity:
                values = np.concatenate([values, np.full(capacity - len(values), -1, np.int64)])
            rows = set(self._log[derived.seen - self._log_start :])
        for row in rows:
            name = self._names[row] if row < len(self._names) else None
            found = lookup(name) if name is not None else None
            values[row] = -1 if found is None else found
        self._derived[key] = _Derived(source, values, self.changes)
        return values
