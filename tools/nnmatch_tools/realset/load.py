"""The real evaluation set (`data/realset/`, built by `build.py`): its people as member profiles.

Each person is loaded the way a research community importing itself through the bulk API would
be: the bio is their papers (title and abstract), newest first, cut at the bio limit; the
headline is their newest title. Two profile styles:

- `papers`: offers and seeks say "collaborator", with their paper titles as the text (the
  shape of an import that fills every field);
- `bio`: offers and seeks say "collaborator" and nothing else — a member who wrote only a bio,
  as many real members do. Matching must still find their people by their own words.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nnmatch.profile import MAX_BIO, MAX_HEADLINE, MAX_OFFER_SEEK_TEXT, BulkProfileLine, Kind

DATA = Path(__file__).resolve().parent.parent / "data" / "realset"
COUNTRY = "CH"
"""The set records no countries: everyone gets one, so no pair gets a cross-region boost and
the country diversity rule lowers every candidate alike (it changes no order)."""


class ProfileStyle(StrEnum):
    PAPERS = "papers"
    BIO = "bio"


@dataclass(frozen=True)
class Paper:
    year: int
    title: str
    abstract: str


@dataclass(frozen=True)
class Person:
    person_id: str
    papers: tuple[Paper, ...]  # newest first


@dataclass(frozen=True)
class RealSet:
    """People (profile data from before `split_year`) and who each query person went on to
    work with (truth, from `split_year` on), split into a tuning and a reporting part."""

    people: tuple[Person, ...]
    truth: dict[str, frozenset[str]]
    known: dict[str, frozenset[str]]  # co-authors before the split: not suggestions to judge
    tune: tuple[str, ...]
    report: tuple[str, ...]
    split_year: int
    source: str

    def part(self, name: str) -> tuple[str, ...]:
        """The query ids of `tune`, `report` or `all`."""
        if name == "tune":
            return self.tune
        if name == "report":
            return self.report
        if name == "all":
            return tuple(sorted((*self.tune, *self.report)))
        raise ValueError(f"unknown part {name!r}: tune, report or all")

    def sample(self, size: int) -> RealSet:
        """The first `size` people by id plus every query's truth among them (for quick runs)."""
        if size >= len(self.people):
            return self
        people = self.people[:size]
        kept = {p.person_id for p in people}
        truth = {q: t & kept for q, t in self.truth.items() if q in kept and t & kept}
        return RealSet(
            people=people,
            truth=truth,
            known={q: k & kept for q, k in self.known.items() if q in truth},
            tune=tuple(q for q in self.tune if q in truth),
            report=tuple(q for q in self.report if q in truth),
            split_year=self.split_year,
            source=self.source,
        )


def load(directory: Path = DATA) -> RealSet:
    """Read `people.jsonl.gz` and `truth.json` from `directory`."""
    people_file, truth_file = directory / "people.jsonl.gz", directory / "truth.json"
    for file in (people_file, truth_file):
        if not file.exists():
            raise FileNotFoundError(
                f"{file} is missing: rebuild it with `python -m nnmatch_tools.realset.build` "
                "(see data/realset/SOURCE.md)"
            )
    people = []
    with gzip.open(people_file, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            papers = tuple(
                Paper(int(p["year"]), str(p["title"]), str(p.get("abstract") or ""))
                for p in row["papers"]
            )
            people.append(Person(str(row["id"]), papers))
    spec = json.loads(truth_file.read_text(encoding="utf-8"))
    truth = {q: frozenset(ids) for q, ids in spec["queries"].items()}
    known = {q: frozenset(ids) for q, ids in spec.get("coauthored_before", {}).items()}
    return RealSet(
        people=tuple(sorted(people, key=lambda p: p.person_id)),
        truth=truth,
        known=known,
        tune=tuple(sorted(spec["tune"])),
        report=tuple(sorted(spec["report"])),
        split_year=int(spec["split_year"]),
        source=str(spec.get("source", "ACL Anthology")),
    )


def cut_at_word(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0]


def bio_of(person: Person) -> str:
    """The person's papers, newest first, each 'Title. Abstract', within the bio limit."""
    parts = [" ".join(f"{p.title.rstrip('.')}. {p.abstract}".split()) for p in person.papers]
    return cut_at_word("\n\n".join(parts), MAX_BIO)


def profile_of(person: Person, style: ProfileStyle = ProfileStyle.PAPERS) -> BulkProfileLine:
    """The member profile a bulk import of this person would send."""
    titles = "; ".join(p.title.rstrip(".") for p in person.papers)
    text = cut_at_word(titles, MAX_OFFER_SEEK_TEXT) if style is ProfileStyle.PAPERS else ""
    intent = {"kinds": [Kind.COLLABORATOR], "text": text}
    newest = person.papers[0].title if person.papers else ""
    return BulkProfileLine.model_validate(
        {
            "member_id": person.person_id,
            "display_name": f"Researcher {person.person_id}",
            "headline": cut_at_word(newest, MAX_HEADLINE),
            "bio": bio_of(person),
            "offers": intent,
            "seeks": intent,
            "country": COUNTRY,
            "languages": ["en"],
        }
    )
