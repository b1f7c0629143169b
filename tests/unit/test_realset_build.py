"""The real-set builder on a tiny Anthology-style sample: split by year, new co-authors only."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from nnmatch_tools.realset.build import (
    Options,
    Paper,
    Source,
    build,
    file_year_venue,
    is_tune,
    load_papers,
    parse_papers,
    people_gz,
    pseudonym,
    trim,
    write,
)

SAMPLE = """<?xml version='1.0' encoding='UTF-8'?>
<collection id="{cid}">
{volumes}
</collection>
"""
VOLUME = """  <volume id="{vid}">
    <meta><booktitle>Proceedings</booktitle><year>{year}</year></meta>
{papers}
  </volume>"""


def _paper(title: str, authors: list[str], abstract: str = "") -> str:
    people = "".join(
        f"<author><first>{a.split()[0]}</first><last>{a.split()[1]}</last></author>"
        for a in authors
    )
    text = f"<abstract>{abstract}</abstract>" if abstract else ""
    return f"    <paper id='1'><title>{title}</title>{people}{text}</paper>"


def _xml(cid: str, volumes: dict[str, tuple[int, list[str]]]) -> bytes:
    body = "\n".join(
        VOLUME.format(vid=vid, year=year, papers="\n".join(papers))
        for vid, (year, papers) in volumes.items()
    )
    return SAMPLE.format(cid=cid, volumes=body).encode()


# Ann and Bob wrote together before the split; Ann meets Cat and Bob after it; Dan has one
# paper before (no profile); Eve has profile papers but no abstract.
BEFORE = [
    _paper("Parsing <fixed-case>A</fixed-case>", ["Ann Lee", "Bob Ng"], "We parse."),
    _paper("Tagging", ["Ann Lee"], "We tag."),
    _paper("Glossing", ["Bob Ng"]),
    _paper("Translating", ["Cat Ma", "Dan Wu"], "We translate."),
    _paper("Summarising", ["Cat Ma"]),
    _paper("Eve one", ["Eve Ito"]),
    _paper("Eve two", ["Eve Ito"]),
]
AFTER = [
    _paper("Together", ["Ann Lee", "Bob Ng", "Cat Ma", "Dan Wu", "Eve Ito"], "New work."),
]


def _papers() -> list[Paper]:
    return [
        *parse_papers(_xml("P18", {"1": (2018, BEFORE)})),
        *parse_papers(_xml("2020.acl", {"main": (2020, AFTER)})),
    ]


def test_file_names_map_to_kept_venues_and_years() -> None:
    assert file_year_venue("P18.xml") == (2018, "acl")
    assert file_year_venue("2021.findings.xml") == (2021, "findings")
    assert file_year_venue("W18.xml") is None
    assert file_year_venue("2020.lrec.xml") is None


def test_parse_reads_titles_authors_and_years_and_filters_volumes() -> None:
    xml = _xml("D19", {"1": (2019, BEFORE[:1]), "50": (2019, BEFORE[1:2])})
    papers = list(parse_papers(xml))
    assert [p.title for p in papers] == ["Parsing A", "Tagging"]
    assert papers[0].authors == ("ann-lee", "bob-ng")
    assert papers[0].year == 2019
    assert [p.title for p in parse_papers(xml, frozenset({"1"}))] == ["Parsing A"]


def test_split_by_year_and_truth_is_new_coauthors_with_profiles_only() -> None:
    realset = build(_papers(), Options(split_year=2020, profile_years=4))
    ann, bob, cat = pseudonym("ann-lee"), pseudonym("bob-ng"), pseudonym("cat-ma")
    # Dan (one paper) and Eve (no abstract) have no profile, so they are nobody's truth.
    assert sorted(realset.people) == sorted([ann, bob, cat])
    assert realset.queries == {ann: [cat], bob: [cat], cat: sorted([ann, bob])}
    assert realset.coauthored_before == {ann: [bob], bob: [ann], cat: []}
    assert realset.profile_years == (2016, 2019)
    assert realset.truth_years == (2020, 2022)
    # Profiles hold only papers before the split, newest first.
    titles = [p["title"] for p in realset.people[ann]]
    assert "Together" not in titles
    assert sorted(map(str, titles)) == ["Parsing A", "Tagging"]


def test_papers_outside_the_profile_window_or_truth_window_are_ignored() -> None:
    old = _xml("P10", {"1": (2010, [_paper("Old", ["Ann Lee", "Cat Ma"], "Old.")])})
    late = _xml("2023.acl", {"main": (2023, [_paper("Late", ["Bob Ng", "Cat Ma"], "L.")])})
    papers = [*_papers(), *parse_papers(old), *parse_papers(late)]
    realset = build(papers, Options(split_year=2020, profile_years=4))
    ann, bob, cat = pseudonym("ann-lee"), pseudonym("bob-ng"), pseudonym("cat-ma")
    # Ann and Cat co-authored in 2010: not new. The 2023 paper is past the truth years.
    assert realset.queries == {bob: [cat], cat: [bob]}
    assert all(p["title"] != "Old" for p in realset.people[ann])


def test_large_author_lists_are_not_truth() -> None:
    realset = build(_papers(), Options(split_year=2020, max_truth_authors=4))
    assert realset.queries == {}


def test_tune_report_split_is_deterministic_and_disjoint() -> None:
    ids = [pseudonym(f"person-{i}") for i in range(2000)]
    tune = [i for i in ids if is_tune(i)]
    assert tune == [i for i in ids if is_tune(i)]
    assert 0.35 < len(tune) / len(ids) < 0.45
    realset = build(_papers(), Options(split_year=2020))
    both = set(realset.tune) | set(realset.report)
    assert both == set(realset.queries)
    assert not set(realset.tune) & set(realset.report)


def test_trim_cuts_at_a_word_and_pseudonyms_are_stable() -> None:
    title, abstract = trim("A title", "one two three four", 16)
    assert (title, abstract) == ("A title", "one two")
    assert pseudonym("ann-lee") == pseudonym("ann-lee")
    assert pseudonym("ann-lee").startswith("acl-")
    assert len(pseudonym("ann-lee")) == 14


def test_written_files_are_byte_identical_and_in_the_format(tmp_path: Path) -> None:
    realset = build(_papers(), Options(split_year=2020))
    assert people_gz(realset.people) == people_gz(realset.people)
    write(realset, tmp_path)
    with gzip.open(tmp_path / "people.jsonl.gz", "rt", encoding="utf-8") as lines:
        people = [json.loads(line) for line in lines]
    assert [p["id"] for p in people] == sorted(p["id"] for p in people)
    assert set(people[0]) == {"id", "papers"}
    assert set(people[0]["papers"][0]) == {"year", "title", "abstract"}
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    assert truth["split_year"] == 2020
    assert set(truth) == {
        "split_year",
        "profile_years",
        "truth_years",
        "queries",
        "tune",
        "report",
        "coauthored_before",
    }


def test_load_papers_reads_a_checkout_with_colocated_workshops(tmp_path: Path) -> None:
    xml_dir = tmp_path / "data" / "xml"
    xml_dir.mkdir(parents=True)
    (xml_dir / "P18.xml").write_bytes(_xml("P18", {"1": (2018, BEFORE)}))
    event = b"<collection id='2020.acl'><event><colocated><volume-id>2020.ws-1</volume-id>"
    event += b"</colocated></event></collection>"
    (xml_dir / "2020.acl.xml").write_bytes(event)
    (xml_dir / "2020.ws.xml").write_bytes(_xml("2020.ws", {"1": (2020, AFTER)}))
    (xml_dir / "2020.lrec.xml").write_bytes(_xml("2020.lrec", {"1": (2020, AFTER)}))
    papers = load_papers(Source(tmp_path, "HEAD"), range(2010, 2023), workshops=True)
    assert sorted(p.title for p in papers if p.year == 2020) == ["Together"]
    assert not [
        p for p in load_papers(Source(tmp_path, "HEAD"), range(2010, 2023), False) if p.year == 2020
    ]
