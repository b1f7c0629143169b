"""Reasons read as sentences: whose words, about whom, and never a word cut in half."""

from __future__ import annotations

import pytest

from nnmatch.events import Reason
from nnmatch.profile import Kind
from nnmatch.reasons import ELLIPSIS, MATCHER_QUOTE_CHARS, clip_words, reason_sentence
from nnmatch_matching.matcher.ranking import RankingWeights, ReasonsFrom, reasons_for
from tests.unit.builders import card

# What matching writes today: the other member's offer cut at 90 characters, mid-word.
OFFER = (
    "Ready to join a team working on yield forecasting for smallholder farms in East Africa, "
    "with field data"
)
ISSUE_TEXT = f"offers skills for hire, which you seek: {OFFER[:MATCHER_QUOTE_CHARS]}"


def test_an_offer_reason_says_whose_words_and_ends_at_a_whole_word() -> None:
    reason = Reason(kind="offer_meets_seek", text=ISSUE_TEXT)

    sentence = reason_sentence(reason, "Kofi")

    assert sentence.startswith("Kofi offers skills for hire, which you seek. In Kofi's words: “")
    quoted = sentence.split("“", 1)[1].removesuffix("”")
    assert quoted.endswith(ELLIPSIS)
    shown = quoted.removesuffix(ELLIPSIS)
    assert OFFER.startswith(shown)
    assert not OFFER[len(shown)].isalnum()  # cut where a word ended
    assert len(shown) < MATCHER_QUOTE_CHARS


def test_a_short_quote_is_shown_whole() -> None:
    reason = Reason(kind="offer_meets_seek", text="offers mentoring, which you seek: Field data.")

    assert reason_sentence(reason, "Kofi") == (
        "Kofi offers mentoring, which you seek. In Kofi's words: “Field data.”"
    )


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (
            "seek_meets_offer",
            "seeks mentoring, which you offer",
            "Amina seeks mentoring, which you offer.",
        ),
        ("shared_topic", "both work on agritech", "You both work on agritech."),
        ("shared_sdg", "both work on SDG 2 (Zero hunger)", "You both work on SDG 2 (Zero hunger)."),
        ("shared_hub", "both in the yail-nairobi hub", "You are both in the yail-nairobi hub."),
        ("same_country", "also based in KE", "Amina is also based in Kenya."),
        (
            "cross_region",
            "connects across countries and hubs: based in GH",
            "Amina is based in Ghana: a connection across countries and hubs.",
        ),
        ("shared_language", "both speak Swahili", "You both speak Swahili."),
        ("shared_words", "you both write about cassava", "You both write about cassava."),
        ("topic_meets_query", "works on remote sensing", "Amina works on remote sensing."),
        (
            "close_in_meaning",
            "profile close in meaning to your search (similarity 0.61)",
            "Amina's profile close in meaning to your search (similarity 0.61).",
        ),
        ("location", "based in XK", "Amina is based in XK."),
        ("hub", "in your hub (yail-nairobi)", "Amina is in your hub (yail-nairobi)."),
        ("language", "speaks French", "Amina speaks French."),
    ],
)
def test_each_kind_names_its_subject(kind: str, text: str, expected: str) -> None:
    assert reason_sentence(Reason(kind=kind, text=text), "Amina") == expected


def test_a_search_reason_quotes_the_member_by_name() -> None:
    reason = Reason(
        kind="offer_meets_query",
        text="offers mentoring matching your search: Mentoring on vision models",
    )

    assert reason_sentence(reason, "Jonas") == (
        "Jonas offers mentoring matching your search. In Jonas' words: “Mentoring on vision models”"
    )


def test_clip_words_keeps_short_text_and_cuts_long_text_after_a_whole_word() -> None:
    assert clip_words("  field   data ", 20) == "field data"
    assert (
        clip_words("remote sensing for drought early warning", 20)
        == "remote sensing for" + ELLIPSIS
    )
    assert clip_words("remote sensing, drought", 16) == "remote sensing" + ELLIPSIS
    assert clip_words("remote sensing", 14, cut=True) == "remote" + ELLIPSIS
    assert clip_words("supercalifragilistic", 5) == "super" + ELLIPSIS


def test_a_reason_from_an_api_answer_reads_the_same_as_the_model() -> None:
    reason = Reason(kind="shared_sdg", text="both work on SDG 13 (Climate action)")

    assert reason_sentence(reason.model_dump(), "Kofi") == reason_sentence(reason, "Kofi")


def test_the_matcher_stores_each_reason_as_a_kind_and_its_params() -> None:
    """Pages and e-mails can render (and later translate) a reason from its params alone."""
    long_offer = OFFER + " and a wish to learn: soil sensors, satellites and more. " * 3
    me = ReasonsFrom.of(card("Amina", seeks=(Kind.MENTOR,), sdgs=[2, 13], languages=("en", "sw")))
    kofi = card(
        "Kofi",
        offers=(Kind.MENTOR,),
        offers_text=long_offer,
        sdgs=[13],
        languages=("en", "sw"),
        country="GH",
    )

    reasons = {r.kind: r for r in reasons_for(me, kofi, RankingWeights())}

    offer = reasons["offer_meets_seek"]
    assert offer.params["kinds"] == [Kind.MENTOR.value]
    assert offer.params["quote_of"] == "them"
    quote = offer.params["quote"]
    assert isinstance(quote, str)
    assert quote.endswith(ELLIPSIS)
    shown = quote.removesuffix(ELLIPSIS)
    assert long_offer.startswith(shown)
    assert not long_offer[len(shown)].isalnum()
    assert offer.text.endswith(f": {quote}")
    assert reasons["shared_sdg"].params == {"sdgs": [13]}
    assert reasons["shared_language"].params == {"language": "sw"}


def test_a_quote_from_params_is_split_exactly_even_when_it_holds_a_colon() -> None:
    quote = "Field data: soil, rain and yields"
    reason = Reason(
        kind="offer_meets_seek",
        text=f"offers mentoring, which you seek: {quote}",
        params={"kinds": ["mentoring"], "quote": quote, "quote_of": "them"},
    )

    assert reason_sentence(reason, "Kofi") == (
        f"Kofi offers mentoring, which you seek. In Kofi's words: “{quote}”"
    )
    assert reason_sentence(reason.model_dump(mode="json"), "Kofi") == reason_sentence(
        reason, "Kofi"
    )
