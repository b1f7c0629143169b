"""Reasons as sentences a person can read: who each one is about, whose words it quotes, and
quotes cut at a word with an ellipsis.

Matching writes a reason as a `kind`, its `params` and a short `text` without a subject
("offers skills for hire, which you seek: Ready to join a team working on yield…", the quote cut
at a word by `clip_words`, and `params["quote"]` the same words). Pages and e-mails show them
through `reason_sentence`, which names the subject ("Kofi offers skills for hire, which you
seek."), sets a quoted text apart with its owner ("In Kofi's words: “Ready to join a team
working on…”"), and never shows a word cut in half. Pure: no I/O, the same sentence in the
web page and the e-mail.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pycountry

from nnmatch.events import Reason

QUOTE_CHARS = 120
"""The longest quote shown, before the ellipsis."""
MATCHER_QUOTE_CHARS = 90
"""Matching cuts quoted text at this many characters, wherever the cut falls: a quote this
long is taken as cut, and its last, possibly partial, word is dropped."""
ELLIPSIS = "…"

# Kinds whose text ends with ": <the other member's own words>".
_QUOTING_KINDS = frozenset({"offer_meets_seek", "offer_meets_query"})
_COUNTRY = re.compile(r"\bbased in ([A-Z]{2})\b")
_TRAILING = " ,;:-–—([{\"'“‘"


@functools.lru_cache(maxsize=4096)
def clip_words(text: str, limit: int = QUOTE_CHARS, *, cut: bool = False) -> str:
    """`text` whole if it fits (and `cut` is false), else its whole words up to `limit`
    characters followed by an ellipsis. `cut`: the text was already cut somewhere unknown,
    so its last word may be partial and is dropped. Cached: a member's offers are quoted in
    every list they are in, and splitting a long text was a tenth of a list's reasons."""
    text = " ".join(text.split())
    if len(text) <= limit and not cut:
        return text
    head = text[: limit + 1] if len(text) > limit else text
    # Up to the last space: the word the limit (or the earlier cut) fell in goes.
    kept = head.rsplit(" ", 1)[0] if " " in head else head[:limit]
    return kept.rstrip(_TRAILING) + ELLIPSIS


def listed(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c": several facts of one reason in a sentence."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ELLIPSIS)) else f"{text}."


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


@dataclass(frozen=True)
class _Parts:
    claim: str
    quote: str | None


def _split(kind: str, text: str) -> _Parts:
    if kind in _QUOTING_KINDS and ": " in text:
        claim, quote = text.split(": ", 1)
        if quote.strip():
            cut = len(quote) >= MATCHER_QUOTE_CHARS
            return _Parts(claim, clip_words(quote, QUOTE_CHARS, cut=cut))
    return _Parts(text, None)


def _with_subject(claim: str, name: str) -> str:
    """Who the claim is about: both of you, you, or the other member by name."""
    claim = _COUNTRY.sub(lambda m: f"based in {_country_name(m.group(1))}", claim.strip())
    lowered = claim.lower()
    if lowered.startswith("both in "):
        return f"you are {claim}"
    if lowered.startswith("both "):
        return f"you {claim}"
    if lowered.startswith("you "):
        return claim
    if lowered.startswith("connects across countries"):
        where = claim.split(": ", 1)[1] if ": " in claim else ""
        across = claim.split(":", 1)[0].removeprefix("connects ")
        return f"{name} is {where}: a connection {across}" if where else f"{name} {claim}"
    if lowered.startswith(("also based in", "based in", "in ")):
        return f"{name} is {claim}"
    if lowered.startswith("profile "):
        return f"{_possessive(name)} {claim}"
    return f"{name} {claim}"


def reason_sentence(reason: Reason | Mapping[str, Any], name: str) -> str:
    """One reason (the event's model, or its JSON from an API) as a sentence about `name`
    (the member suggested) and the reader ("you").

    A reason that carries its quote in `params` (written since reasons had params) is split
    there, exactly; an older one is split at its text's colon, its quote taken as cut."""
    if isinstance(reason, Reason):
        kind, text, params = reason.kind, reason.text, reason.params
    else:
        kind, text = str(reason.get("kind", "")), str(reason.get("text", ""))
        params = reason.get("params") or {}
    quote = params.get("quote") if isinstance(params, Mapping) else None
    if isinstance(quote, str) and quote and text.endswith(f": {quote}"):
        parts = _Parts(text.removesuffix(f": {quote}"), quote)
    else:
        parts = _split(kind, text)
    sentence = _sentence(_with_subject(parts.claim, name))
    if parts.quote:
        sentence += f" In {_possessive(name)} words: “{parts.quote}”"
    return sentence
