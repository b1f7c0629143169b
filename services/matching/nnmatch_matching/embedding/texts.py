"""Profile → the three texts we embed (who I am, what I offer, what I seek), chunks and hashes.

Pure: the same profile always gives the same texts and hashes, so unchanged text is never
embedded again and a vector can be traced to the words it came from.
"""

from __future__ import annotations

import hashlib
import re

from nnmatch.events import VectorKind
from nnmatch.profile import SDG_NAMES, Kind, MemberProfile

# How a kind reads on each side of the market ("offers mentoring" / "seeks a mentor").
OFFER_PHRASES: dict[Kind, str] = {
    Kind.MENTOR: "mentoring",
    Kind.MENTEE: "time and energy as a mentee",
    Kind.COLLABORATOR: "collaboration on projects",
    Kind.CO_FOUNDER: "co-founding a venture",
    Kind.INVESTOR: "investment and funding",
    Kind.SPEAKER: "talks and speaking",
    Kind.EMPLOYER: "jobs and internships",
    Kind.JOB_SEEKER: "skills for hire",
    Kind.VOLUNTEER: "volunteering",
    Kind.PARTNER: "institutional partnership",
}
SEEK_PHRASES: dict[Kind, str] = {
    Kind.MENTOR: "a mentor",
    Kind.MENTEE: "a mentee to guide",
    Kind.COLLABORATOR: "collaborators",
    Kind.CO_FOUNDER: "a co-founder",
    Kind.INVESTOR: "investors and funding",
    Kind.SPEAKER: "speakers",
    Kind.EMPLOYER: "an employer",
    Kind.JOB_SEEKER: "people to hire",
    Kind.VOLUNTEER: "volunteers",
    Kind.PARTNER: "partner organisations",
}

CHUNK_WORDS = 150
"""all-MiniLM-L6-v2 reads 256 word pieces; 150 words stay under that for ordinary prose."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _listed(label: str, items: list[str]) -> str:
    return f"{label}: {', '.join(items)}." if items else ""


def profile_text(profile: MemberProfile) -> str:
    """Who the member is: headline, bio, expertise, interests and the SDGs they work on."""
    sdgs = [SDG_NAMES[n] for n in profile.sdgs]
    return _join(
        f"{profile.headline}." if profile.headline else "",
        profile.bio,
        _listed("Expertise", profile.expertise),
        _listed("Interests", profile.interests),
        _listed("Works on", sdgs),
    )


def offers_text(profile: MemberProfile) -> str:
    """What the member offers: the kinds in words, their own text, and the expertise behind it."""
    if not profile.offers.kinds and not profile.offers.text:
        return ""
    kinds = [OFFER_PHRASES[k] for k in profile.offers.kinds]
    return _join(
        _listed("Offers", kinds), profile.offers.text, _listed("Expertise", profile.expertise)
    )


def seeks_text(profile: MemberProfile) -> str:
    """What the member seeks: the kinds in words, their own text, and their interests."""
    if not profile.seeks.kinds and not profile.seeks.text:
        return ""
    kinds = [SEEK_PHRASES[k] for k in profile.seeks.kinds]
    return _join(
        _listed("Seeks", kinds), profile.seeks.text, _listed("Interested in", profile.interests)
    )


def member_texts(profile: MemberProfile) -> dict[VectorKind, str]:
    return {
        VectorKind.PROFILE: profile_text(profile),
        VectorKind.OFFERS: offers_text(profile),
        VectorKind.SEEKS: seeks_text(profile),
    }


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_text(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Split long text at sentence ends into chunks of at most `max_words` words.

    The model would silently drop everything past its token limit; chunks are embedded
    separately and pooled instead. A single over-long sentence is cut at word boundaries.
    """
    words_total = len(text.split())
    if words_total <= max_words:
        return [text] if text.strip() else []
    chunks: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        while len(words) > max_words:
            if current:
                chunks.append(" ".join(current))
                current = []
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if len(current) + len(words) > max_words:
            chunks.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return chunks
