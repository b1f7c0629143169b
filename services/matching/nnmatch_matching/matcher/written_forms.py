"""Which written form shows a stemmed term in a reason ("you both write about sensing").

Pure: no I/O. Each member holds, per term of their profile, the shortest form they wrote it
in; a term is shown as the shortest of the forms its current holders hold (ties by the word).
That is a function of the members as they are now, not of the order or history of updates:
two replicas that replayed the same members in different orders, or one that rebuilt from
the compacted topic beside one that saw every old version, show the same word, and no word
of a member who left or rewrote their profile is shown for others.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from nnmatch_matching.embedding.words import form_order


class WrittenForms:
    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # form → id
        self._forms: list[str] = []  # id → form
        self._terms: list[str] = []  # id → the term it is a form of
        self._holders = np.zeros(0, dtype=np.int32)  # id → members holding it
        self._by_term: dict[str, list[int]] = {}  # term → ids of its forms ever seen
        self._shown: dict[str, int] = {}  # term → id of the form shown (held by someone)
        self._members: dict[str, npt.NDArray[np.int32]] = {}  # member → their form ids

    def hold(self, member_id: str, forms: Mapping[str, str]) -> None:
        """The member's forms now (term → word, `words.own_forms`), replacing what they held."""
        self.release(member_id)
        ids = np.fromiter(
            (self._id(term, word) for term, word in forms.items()), np.int32, len(forms)
        )
        self._holders[ids] += 1  # one form a term, so no id twice
        for term, i in zip(forms, ids.tolist(), strict=True):
            shown = self._shown.get(term)
            if shown is None or form_order(self._forms[i]) < form_order(self._forms[shown]):
                self._shown[term] = i
        self._members[member_id] = ids

    def release(self, member_id: str) -> None:
        """The member holds nothing any more (removed, or about to hold new forms)."""
        ids = self._members.pop(member_id, None)
        if ids is None:
            return
        self._holders[ids] -= 1
        for i in ids[self._holders[ids] == 0].tolist():
            term = self._terms[i]
            if self._shown.get(term) == i:
                self._show_again(term)

    def shown(self, term: str) -> str:
        """The word `term` is shown as (the term itself if no one holds it)."""
        i = self._shown.get(term)
        return term if i is None else self._forms[i]

    def member_forms(self, member_id: str) -> dict[str, str]:
        """Term → the member's own form (what a snapshot keeps, so a restore holds the same)."""
        ids = self._members.get(member_id)
        if ids is None:
            return {}
        return {self._terms[i]: self._forms[i] for i in ids.tolist()}

    def _id(self, term: str, word: str) -> int:
        i = self._ids.get(word)
        if i is None:
            i = self._ids[word] = len(self._forms)
            self._forms.append(word)
            self._terms.append(term)
            self._by_term.setdefault(term, []).append(i)
            if i >= len(self._holders):
                grown = np.zeros(max(1024, 2 * len(self._holders)), dtype=np.int32)
                grown[: len(self._holders)] = self._holders
                self._holders = grown
        return i

    def _show_again(self, term: str) -> None:
        held = [i for i in self._by_term[term] if self._holders[i] > 0]
        if not held:
            del self._shown[term]
            return
        self._shown[term] = min(held, key=lambda i: form_order(self._forms[i]))
