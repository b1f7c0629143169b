"""Hub ↔ hub partners judged by the seeded community's own ground truth (part of `nnmatch eval`).

The truth (docs/HUBS.md "Eval"): hub A seeks what its members are interested in but do not
work on (the seed's rule, its top three topics); a hub B in *another country* whose members
list one of those topics as expertise is what A looks for. Two judgements: **both ways**
(grade 2–3 when each hub's members offer something the other seeks, so "complement each
other"; one way only is grade 1, not relevant) and **one way** (A's gain alone, relevant at
one topic). recall@10 and nDCG@10 over the hubs that have a relevant partner, in the same run,
as seeded and with every other hub silent (no text of its own: the seed writes each hub's
seeks text from the very topics the truth is built from, so "own text" reads the answer):

- `reciprocal` — the system: own text blended with members' mean, reciprocal, words, kinds,
  SDGs, cross-country boost (the service's settings);
- `own text` — the hub's own text alone (no members), scored the same way;
- `members' mean, one way` — the mean of its members' vectors, A's seeks against B's offers
  only, no words, kinds or SDGs (the same cross-country boost).
- `members' mean, reciprocal` — an ablation between the last two.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnmatch.events import MemberCard, VectorKind
from nnmatch.profile import BulkProfileLine
from nnmatch_matching.embedding.embedder import Embedder, embed_documents
from nnmatch_matching.embedding.texts import member_texts
from nnmatch_matching.hubs.book import HubBook, OwnHub, contribution_of
from nnmatch_matching.hubs.scoring import HubScoring, HubSide, partners, side
from nnmatch_matching.hubs.texts import hub_texts
from nnmatch_tools.seed_hubs import SeededHub

K = 10
RELEVANT_GRADE = 2
SOUGHT_TOPICS = 3


def sought(members: Sequence[BulkProfileLine]) -> set[str]:
    """What a hub's members are interested in but do not work on: its top three."""
    own = {tag for m in members for tag in m.expertise}
    wanted = Counter(i for m in members for i in m.interests if i not in own)
    return {t for t, _ in sorted(wanted.items(), key=lambda kv: (-kv[1], kv[0]))[:SOUGHT_TOPICS]}


def offered(members: Sequence[BulkProfileLine]) -> set[str]:
    return {tag for m in members for tag in m.expertise}


@dataclass(frozen=True)
class Truth:
    both_ways: dict[str, dict[str, int]]
    one_way: dict[str, dict[str, int]]


def ground_truth(hubs: Sequence[SeededHub], members: Sequence[BulkProfileLine]) -> Truth:
    by_id = {m.member_id: m for m in members}
    people = {h.hub_id: [by_id[m] for m in h.members] for h in hubs}
    seeks = {h: sought(p) for h, p in people.items()}
    offers = {h: offered(p) for h, p in people.items()}
    both: dict[str, dict[str, int]] = {}
    one: dict[str, dict[str, int]] = {}
    for a in hubs:
        both[a.hub_id], one[a.hub_id] = {}, {}
        for b in hubs:
            if b.hub_id == a.hub_id or b.hub.country == a.hub.country:
                continue
            ab = len(seeks[a.hub_id] & offers[b.hub_id])
            ba = len(seeks[b.hub_id] & offers[a.hub_id])
            if ab and ba:
                both[a.hub_id][b.hub_id] = min(3, ab + ba)
            elif ab or ba:
                both[a.hub_id][b.hub_id] = 1
            if ab:
                one[a.hub_id][b.hub_id] = min(3, ab + 1)
    return Truth(both, one)


def recall_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = K) -> float:
    relevant = {h for h, g in grades.items() if g >= RELEVANT_GRADE}
    return len(relevant & set(ranked[:k])) / min(k, len(relevant)) if relevant else 0.0


def ndcg_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = K) -> float:
    gains = [2 ** grades.get(h, 0) - 1 for h in ranked[:k]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2**g - 1 for g in grades.values()), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return float(dcg / idcg) if idcg > 0 else 0.0


def build_book(
    hubs: Sequence[SeededHub], members: Sequence[BulkProfileLine], embedder: Embedder
) -> HubBook:
    """Hubs and members as the hubs role would hold them, embedded with the given model."""
    book = HubBook(embedder.model.dimensions)
    texts = [hub_texts(h.hub) for h in hubs]
    own = embed_documents(embedder, [t[kind] for t in texts for kind in VectorKind])
    width = len(VectorKind)
    for i, hub in enumerate(hubs):
        vectors = {kind: own[i * width + j] for j, kind in enumerate(VectorKind)}
        book.put_hub(hub.hub_id, OwnHub(1, hub.hub, vectors))
    in_hubs = [m for m in members if m.hubs]
    person = [member_texts(m) for m in in_hubs]
    made = embed_documents(embedder, [t[kind] for t in person for kind in VectorKind])
    for i, member in enumerate(in_hubs):
        vectors = {kind: made[i * width + j] for j, kind in enumerate(VectorKind)}
        book.put_member(member.member_id, contribution_of(MemberCard.from_profile(member), vectors))
    return book


def _sides(book: HubBook, own_text_weight: float, with_members: bool) -> dict[str, HubSide]:
    empty = HubBook(book.dimensions)
    source = book if with_members else empty
    return {
        hub_id: side(hub_id, own, source.aggregate(hub_id), own_text_weight)
        for hub_id, own in sorted(book.hubs.items())
    }


def silenced(book: HubBook, every: int = 2) -> HubBook:
    """The same book with every `every`-th hub (by id) saying nothing of its own: no focus,
    no offers or seeks text, zero own vectors ("a hub that says little"; its members stay)."""
    quiet = copy.copy(book)
    quiet.hubs = {}
    for i, (hub_id, own) in enumerate(sorted(book.hubs.items())):
        if i % every == 0:
            profile = own.profile.model_copy(
                update={
                    "focus": "",
                    "offers": own.profile.offers.model_copy(update={"text": ""}),
                    "seeks": own.profile.seeks.model_copy(update={"text": ""}),
                }
            )
            zero = {kind: np.zeros_like(v) for kind, v in own.vectors.items()}
            own = OwnHub(own.version, profile, zero)
        quiet.hubs[hub_id] = own
    return quiet


def methods(weights: HubScoring) -> dict[str, tuple[dict[str, float | bool], float, bool]]:
    """Name → (weights changed, own-text weight, whether members count)."""
    bare: dict[str, float | bool] = {"words_weight": 0.0, "kinds_weight": 0.0, "sdgs_weight": 0.0}
    return {
        "reciprocal": ({}, weights.own_text_weight, True),
        "own text": ({}, 1.0, False),
        "members' mean, one way": (bare | {"reciprocal": False}, 0.0, True),
        "members' mean, reciprocal": (bare, 0.0, True),
    }


def evaluate_hubs(
    book: HubBook, truth: Truth, weights: HubScoring
) -> dict[str, dict[str, dict[str, float]]]:
    """Per method, per judgement: mean recall@10 and nDCG@10, and how many hubs were judged."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (changes, own_weight, with_members) in methods(weights).items():
        scoring = weights.model_copy(update=changes)
        lists = partners(_sides(book, own_weight, with_members), scoring, top_n=K)
        ranked = {h: [p.hub_id for p in found] for h, found in lists.items()}
        results[name] = {}
        for judgement, grades in (("both ways", truth.both_ways), ("one way", truth.one_way)):
            judged = [h for h, g in grades.items() if any(v >= RELEVANT_GRADE for v in g.values())]
            results[name][judgement] = {
                "recall@10": _mean([recall_at_k(ranked[h], grades[h]) for h in judged]),
                "ndcg@10": _mean([ndcg_at_k(ranked[h], grades[h]) for h in judged]),
                "hubs": float(len(judged)),
            }
    return results


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0


def hubs_table(results: dict[str, dict[str, dict[str, float]]], scenario: str = "") -> str:
    lines = [
        "Hub ↔ hub partners (seeded truth: members' sought topics in another country's hub)"
        + (f", {scenario}" if scenario else ""),
        f"{'method':<28}{'both ways R@10':>16}{'nDCG@10':>10}{'one way R@10':>15}{'nDCG@10':>10}",
    ]
    for name, by in results.items():
        both, one = by["both ways"], by["one way"]
        lines.append(
            f"{name:<28}{both['recall@10']:>16.3f}{both['ndcg@10']:>10.3f}"
            f"{one['recall@10']:>15.3f}{one['ndcg@10']:>10.3f}"
        )
    judged = next(iter(results.values()))
    both_n, one_n = judged["both ways"]["hubs"], judged["one way"]["hubs"]
    lines.append(f"hubs judged: {both_n:.0f} both ways, {one_n:.0f} one way")
    return "\n".join(lines)
