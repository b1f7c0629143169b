"""Build the real evaluation set (people and new co-authors) from ACL Anthology metadata.

Reads `data/xml/*.xml` from a checkout or a bare git mirror of acl-org/acl-anthology and
writes `people.jsonl.gz` (pseudonymous profiles: recent titles and abstracts) and
`truth.json` (for each query person, the people they first co-authored with in the truth
years). Run: `python -m nnmatch_tools.realset.build --source <dir-or-git-dir> --out <dir>`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Venue families kept: ACL-sponsored conferences and journals (see SOURCE.md for why).
# Old-style files are named by a letter and a two-digit year (P18.xml), new-style ones by
# year and venue (2020.acl.xml).
OLD_STYLE = {
    "P": "acl",
    "D": "emnlp",
    "N": "naacl",
    "E": "eacl",
    "K": "conll",
    "Q": "tacl",
    "C": "coling",
}
NEW_STYLE = frozenset(
    {"acl", "emnlp", "naacl", "eacl", "aacl", "conll", "tacl", "findings", "coling"}
)
# In old-style files, volumes numbered from 10 up are co-located workshops (D19-50...).
OLD_STYLE_MAX_VOLUME = 9
OLD_NAME = re.compile(r"^(?P<letter>[A-Z])(?P<yy>\d\d)\.xml$")
NEW_NAME = re.compile(r"^(?P<year>\d{4})\.(?P<venue>[a-z0-9]+)\.xml$")
TUNE_PERCENT = 40


@dataclass(frozen=True)
class Paper:
    """One paper: its year, text and canonical author ids."""

    year: int
    title: str
    abstract: str
    authors: tuple[str, ...]


@dataclass
class Options:
    """What to build: the split year and how much text to keep."""

    split_year: int = 2020
    profile_years: int = 4
    history_years: int = 10
    truth_years: int = 3
    min_papers: int = 2
    max_papers: int = 6
    max_chars: int = 450
    # Papers with more authors than this are not evidence of a collaboration (truth only).
    max_truth_authors: int = 20


@dataclass
class RealSet:
    """The built set: profiles by pseudonymous id, the queries' truth and what they knew."""

    split_year: int
    profile_years: tuple[int, int]
    truth_years: tuple[int, int]
    people: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    queries: dict[str, list[str]] = field(default_factory=dict)
    coauthored_before: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tune(self) -> list[str]:
        """The queries for tuning (about 40%)."""
        return [q for q in self.queries if is_tune(q)]

    @property
    def report(self) -> list[str]:
        """The queries to report on (the rest)."""
        return [q for q in self.queries if not is_tune(q)]

    def truth(self) -> dict[str, object]:
        """truth.json's document."""
        return {
            "split_year": self.split_year,
            "profile_years": list(self.profile_years),
            "truth_years": list(self.truth_years),
            "queries": self.queries,
            "tune": self.tune,
            "report": self.report,
            "coauthored_before": self.coauthored_before,
        }


def file_year_venue(name: str) -> tuple[int, str] | None:
    """The (year, venue) a data/xml file name stands for, or None if not a kept venue."""
    old = OLD_NAME.match(name)
    if old and old["letter"] in OLD_STYLE:
        yy = int(old["yy"])
        return (2000 + yy if yy < 50 else 1900 + yy), OLD_STYLE[old["letter"]]
    new = NEW_NAME.match(name)
    if new and new["venue"] in NEW_STYLE:
        return int(new["year"]), new["venue"]
    return None


def slug(text: str) -> str:
    """Lower-case ASCII words joined by '-', like the Anthology's person ids."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def author_key(author: ET.Element) -> str:
    """The canonical author id: the `id` attribute, else the slug of 'first last'."""
    explicit = author.get("id")
    if explicit:
        return explicit
    return slug(f"{_text(author.find('first'))} {_text(author.find('last'))}")


def pseudonym(key: str) -> str:
    """The stable pseudonymous id of a canonical author id."""
    return "acl-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def parse_papers(xml: bytes, volumes: frozenset[str] | None = None) -> Iterator[Paper]:
    """The papers with authors in one data/xml file, in the given volumes (None: all)."""
    root = ET.fromstring(xml)  # noqa: S314 - trusted, version-pinned public metadata
    for volume in root.iter("volume"):
        if volumes is not None and volume.get("id", "") not in volumes:
            continue
        year_text = _text(volume.find("meta/year"))
        if not year_text.isdigit():
            continue
        for paper in volume.iter("paper"):
            authors = tuple(a for a in dict.fromkeys(map(author_key, paper.findall("author"))) if a)
            if not authors:
                continue
            yield Paper(
                int(year_text),
                _text(paper.find("title")),
                _text(paper.find("abstract")),
                authors,
            )


def colocated(xml: bytes) -> list[str]:
    """Full ids of the volumes an event file lists as co-located (e.g. 2020.wmt-1, W19-32)."""
    root = ET.fromstring(xml)  # noqa: S314 - trusted, version-pinned public metadata
    return [_text(v) for v in root.iter("volume-id")]


def main_volumes(name: str, volumes: list[str], workshops: bool) -> frozenset[str]:
    """The volumes of a kept venue file to read: old-style numbers from 10 up are workshops."""
    if not OLD_NAME.match(name):
        return frozenset(volumes)
    return frozenset(
        v for v in volumes if workshops or (v.isdigit() and int(v) <= OLD_STYLE_MAX_VOLUME)
    )


class Source:
    """The data/xml files of a checkout, or of one commit of a (bare) git directory."""

    def __init__(self, path: Path, rev: str) -> None:
        self.path, self.rev = path, rev
        self.xml_dir = path / "data" / "xml"
        self.git = ["git", f"--git-dir={path}"]

    def names(self) -> list[str]:
        """Every file name in data/xml."""
        if self.xml_dir.is_dir():
            return sorted(p.name for p in self.xml_dir.glob("*.xml"))
        listing = subprocess.run(
            [*self.git, "ls-tree", "--name-only", f"{self.rev}:data/xml"],
            check=True,
            capture_output=True,
            text=True,
        )
        return sorted(listing.stdout.split())

    def read(self, name: str) -> bytes | None:
        """A file's bytes, or None (with a note) when the source lacks it."""
        if self.xml_dir.is_dir():
            return (self.xml_dir / name).read_bytes()
        shown = subprocess.run(
            [*self.git, "show", f"{self.rev}:data/xml/{name}"], capture_output=True, check=False
        )
        if shown.returncode != 0:
            print(f"  skipped {name}: not readable ({shown.stderr.decode().strip()})", flush=True)
            return None
        return shown.stdout


def _volume_ids(xml: bytes) -> list[str]:
    root = ET.fromstring(xml)  # noqa: S314 - trusted, version-pinned public metadata
    return [v.get("id", "") for v in root.iter("volume")]


def load_papers(source: Source, years: range, workshops: bool) -> list[Paper]:
    """Every paper of the kept venues in the years (and their workshops), printing progress."""
    names = source.names()
    papers: list[Paper] = []
    extra: dict[str, set[str]] = defaultdict(set)
    for name in names:
        found = file_year_venue(name)
        old_workshop = bool(re.fullmatch(r"W\d\d\.xml", name)) and workshops
        if not found and not old_workshop:
            continue
        year = found[0] if found else 2000 + int(name[1:3])
        if year not in years:
            continue
        xml = source.read(name)
        if xml is None:
            continue
        if workshops:
            for full in colocated(xml):
                collection, _, volume = full.rpartition("-")
                extra[collection].add(volume)
        wanted = main_volumes(name, _volume_ids(xml), workshops or old_workshop)
        before = len(papers)
        papers.extend(parse_papers(xml, wanted))
        print(f"  {name}: {len(papers) - before} papers", flush=True)
    done = {n.removesuffix(".xml") for n in names if file_year_venue(n)}
    for collection in sorted(set(extra) - done):
        if f"{collection}.xml" not in names or re.fullmatch(r"W\d\d", collection):
            continue
        xml = source.read(f"{collection}.xml")
        if xml is None:
            continue
        before = len(papers)
        papers.extend(p for p in parse_papers(xml, frozenset(extra[collection])) if p.year in years)
        print(f"  {collection}.xml (co-located): {len(papers) - before} papers", flush=True)
    return papers


def trim(title: str, abstract: str, max_chars: int) -> tuple[str, str]:
    """Title and abstract cut (at a word) so that together they fit in max_chars."""
    title = title[:max_chars]
    room = max_chars - len(title)
    if len(abstract) > room:
        cut = abstract[:room]
        abstract = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return title, abstract


def is_tune(person_id: str) -> bool:
    """Whether a query is in the tuning part (deterministic, by hash of the id)."""
    digest = hashlib.sha256(("split:" + person_id).encode()).hexdigest()
    return int(digest[:8], 16) % 100 < TUNE_PERCENT


def build(papers: Iterable[Paper], options: Options) -> RealSet:
    """Profiles from the years before the split, truth from the years after it."""
    y = options.split_year
    profile_from = y - options.profile_years
    truth_to = y + options.truth_years - 1
    profile: dict[str, list[Paper]] = defaultdict(list)
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    for paper in papers:
        if paper.year < y:
            for a in paper.authors:
                before[a].update(b for b in paper.authors if b != a)
                if paper.year >= profile_from:
                    profile[a].append(paper)
        elif paper.year <= truth_to and len(paper.authors) <= options.max_truth_authors:
            for a in paper.authors:
                after[a].update(b for b in paper.authors if b != a)
    people: dict[str, list[dict[str, object]]] = {}
    for key, own in profile.items():
        if len(own) < options.min_papers or not any(p.abstract for p in own):
            continue
        newest = sorted(own, key=lambda p: (-p.year, p.title))[: options.max_papers]
        entries: list[dict[str, object]] = []
        for p in newest:
            title, abstract = trim(p.title, p.abstract, options.max_chars)
            entries.append({"year": p.year, "title": title, "abstract": abstract})
        people[key] = entries
    queries: dict[str, list[str]] = {}
    known: dict[str, list[str]] = {}
    for key in people:
        new = {b for b in after.get(key, set()) - before[key] if b in people}
        if new:
            queries[pseudonym(key)] = sorted(pseudonym(b) for b in new)
            known[pseudonym(key)] = sorted(pseudonym(b) for b in before[key] if b in people)
    ids = sorted(queries)
    by_id = {pseudonym(k): v for k, v in people.items()}
    if len(by_id) != len(people):
        raise ValueError("pseudonym collision: two author ids share an id")
    return RealSet(
        split_year=y,
        profile_years=(profile_from, y - 1),
        truth_years=(y, truth_to),
        people={k: by_id[k] for k in sorted(by_id)},
        queries={q: queries[q] for q in ids},
        coauthored_before={q: known[q] for q in ids},
    )


def people_gz(people: dict[str, list[dict[str, object]]]) -> bytes:
    """people.jsonl.gz's bytes: one person a line, sorted by id, gzip mtime 0."""
    lines = "".join(
        json.dumps({"id": pid, "papers": papers}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for pid, papers in people.items()
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as out:
        out.write(lines.encode("utf-8"))
    return buffer.getvalue()


def write(realset: RealSet, out: Path) -> None:
    """Write people.jsonl.gz and truth.json into out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "people.jsonl.gz").write_bytes(people_gz(realset.people))
    (out / "truth.json").write_text(
        json.dumps(realset.truth(), separators=(",", ":")) + "\n", encoding="utf-8"
    )


def summary(realset: RealSet) -> dict[str, float]:
    """The counts SOURCE.md reports."""
    queries = realset.queries
    chars = [
        sum(len(str(p["title"])) + len(str(p["abstract"])) for p in papers)
        for papers in realset.people.values()
    ]
    n_papers = [len(papers) for papers in realset.people.values()]
    return {
        "people": len(realset.people),
        "queries": len(queries),
        "tune": len(realset.tune),
        "report": len(realset.report),
        "mean_truth": sum(map(len, queries.values())) / max(1, len(queries)),
        "mean_papers": sum(n_papers) / max(1, len(n_papers)),
        "mean_chars": sum(chars) / max(1, len(chars)),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: build the set from a source checkout or git dir into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--rev", default="HEAD", help="commit to read from a git dir")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split-year", type=int, default=Options.split_year)
    parser.add_argument("--profile-years", type=int, default=Options.profile_years)
    parser.add_argument("--max-papers", type=int, default=Options.max_papers)
    parser.add_argument("--max-chars", type=int, default=Options.max_chars)
    parser.add_argument("--no-workshops", action="store_true", help="main venues only")
    args = parser.parse_args(argv)
    options = Options(
        split_year=args.split_year,
        profile_years=args.profile_years,
        max_papers=args.max_papers,
        max_chars=args.max_chars,
    )
    y = options.split_year
    years = range(y - options.history_years, y + options.truth_years)
    print(f"reading {args.source} ({args.rev}) for {years.start}..{years.stop - 1}", flush=True)
    papers = load_papers(Source(args.source, args.rev), years, not args.no_workshops)
    print(f"{len(papers)} papers; building split {y}", flush=True)
    realset = build(papers, options)
    write(realset, args.out)
    for name, value in summary(realset).items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
