"""The BM25 lexical index: add, replace, remove, score, and compaction that changes no answer."""

from __future__ import annotations

import numpy as np

from nnmatch_matching.embedding.words import stem, terms
from nnmatch_matching.matcher.lexical import LexicalIndex, apply_changes

DOCS = {
    "cv-mentor": "Mentoring on computer vision models for crop disease detection",
    "field-data": "Labelled field data on cassava disease from farmer cooperatives",
    "fintech": "Seed investment for fintech startups in mobile money",
    "nlp": "Research collaboration on NLP for crisis message classification",
}


def _index(compact_min: int = 256) -> LexicalIndex:
    index = LexicalIndex(compact_min=compact_min)
    for member_id, text in DOCS.items():
        index.upsert(member_id, text)
    return index


def test_terms_drop_stop_words_and_accents_and_strip_inflections() -> None:
    assert terms("The Mentors are mentoring in Bogotá") == ["mentor", "mentor", "bogota"]
    assert stem("models") == stem("model") == "model"
    assert stem("business") == "business"


def test_a_query_finds_the_documents_sharing_its_words_best_first() -> None:
    index = _index()

    hits = index.top("computer vision mentor for cassava disease", 10)

    assert [m for m, _ in hits] == ["cv-mentor", "field-data"]
    assert hits[0][1] > hits[1][1] > 0
    assert index.top("quantum chromodynamics", 10) == []


def test_rarer_words_weigh_more() -> None:
    index = _index()
    scores = index.scores("disease fintech")

    # "fintech" is in one document, "disease" in two: the fintech document scores highest.
    best = int(np.argmax(scores))
    assert index.member_at(best) == "fintech"


def test_replacing_a_document_changes_what_it_matches() -> None:
    index = _index()
    index.upsert("fintech", "Mentoring on computer vision for drones")

    assert "fintech" not in [m for m, _ in index.top("mobile money", 10)]
    assert "fintech" in [m for m, _ in index.top("computer vision", 10)]
    assert len(index) == 4


def test_a_removed_member_never_comes_back_and_its_row_is_reused() -> None:
    index = _index()
    row = index.remove("cv-mentor")

    assert "cv-mentor" not in index
    assert [m for m, _ in index.top("computer vision mentor", 10)] == []
    assert index.remove("cv-mentor") is None
    assert index.upsert("new", "Mentoring on computer vision") == row
    assert [m for m, _ in index.top("computer vision", 10)] == ["new"]


def test_removed_words_lower_document_frequency_so_idf_rises() -> None:
    index = _index()
    ids, before = index.query_weights("disease")
    index.remove("field-data")
    _, after = index.query_weights("disease")

    assert len(ids) == 1
    assert after[0] > before[0]


def test_compaction_gives_the_same_scores_as_the_delta() -> None:
    delta_only = _index(compact_min=10_000)
    compacted = _index(compact_min=10_000)
    compacted.compact()

    for query in ("computer vision disease", "seed investment", "crisis NLP mentoring"):
        np.testing.assert_allclose(delta_only.scores(query), compacted.scores(query))
    assert compacted.compactions == 1


def test_changes_after_a_compaction_mask_the_old_rows() -> None:
    index = _index(compact_min=10_000)
    index.compact()
    index.upsert("cv-mentor", "Grant writing for ocean conservation")
    index.remove("field-data")

    assert index.top("cassava disease", 10) == []
    assert [m for m, _ in index.top("ocean", 10)] == ["cv-mentor"]
    assert [m for m, _ in index.top("crisis", 10)] == ["nlp"]


def test_the_delta_is_compacted_once_it_outgrows_its_share() -> None:
    index = LexicalIndex(compact_ratio=0.1, compact_min=5)
    apply_changes(index, [(f"m{i}", terms(f"topic{i} shared words")) for i in range(20)], [])

    assert index.compactions == 1
    apply_changes(index, [("m1", terms("something else"))], ["m2"])
    assert index.compactions == 1  # a small delta waits for the next compaction
    assert [m for m, _ in index.top("topic1", 5)] == []
    assert [m for m, _ in index.top("topic3", 5)] == ["m3"]
    assert len(index.top("shared", 100)) == 18


def test_only_allowed_rows_are_returned() -> None:
    index = _index()
    allowed = np.zeros(index.capacity, dtype=bool)
    row = index.row("field-data")
    assert row is not None
    allowed[row] = True

    assert [m for m, _ in index.top("disease", 10, allowed)] == ["field-data"]


def test_document_cosines_are_symmetric_and_one_for_a_document_with_itself() -> None:
    index = _index()
    rows = [index.row(m) or 0 for m in DOCS]

    cosines = index.cosines(rows)[:, rows]

    np.testing.assert_allclose(cosines, cosines.T)
    np.testing.assert_allclose(np.diag(cosines), 1.0)
    cv, field = rows[0], rows[1]
    assert 0 < cosines[cv, field] < 1  # they share "disease"
    assert cosines[cv, rows[2]] == 0  # nothing in common with fintech


def test_document_cosines_are_the_same_after_compaction_and_zero_for_removed_rows() -> None:
    delta_only = _index(compact_min=10_000)
    compacted = _index(compact_min=10_000)
    compacted.compact()
    rows = [delta_only.row(m) or 0 for m in DOCS]

    np.testing.assert_allclose(delta_only.cosines(rows), compacted.cosines(rows))
    removed = compacted.remove("field-data")
    assert removed is not None
    assert not compacted.cosines([rows[0]])[:, removed].any()
