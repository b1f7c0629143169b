"""Text → analysed terms: the one analyser of every lexical signal (member fit, hub search).

scikit-learn's analyser (lower case, accents stripped, English stop words) plus a light suffix
stripper, so "mentoring" meets "mentor" and "models" meets "model". The embedder also counts
the words of a profile's whole text (`profile_terms`) and sends them with the vectors: the
matcher's lexical side reads the member's own words, bio included, while the bio itself stays
out of every event past the embedder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]

from nnmatch.events import MAX_PROFILE_TERMS, MAX_TERM
from nnmatch.profile import MemberProfile

_ANALYSE = CountVectorizer(
    lowercase=True, strip_accents="unicode", stop_words="english"
).build_analyzer()


def stem(term: str) -> str:
    """Strip the commonest English inflections; crude, but the same on both sides of a match."""
    if len(term) > 5 and term.endswith("ies"):
        return term[:-3] + "y"
    if len(term) > 6 and term.endswith("ing"):
        return term[:-3]
    if len(term) > 5 and term.endswith("ed"):
        return term[:-2]
    if len(term) > 3 and term.endswith("s") and not term.endswith(("ss", "us", "is")):
        return term[:-1]
    return term


def tokens(text: str) -> list[str]:
    """The text's words as the analyser keeps them (lower case, no stop words), unstemmed."""
    words: list[str] = _ANALYSE(text)
    return words


def terms(text: str) -> list[str]:
    """The analysed terms of a text, in order, repeats kept (term frequency counts them)."""
    return [stem(token) for token in _ANALYSE(text)]


def form_order(word: str) -> tuple[int, str]:
    """Which written form of a term is shown: the shortest, ties by the word. A function of
    the forms alone, never of the order they came in, so every replica shows the same."""
    return len(word), word


def own_forms(words: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Per term, the form shown of the (term, word) pairs' words (`form_order`)."""
    forms: dict[str, str] = {}
    for term, word in words:
        held = forms.get(term)
        if held is None or form_order(word) < form_order(held):
            forms[term] = word
    return forms


def displayed(text: str) -> dict[str, str]:
    """Each term of `text` and the word it is shown as (`own_forms`), to show a shared term
    as a person wrote it: "sensing", not "sens"."""
    return own_forms((stem(token), token) for token in _ANALYSE(text))


def whole_text(profile: MemberProfile) -> str:
    """Everything the member wrote: headline, bio, tags and their offers and seeks text.

    Not the kinds' stock phrases nor the SDG names: the kinds and SDG signals match those
    exactly, and stock phrases shared by everyone would only blur the words that differ."""
    return "\n".join(
        part
        for part in (
            profile.headline,
            profile.bio,
            ", ".join(profile.expertise),
            ", ".join(profile.interests),
            profile.offers.text,
            profile.seeks.text,
        )
        if part
    )


def profile_terms(profile: MemberProfile) -> dict[str, int]:
    """Each word of the whole profile (analysed, not yet stemmed: the matcher stems them and
    shows the words themselves in reasons) with its count, most frequent first."""
    counts = Counter(t for t in tokens(whole_text(profile)) if len(t) <= MAX_TERM)
    return dict(counts.most_common(MAX_PROFILE_TERMS))
