"""A project's candidates: discoverable members ranked by how what they offer meets what the
project seeks, and the reasons, as sentences that say whose words they quote.

Pure: numpy over the arrays hub search already keeps (the catalogue's rows, its BM25 index
over each member's own words, its discoverable mask) and the matcher's offers matrix. One
matrix-vector product and one BM25 pass per request, no Python loop over members; a member's
score is the weighted mean of cos(project, member's offers) (clipped at 0) and BM25 / best
BM25 of the project's words against the member's words, plus `kinds_weight` where the member
offers a kind the project seeks. Shared SDGs and languages are facts in the reasons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from nnmatch.events import MemberCard, Reason, Suggestion, VectorKind
from nnmatch.hub import ProjectProfile
from nnmatch.profile import SDG_NAMES
from nnmatch.reasons import clip_words, listed
from nnmatch_matching.embedding.texts import OFFER_PHRASES
from nnmatch_matching.embedding.words import terms
from nnmatch_matching.matcher.member_matrix import MemberMatrix
from nnmatch_matching.matcher.ranking import LANGUAGE_NAMES
from nnmatch_matching.projects.texts import seek_words
from nnmatch_matching.search.catalogue import Catalogue, SearchFilters

Vector = npt.NDArray[np.float32]
QUOTE_CHARS = 80
"""The longest quote of a member's words in a reason, before the ellipsis."""
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True)
class CandidateWeights:
    """See the README's NNMATCH_SEARCH_DENSE_WEIGHT, _LEXICAL_WEIGHT, _CANDIDATE_K and
    NNMATCH_PROJECT_KINDS_WEIGHT."""

    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    kinds_weight: float = 0.1
    candidate_k: int = 200


@dataclass(frozen=True)
class Candidate:
    member_id: str
    score: float
    dense: float
    lexical: float


def eligible(
    catalogue: Catalogue, offers: MemberMatrix
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Vector]:
    """The catalogue rows a project may be matched with (discoverable members the offers
    matrix holds), each row's place in the offers matrix, and that matrix."""
    allowed = catalogue.allowed(SearchFilters())
    index_rows = offers.rows  # the map first, then the matrix (it is only ever replaced larger)
    matrix = offers.matrix
    places = catalogue.rows_in(("dense", VectorKind.OFFERS), offers, index_rows.get)
    size = min(len(allowed), len(places))
    rows = np.flatnonzero(allowed[:size] & (places[:size] >= 0) & (places[:size] < len(matrix)))
    return rows, places, matrix


def combined(
    dense: npt.NDArray[np.float64],
    lexical: npt.NDArray[np.float64],
    top: npt.NDArray[np.float64],
    kinds: npt.NDArray[np.bool_],
    weights: CandidateWeights,
) -> npt.NDArray[np.float64]:
    """The one score of a (project, member) pair, elementwise: both sides rank by it, so a
    project ranks a member exactly as high as the member's list ranks the project. `top` is
    the project's best BM25 over every eligible member (its lexical scale)."""
    total = (weights.dense_weight + weights.lexical_weight) or 1.0
    scaled = np.divide(lexical, top, out=lexical.astype(np.float64), where=top > 0)
    score = (
        weights.dense_weight * np.maximum(0.0, dense) + weights.lexical_weight * scaled
    ) / total
    return score + weights.kinds_weight * kinds


def rank(
    project: ProjectProfile,
    vector: Vector,
    catalogue: Catalogue,
    offers: MemberMatrix,
    weights: CandidateWeights,
) -> list[Candidate]:
    """The best `candidate_k` discoverable members for the project, best first (ties by id).

    Suspended members are published as not discoverable, so the discoverable mask leaves them
    out too. A member the catalogue still holds but the offers matrix no longer does (erased
    since the last sync) is left out; the caller checks the engine's current cards as well."""
    rows, places, matrix = eligible(catalogue, offers)
    if len(rows) == 0:
        return []
    dense = (matrix[places[rows]] @ vector).astype(np.float64)
    bm25 = catalogue.lexical.scores(seek_words(project))
    lexical = bm25[rows] if len(bm25) else np.zeros(len(rows))
    top = float(lexical.max()) if len(lexical) else 0.0
    kinds = np.zeros(len(rows), dtype=bool)
    if project.seeks.kinds:
        kinds = catalogue.allowed(SearchFilters(kinds=frozenset(project.seeks.kinds)))[rows]
    score = combined(dense, lexical, np.full(len(rows), top), kinds, weights)
    best = np.arange(len(rows))
    if weights.candidate_k < len(rows):  # ties at the cut are kept, for the id tie-break
        cutoff = np.partition(score, len(score) - weights.candidate_k)[-weights.candidate_k]
        best = np.flatnonzero(score >= cutoff)
    names = catalogue.names_of(rows[best]).tolist()
    found = [
        Candidate(str(name), round(float(s), 6), float(d), float(lx))
        for name, s, d, lx in zip(
            names, score[best].tolist(), dense[best].tolist(), lexical[best].tolist(), strict=True
        )
        if name is not None
    ]
    found.sort(key=lambda c: (-c.score, c.member_id))
    return found[: weights.candidate_k]


def best_sentence(text: str, wanted: frozenset[str]) -> str:
    """The sentence of `text` that holds most of the wanted words (the first on a tie)."""
    sentences = [s for s in _SENTENCES.split(text) if s.strip()] or [text]
    return max(sentences, key=lambda s: len(wanted & frozenset(terms(s))))


def clipped_quote(text: str) -> str:
    """Words as quoted in a reason: cut at a word with an ellipsis, no closing full stop."""
    return clip_words(text.strip().rstrip("."), QUOTE_CHARS)


def reasons(project: ProjectProfile, hub_id: str, card: MemberCard, dense: float) -> list[Reason]:
    """Why this member fits the project, as claims about the member that quote only the
    member's own words (their offer or expertise), each cut at a word with an ellipsis."""
    wanted = frozenset(terms(seek_words(project)))
    out: list[Reason] = []
    offer_words = wanted & frozenset(terms(card.offers_text))
    tags = [t for t in card.expertise if wanted & frozenset(terms(t))][:2]
    if offer_words:
        quote = clipped_quote(best_sentence(card.offers_text, wanted))
        out.append(
            Reason(
                kind="offer_meets_project_seek",
                text=f"offers “{quote}”, which this project seeks",
                params={"quote": quote, "quote_of": "them"},
            )
        )
    if tags:
        quoted = listed([f"“{clipped_quote(t)}”" for t in tags])
        out.append(
            Reason(
                kind="expertise_meets_project_seek",
                text=f"lists {quoted} as expertise, which this project seeks",
                params={"topics": [clipped_quote(t) for t in tags]},
            )
        )
    kinds = [k for k in card.offers_kinds if k in project.seeks.kinds]
    if kinds:
        phrases = [OFFER_PHRASES[k] for k in kinds]
        out.append(
            Reason(
                kind="kind_meets_project_seek",
                text=f"offers {listed(phrases)}, which this project seeks",
                params={"kinds": [str(k) for k in kinds]},
            )
        )
    if not offer_words and not tags and card.offers_text and dense > 0:
        quote = clipped_quote(best_sentence(card.offers_text, wanted))
        out.append(
            Reason(
                kind="offer_close_to_project",
                text=f"offers “{quote}”, close in meaning to what this project seeks",
                params={"quote": quote, "quote_of": "them"},
            )
        )
    sdgs = sorted(set(card.sdgs) & set(project.sdgs))
    if sdgs:
        named = [f"SDG {n} ({SDG_NAMES[n]})" for n in sdgs[:2]]
        out.append(
            Reason(
                kind="shared_sdg",
                text=f"works on {listed(named)}, as this project does",
                params={"sdgs": sdgs[:2]},
            )
        )
    spoken = [code for code in card.languages if code in project.languages]
    if spoken:
        names = [LANGUAGE_NAMES.get(code, code) for code in spoken[:2]]
        language = "a language" if len(names) == 1 else "languages"
        out.append(
            Reason(
                kind="shared_language",
                text=f"speaks {listed(names)}, {language} of this project",
                params={"language": spoken[0]},
            )
        )
    if hub_id in card.hubs:
        out.append(
            Reason(kind="hub", text="is a member of this project's hub", params={"hub": hub_id})
        )
    return out


def suggestions(
    project: ProjectProfile,
    hub_id: str,
    found: Sequence[Candidate],
    card_of: Callable[[str], MemberCard | None],
    now: datetime,
) -> list[Suggestion]:
    """The page's items in the shape every list shares; a member without a current
    discoverable card (erased or hidden since the ranking) is left out."""
    items = []
    for candidate in found:
        card = card_of(candidate.member_id)
        if card is None or not card.discoverable:
            continue
        items.append(
            Suggestion(
                member_id=candidate.member_id,
                display_name=card.display_name,
                headline=card.headline,
                country=card.country,
                score=round(candidate.score, 4),
                reasons=reasons(project, hub_id, card, candidate.dense),
                computed_at=now,
            )
        )
    return items
