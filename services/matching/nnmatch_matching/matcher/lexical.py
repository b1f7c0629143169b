"""A BM25 index over members' own words, kept in step with the engine member by member.

Pure: no I/O and no clock, so it is unit-tested directly. Text is analysed by
`embedding/words.py` (the embedder analyses a profile's whole text there too).

Staying fast at 55,000 members without refitting on every change: the vocabulary grows
incrementally (a new word gets the next column) and document frequencies are counted exactly
on every add and remove, so IDF is always current. Documents live in two segments: a compiled
*main* sparse matrix (CSC, columns = terms, values = BM25 term saturation) and a small *delta*
of documents changed since it was compiled. A changed or removed member's main row is masked
out, and the main segment is recompiled (tens of milliseconds at 55k) only once the delta
outgrows `compact_ratio` of the index. The BM25 length normalisation uses the average document
length of the last compile.

Documents can also be compared with each other (`cosines`): each is a BM25 vector (term
saturation × IDF) and two documents score the cosine of theirs, which is symmetric, bounded
and needs no query text; member-to-member matching compares seeks words with offers words so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from nnmatch_matching.embedding.words import terms

Scores = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Doc:
    """One document's distinct terms (sorted ids) and how often each occurs, held narrow
    (int32, float32: exact for any count a profile reaches) since there are three documents
    per member; `_matrix` widens them to float64 before any arithmetic."""

    term_ids: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float32]
    length: int


@dataclass(frozen=True)
class FrozenStats:
    """What `LexicalIndex.freeze` holds, by term rather than term id: what a snapshot keeps,
    so a restart scores every pair as before it (the candidate caches stay exact)."""

    documents: int
    frequencies: dict[str, int]
    average_length: float


class LexicalIndex:
    """BM25 over one document per member id; `scores` gives every row's score for a query."""

    def __init__(
        self, k1: float = 1.2, b: float = 0.75, compact_ratio: float = 0.05, compact_min: int = 256
    ) -> None:
        self.k1 = k1
        self.b = b
        self.compact_ratio = compact_ratio
        self.compact_min = compact_min
        self._vocab: dict[str, int] = {}
        self._words: list[str] = []  # term of each term id
        self._df = np.zeros(1024, dtype=np.int64)
        self._rows: dict[str, int] = {}
        self._names: list[str | None] = []
        self._free: list[int] = []
        self._docs: dict[int, _Doc] = {}
        self._main: sparse.csc_matrix | None = None
        self._main_live: Mask = np.zeros(0, dtype=bool)
        self._generation = 0
        self._idf: tuple[int, Scores] | None = None  # generation, IDF
        self._norms: tuple[int, Scores] | None = None  # generation, 1 / main rows' norms
        self._avgdl = 1.0
        self._frozen: tuple[int, npt.NDArray[np.int64], float] | None = None  # n, df, avgdl
        self._delta: set[int] = set()
        self._delta_matrix: tuple[npt.NDArray[np.int64], sparse.csc_matrix] | None = None
        self.compactions = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    @property
    def capacity(self) -> int:
        """Rows allocated: score arrays and row masks have this length."""
        return len(self._names)

    def row(self, member_id: str) -> int | None:
        return self._rows.get(member_id)

    @property
    def names(self) -> Sequence[str | None]:
        """Member id of each row (None where free); read-only."""
        return self._names

    def member_at(self, row: int) -> str | None:
        return self._names[row]

    def _term_id(self, term: str) -> int:
        term_id = self._vocab.get(term)
        if term_id is None:
            term_id = self._vocab[term] = len(self._vocab)
            self._words.append(term)
            if term_id >= len(self._df):
                self._df = np.concatenate([self._df, np.zeros(len(self._df), dtype=np.int64)])
        return term_id

    def upsert(self, member_id: str, text: str) -> int:
        return self.upsert_terms(member_id, terms(text))

    def upsert_terms(self, member_id: str, doc_terms: Sequence[str]) -> int:
        """Insert or replace a member's document from its analysed terms; returns its row."""
        row = self._rows.get(member_id)
        if row is None:
            row = self._free.pop() if self._free else len(self._names)
            if row == len(self._names):
                self._names.append(member_id)
            else:
                self._names[row] = member_id
            self._rows[member_id] = row
        else:
            self._forget_doc(row)
        ids, counts = np.unique(
            np.fromiter((self._term_id(t) for t in doc_terms), np.int64, len(doc_terms)),
            return_counts=True,
        )
        self._docs[row] = _Doc(ids.astype(np.int32), counts.astype(np.float32), len(doc_terms))
        self._df[ids] += 1
        self._generation += 1
        self._delta.add(row)
        self._delta_matrix = None
        return row

    def term_counts(self, member_id: str) -> dict[str, int]:
        """The member's document as analysed terms and their counts (empty if unknown)."""
        row = self._rows.get(member_id)
        if row is None:
            return {}
        doc = self._docs[row]
        return {self._words[t]: int(c) for t, c in zip(doc.term_ids, doc.counts, strict=True)}

    def length(self, member_id: str) -> int:
        """Terms in the member's document (0 if none or unknown)."""
        row = self._rows.get(member_id)
        return 0 if row is None else self._docs[row].length

    def shared_terms_many(self, member_id: str, others: Sequence[str], k: int) -> list[list[str]]:
        """Per one of `others`, up to `k` terms both documents hold, rarest (highest IDF) first.

        A whole list's reasons in a few array operations: the others' terms in one array,
        looked up in my sorted terms, ordered by other, then rarity, then the term."""
        out: list[list[str]] = [[] for _ in others]
        a = self._rows.get(member_id)
        rows = [self._rows.get(o) for o in others]
        held = [i for i, row in enumerate(rows) if row is not None]
        if a is None or not held:
            return out
        mine = self._docs[a].term_ids
        theirs = [self._docs[rows[i]].term_ids for i in held]  # type: ignore[index]
        terms = np.concatenate(theirs)
        owner = np.repeat(np.asarray(held, np.int64), [len(t) for t in theirs])
        at = np.minimum(np.searchsorted(mine, terms), max(len(mine) - 1, 0))
        shared = (mine[at] == terms) if len(mine) else np.zeros(len(terms), bool)
        terms, owner = terms[shared], owner[shared]
        n, df = len(self._docs), self._df[terms].astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        # Ties in rarity by the term itself, not its id: ids follow the order documents came
        # in, which differs between replicas, and their reasons must read the same.
        words = np.asarray([self._words[t] for t in terms.tolist()], dtype=np.str_)
        order = np.lexsort((words, -idf, owner))
        for i, term in zip(owner[order].tolist(), terms[order].tolist(), strict=True):
            if len(out[i]) < k:
                out[i].append(self._words[term])
        return out

    def remove(self, member_id: str) -> int | None:
        """Drop a member's document; returns the row it had (now free), or None if unknown."""
        row = self._rows.pop(member_id, None)
        if row is None:
            return None
        self._forget_doc(row)
        self._names[row] = None
        self._free.append(row)
        return row

    def _forget_doc(self, row: int) -> None:
        doc = self._docs.pop(row)
        self._df[doc.term_ids] -= 1
        self._generation += 1
        if row < len(self._main_live):
            self._main_live[row] = False
        if row in self._delta:
            self._delta.discard(row)
            self._delta_matrix = None

    def freeze(self) -> None:
        """Hold the statistics (document count and frequencies, average length) as they are
        now, so a pair of documents scores the same until the next `freeze`: the matcher's
        candidate caches hold pair scores (candidate_cache.py), which a change of anyone's
        words would otherwise move by a hair. A term first seen after it counts as in no
        document then (the rarest)."""
        self._frozen = None
        self.compact()  # every document weighed with today's average length
        self._frozen = (len(self._docs), self._df.copy(), self._avgdl)
        self._generation += 1

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def frozen_stats(self) -> FrozenStats | None:
        """The statistics `freeze` holds (None: not frozen)."""
        if self._frozen is None:
            return None
        documents, df, average_length = self._frozen
        counts = zip(self._words[: len(df)], df[: len(self._words)].tolist(), strict=True)
        return FrozenStats(documents, {w: int(c) for w, c in counts if c}, average_length)

    def restore_frozen(self, stats: FrozenStats) -> None:
        """Hold `stats` (from `frozen_stats`, maybe of another process) as if `freeze` had
        taken them: every pair of documents then scores as it did there."""
        for word in stats.frequencies:
            self._term_id(word)  # a term of documents since removed still counts as it did
        df = np.zeros(len(self._vocab), dtype=np.int64)
        for word, count in stats.frequencies.items():
            df[self._vocab[word]] = count
        self._avgdl = stats.average_length
        self._frozen = (stats.documents, df, stats.average_length)
        self.compact()  # every document weighed with the held average length
        self._generation += 1

    def maybe_compact(self) -> bool:
        """Recompile the main segment once the delta outgrows its share; True if it did."""
        if len(self._delta) <= max(self.compact_min, self.compact_ratio * len(self._docs)):
            return False
        self.compact()
        return True

    def compact(self) -> None:
        """Fold every current document into one compiled main segment; the delta empties."""
        rows = np.fromiter(self._docs.keys(), np.int64, len(self._docs))
        lengths = [self._docs[int(r)].length for r in rows]
        if self._frozen is None:
            self._avgdl = max(1.0, float(np.mean(lengths))) if lengths else 1.0
        self._main = self._matrix(rows, n_rows=self.capacity)
        self._generation += 1
        self._main_live = np.zeros(self.capacity, dtype=bool)
        self._main_live[rows] = True
        self._delta.clear()
        self._delta_matrix = None
        self.compactions += 1

    def _matrix(self, rows: npt.NDArray[np.int64], n_rows: int | None = None) -> sparse.csc_matrix:
        """BM25 saturation weights (no IDF: that is applied per query) of `rows`.

        With `n_rows`, row r of the result is document r; otherwise row i is `rows[i]`."""
        docs = [self._docs[int(r)] for r in rows]
        sizes = np.fromiter((len(d.term_ids) for d in docs), np.int64, len(docs))
        cols = np.concatenate([d.term_ids for d in docs]) if docs else np.zeros(0, np.int32)
        tf = np.concatenate([d.counts for d in docs]).astype(np.float64) if docs else np.zeros(0)
        lengths = np.repeat(np.fromiter((d.length for d in docs), np.float64, len(docs)), sizes)
        norm = self.k1 * (1 - self.b + self.b * lengths / self._avgdl)
        weights = tf * (self.k1 + 1) / (tf + norm)
        where = rows if n_rows is not None else np.arange(len(rows))
        shape = (n_rows if n_rows is not None else len(rows), len(self._vocab))
        return sparse.csc_matrix((weights, (np.repeat(where, sizes), cols)), shape=shape)

    def _delta_segment(self) -> tuple[npt.NDArray[np.int64], sparse.csc_matrix]:
        if self._delta_matrix is None:
            if self._main is None and self._docs and self._frozen is None:
                self._avgdl = max(1.0, float(np.mean([d.length for d in self._docs.values()])))
            rows = np.fromiter(sorted(self._delta), np.int64, len(self._delta))
            self._delta_matrix = (rows, self._matrix(rows))
        return self._delta_matrix

    def idf(self) -> Scores:
        """BM25 IDF of every vocabulary term, from the exact current document frequencies
        (or those held by `freeze`)."""
        n, df = len(self._docs), self._df[: len(self._vocab)].astype(np.float64)
        if self._frozen is not None:
            n, held, _ = self._frozen
            df = np.zeros(len(self._vocab))
            df[: min(len(held), len(df))] = held[: len(df)]
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def _current_idf(self) -> Scores:
        """`idf`, cached until the index changes."""
        if self._idf is None or self._idf[0] != self._generation:
            self._idf = (self._generation, self.idf())
        return self._idf[1]

    def _main_inverse(self) -> Scores:
        """1 / length of each live main row's BM25 vector (0 elsewhere); cached until the index
        changes. Only the cosines need it: taking it reads every posting of the main segment,
        which a change made the matcher do for every changed member's BM25 (`dots`)."""
        if self._norms is None or self._norms[0] != self._generation:
            idf = self._current_idf()
            inverse = np.zeros(0)
            if self._main is not None:
                # The squared weights share the main segment's structure: only a data array
                # lives while the norms are taken, not a second matrix held for good (a third
                # of the compiled index). Summed in the same order as the matrix held before.
                main = self._main
                squares = sparse.csc_matrix(
                    (main.data * main.data, main.indices, main.indptr), shape=main.shape
                )
                width = squares.shape[1]
                norms = np.sqrt(squares @ (idf[:width] ** 2))
                live = self._main_live[: len(norms)] & (norms > 0)
                inverse = np.where(live, 1.0 / np.where(live, norms, 1.0), 0.0)
            self._norms = (self._generation, inverse)
        return self._norms[1]

    def cosines(self, rows: Sequence[int]) -> npt.NDArray[np.float64]:
        """Cosine of each of `rows`' BM25 vector to every row's (shape: len(rows) × capacity).

        Walks the postings of each document's words (not the whole index). Symmetric (a to b
        equals b to a), so a pair scores the same from either side; free rows and empty
        documents score 0."""
        return self._similarities(rows, normalise=True)

    def dots(self, rows: Sequence[int]) -> npt.NDArray[np.float64]:
        """Symmetric BM25 of each of `rows` with every row (shape: len(rows) × capacity):
        Σ over shared terms of IDF × both documents' term saturation.

        BM25 with the query's words saturated as the document's are, so a pair scores the same
        from either side. Unlike the cosine it does not divide by the vectors' lengths: a
        document that shares more of my rare words scores higher even when it also says much
        else, which is what ranks people by their whole body of work (on the real set it
        retrieves better than the cosine and than one-sided BM25)."""
        return self._similarities(rows, normalise=False)

    def _similarities(self, rows: Sequence[int], normalise: bool) -> npt.NDArray[np.float64]:
        out = np.zeros((len(rows), self.capacity))
        if not len(rows) or not self._vocab:
            return out
        delta = self._delta_segment() if self._delta else None  # first: it may set the avgdl
        idf = self._current_idf()
        delta_inverse = np.zeros(0)
        if delta is not None:
            squares = delta[1].multiply(delta[1]) @ (idf[: delta[1].shape[1]] ** 2)
            norms = np.sqrt(np.asarray(squares).ravel())
            delta_inverse = 1.0 / np.where(norms > 0, norms, 1.0)
        if normalise:
            main_inverse = self._main_inverse()
        else:
            # Live rows count as they are. A live row with no words scores 0 either way, so
            # this is the cosines' mask (`_main_inverse` > 0) without their norms.
            rows_held = self._main.shape[0] if self._main is not None else 0
            main_inverse = self._main_live[:rows_held].astype(np.float64)
            delta_inverse = np.ones_like(delta_inverse)
        queries = self._matrix(np.asarray(rows, dtype=np.int64)).tocsr()
        for i in range(len(rows)):
            ids = queries.indices[queries.indptr[i] : queries.indptr[i + 1]]
            weights = queries.data[queries.indptr[i] : queries.indptr[i + 1]] * idf[ids]
            length = float(np.sqrt(weights @ weights))
            if length == 0:
                continue
            if normalise:
                # doc · query = Σ terms of saturation × IDF × (unit query weight), / doc length
                weights = weights * idf[ids] / length
            if self._main is not None:
                inside = ids < self._main.shape[1]
                dots = _postings_dot(self._main, ids[inside], weights[inside])
                out[i, : len(dots)] = dots * main_inverse
            if delta is not None:
                delta_rows, matrix = delta
                inside = ids < matrix.shape[1]
                out[i, delta_rows] = (matrix[:, ids[inside]] @ weights[inside]) * delta_inverse
        return out

    def query_weights(self, query: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Known term ids of a query and their IDF × query-term-frequency weights."""
        known = [self._vocab[t] for t in terms(query) if t in self._vocab]
        if not known:
            return np.zeros(0, np.int64), np.zeros(0)
        ids, counts = np.unique(np.asarray(known, dtype=np.int64), return_counts=True)
        n, df = len(self._docs), self._df[ids].astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return ids, idf * counts

    def scores(self, query: str) -> Scores:
        """BM25 score of every row (length `capacity`); 0 for free rows and no shared term."""
        out = np.zeros(self.capacity)
        ids, weights = self.query_weights(query)
        if len(ids) == 0:
            return out
        if self._main is not None:
            inside = ids < self._main.shape[1]
            main = self._main[:, ids[inside]] @ weights[inside]
            live = self._main_live[: len(main)]
            out[: len(main)] += np.where(live, main, 0.0)
        if self._delta:
            rows, matrix = self._delta_segment()
            inside = ids < matrix.shape[1]
            out[rows] = matrix[:, ids[inside]] @ weights[inside]
        return out

    def top(self, query: str, k: int, allowed: Mask | None = None) -> list[tuple[str, float]]:
        """The best `k` (member id, BM25 score) with a positive score, among `allowed` rows."""
        return top_k(self.scores(query), k, allowed, self._names)


def _postings_dot(matrix: sparse.csc_matrix, ids: npt.NDArray[np.int64], weights: Scores) -> Scores:
    """Σ over `ids` (sorted) of weight × column: a sparse query against a documents × terms
    matrix. The query's columns are sliced out (their postings only) and multiplied in
    scipy's compiled loop, about 3 times faster than gathering the postings with numpy; each
    row's terms are summed in the same order either way, so the scores are the same."""
    summed = np.asarray(matrix[:, ids] @ weights, dtype=np.float64).ravel()
    return summed


def top_k(
    scores: Scores, k: int, allowed: Mask | None, names: Sequence[str | None]
) -> list[tuple[str, float]]:
    """Best `k` positive scores among allowed rows, best first, ties broken by member id."""
    if allowed is not None:
        scores = np.where(allowed[: len(scores)], scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        cutoff = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        positive = positive[scores[positive] >= cutoff]
    hits = [(names[r], float(scores[r])) for r in positive.tolist()]
    ranked = sorted(((n, s) for n, s in hits if n is not None), key=lambda h: (-h[1], h[0]))
    return ranked[:k]


def apply_changes(
    index: LexicalIndex,
    upserts: Iterable[tuple[str, Sequence[str]]],
    removals: Iterable[str],
) -> None:
    """Apply a batch of (member id, analysed terms) upserts and removals, then maybe compact."""
    for member_id in removals:
        index.remove(member_id)
    for member_id, doc_terms in upserts:
        index.upsert_terms(member_id, doc_terms)
    index.maybe_compact()
