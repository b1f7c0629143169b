"""Profile → the texts we embed, their hashes, and chunks short enough for the model."""

from __future__ import annotations

import hashlib

import pytest

from nnmatch.events import VectorKind
from nnmatch_matching.embedding.texts import (
    CHUNK_WORDS,
    chunk_text,
    member_texts,
    offers_text,
    profile_text,
    seeks_text,
    text_hash,
)
from tests.unit.builders import amina


def test_profile_text_has_headline_bio_expertise_interests_and_sdg_names() -> None:
    text = profile_text(amina())

    assert text.startswith("Computer vision for crop disease. I build computer vision models")
    assert "Expertise: computer vision, agritech." in text
    assert "Interests: food security, remote sensing." in text
    assert "Works on: Zero hunger, Climate action." in text
    assert "Mentoring on deploying" not in text


def test_profile_text_leaves_out_empty_parts() -> None:
    text = profile_text(amina(headline="", bio="", interests=[], sdgs=[]))

    assert text == "Expertise: computer vision, agritech."


def test_offers_text_has_the_kind_phrases_the_text_and_the_expertise() -> None:
    text = offers_text(amina(offers={"kinds": ["mentor", "speaker"], "text": "Field deployment"}))

    assert text == (
        "Offers: mentoring, talks and speaking. Field deployment "
        "Expertise: computer vision, agritech."
    )


def test_seeks_text_has_the_kind_phrases_the_text_and_the_interests() -> None:
    text = seeks_text(amina())

    assert text == (
        "Seeks: collaborators. Partners with field data on cassava disease "
        "Interested in: food security, remote sensing."
    )


def test_nothing_offered_gives_an_empty_offers_text() -> None:
    assert offers_text(amina(offers={"kinds": [], "text": ""})) == ""


def test_nothing_sought_gives_an_empty_seeks_text() -> None:
    assert seeks_text(amina(seeks={"kinds": [], "text": "   "})) == ""


def test_member_texts_are_the_three_texts_by_kind() -> None:
    profile = amina()

    assert member_texts(profile) == {
        VectorKind.PROFILE: profile_text(profile),
        VectorKind.OFFERS: offers_text(profile),
        VectorKind.SEEKS: seeks_text(profile),
    }


def test_text_hash_is_the_stable_sha256_of_the_utf8_text() -> None:
    text = "Mentoring on deploying vision models in the field — Nairobi"

    assert text_hash(text) == text_hash(text)
    assert text_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert text_hash(text) != text_hash(text + ".")


def test_decomposed_and_composed_spellings_give_the_same_text_hash() -> None:
    composed = amina(headline="Caf\u00e9 owner")
    decomposed = amina(headline="Cafe\u0301 owner")

    assert text_hash(profile_text(composed)) == text_hash(profile_text(decomposed))


def _sentences(count_words: int) -> str:
    """`count_words` distinct words in sentences of 3 to 21 words."""
    sentences: list[str] = []
    n = 0
    length = 3
    while n < count_words:
        size = min(length, count_words - n)
        sentences.append(" ".join(f"w{i}" for i in range(n, n + size)) + ".")
        n += size
        length = 3 + (length * 7) % 19
    return " ".join(sentences)


def test_short_text_is_one_chunk() -> None:
    text = "A short bio. Two sentences."

    assert chunk_text(text) == [text]


def test_text_of_exactly_max_words_is_one_chunk() -> None:
    text = " ".join(["word"] * CHUNK_WORDS)

    assert chunk_text(text) == [text]


def test_long_text_splits_into_chunks_of_at_most_max_words_losing_no_word() -> None:
    text = _sentences(1_000)

    chunks = chunk_text(text, max_words=150)

    assert len(chunks) >= 1_000 // 150 + 1
    assert all(0 < len(chunk.split()) <= 150 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_long_text_is_split_at_sentence_ends() -> None:
    chunks = chunk_text(_sentences(1_000), max_words=150)

    assert all(chunk.endswith(".") for chunk in chunks)


def test_paragraphs_split_at_newlines_keep_every_word() -> None:
    text = "\n\n".join(_sentences(60) for _ in range(5))

    chunks = chunk_text(text, max_words=50)

    assert all(len(chunk.split()) <= 50 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_one_huge_sentence_without_punctuation_is_cut_at_word_boundaries() -> None:
    words = [f"word{i}" for i in range(400)]

    chunks = chunk_text(" ".join(words), max_words=150)

    assert [chunk.split() for chunk in chunks] == [words[:150], words[150:300], words[300:]]


def test_huge_sentence_after_a_short_one_keeps_order_and_words() -> None:
    text = "Short opener here. " + " ".join(f"w{i}" for i in range(320))

    chunks = chunk_text(text, max_words=100)

    assert chunks[0] == "Short opener here."
    assert all(len(chunk.split()) <= 100 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_text_has_no_chunks(text: str) -> None:
    assert chunk_text(text) == []
