"""The "Projects for you" section of the matches page, rendered without a browser: each
project's reasons as sentences about the project, and what it says with none or when
matching cannot list them."""

from __future__ import annotations

from typing import Any, cast

from nnmatch_web.render import Pages

QUOTE = "Remote sensing of drought with…"
PROJECT = {
    "hub_id": "yail-nairobi",
    "hub_name": "YAIL Nairobi",
    "project_id": "drought",
    "title": "Drought watch",
    "score": 0.9,
    "reasons": [
        {
            "kind": "project_seeks_your_offer",
            "text": f"seeks what you offer: {QUOTE}",
            "params": {"quote": QUOTE, "quote_of": "project"},
        },
        {"kind": "project_of_your_hub", "text": "is a project of your hub", "params": {}},
    ],
}


def _section(projects: list[dict[str, Any]] | None, own: bool = True) -> str:
    macros = Pages(cast(Any, None), {}).env.get_template("_member_projects.html").module
    return str(cast(Any, macros).projects_for_you(projects, "m-1", own))


def test_each_project_shows_its_hub_and_its_reasons_about_the_project() -> None:
    html = _section([PROJECT])

    assert '<h2 id="projects-heading">Projects for you</h2>' in html
    assert '<h3 class="name">Drought watch</h3>' in html
    assert "A project of YAIL Nairobi" in html
    assert "<li>Drought watch seeks what you offer. In Drought watch&#39;s words: " in html
    assert f"“{QUOTE}”</li>" in html
    assert "<li>Drought watch is a project of your hub.</li>" in html
    assert "Projects have no page of\ntheir own yet" in html
    assert "/projects/" not in html  # nothing links to a project page


def test_a_project_of_an_unnamed_hub_shows_the_hub_id() -> None:
    assert "A project of yail-nairobi" in _section([PROJECT | {"hub_name": None}])


def test_with_no_project_the_member_is_pointed_to_their_profile() -> None:
    own, other = _section([]), _section([], own=False)

    assert "No open project fits you yet." in own
    assert 'href="/members/m-1/profile"' in own
    assert "/profile" not in other  # an operator reading someone's page is not sent there


def test_when_matching_cannot_list_projects_the_section_says_so() -> None:
    html = _section(None)

    assert "Projects cannot be shown right now." in html
    assert "No open project fits you yet." not in html
