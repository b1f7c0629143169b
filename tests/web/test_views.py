"""The pages' pure helpers: forms to API bodies, scores and statuses to words; no browser."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path
from typing import Any, cast

import pytest

from nnmatch.contact import Preferences
from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch.profile import MemberProfile
from nnmatch_web.render import Pages
from nnmatch_web.views import (
    SearchForm,
    contact_body,
    empty_hub,
    empty_project,
    field_errors,
    hub_body,
    leaders_text,
    new_project_id,
    parse_form,
    partner_scope,
    preferences_body,
    profile_body,
    project_body,
    read_status,
    safe_next,
    score_view,
    shortlist_csv,
    shortlisted_ids,
)

STATIC = Path(__file__).resolve().parents[2] / "services" / "web" / "nnmatch_web" / "static"


def test_a_filled_in_profile_form_is_a_valid_profile() -> None:
    form = parse_form(
        b"display_name=Amina+Yusuf&headline=CV+for+crops&bio=Line+one%0ALine+two"
        b"&expertise=computer+vision%2C+agritech&interests=food+security"
        b"&sdgs=2&sdgs=13&offers_kinds=mentor&offers_text=Mentoring"
        b"&seeks_kinds=collaborator&seeks_text=Field+data&country=KE&languages=en%2C+sw"
        b"&organisation_name=UoN&organisation_type=academia&hubs=yail-nairobi"
        b"&discoverable=1"
    )
    body = profile_body(form)
    profile = MemberProfile.model_validate(body)
    assert profile.sdgs == [2, 13]
    assert profile.expertise == ["computer vision", "agritech"]
    assert profile.languages == ["en", "sw"]
    assert profile.bio == "Line one\nLine two"
    assert profile.visibility.discoverable is True
    assert profile.visibility.show_organisation is False  # an unticked box is "no"


def test_a_tampered_number_reaches_the_api_to_be_refused_by_name() -> None:
    body = profile_body({"sdgs": ["13", "x"]})
    assert body["sdgs"] == [13, "x"]


def test_quiet_hours_form_becomes_the_preferences_body() -> None:
    form = parse_form(
        b"channels=in_app&channels=email&frequency=daily&quiet_enabled=1&quiet_start=22%3A30"
        b"&quiet_end=06%3A45&quiet_tz=Africa%2FNairobi&daily_cap=3"
    )
    prefs = Preferences.model_validate(preferences_body(form))
    assert prefs.quiet_hours is not None
    assert prefs.model_dump(mode="json")["quiet_hours"] == {
        "start": "22:30",
        "end": "06:45",
        "tz": "Africa/Nairobi",
    }
    assert prefs.daily_cap == 3
    unticked = preferences_body(parse_form(b"quiet_start=22%3A00&quiet_tz=UTC"))
    assert unticked["quiet_hours"] is None
    assert unticked["opted_out"] is False


def test_contact_form_shares_the_email_only_when_ticked() -> None:
    assert contact_body({"email": ["a@example.org"]}) == {
        "email": "a@example.org",
        "webhook_url": None,
        "share_in_introductions": [],
    }
    shared = contact_body({"email": ["a@example.org"], "share_email": ["1"]})
    assert shared["share_in_introductions"] == ["email"]


def test_problem_errors_are_shown_by_field() -> None:
    problem = {
        "errors": [
            {"field": "languages.1", "reason": "not a language"},
            {"field": "languages.2", "reason": "also not"},
            {"field": "offers.text", "reason": "too long"},
        ]
    }
    assert field_errors(problem) == {
        "languages.1": "not a language",
        "languages.2": "also not",
        "offers.text": "too long",
    }
    assert field_errors(problem, top=True) == {"languages": "not a language", "offers": "too long"}
    assert field_errors(None) == {}


@pytest.mark.parametrize(
    ("score", "label", "points"),
    [(0.83, "Strong match", 83), (0.55, "Good match", 55), (0.2, "Possible match", 20)],
)
def test_a_score_reads_as_words_and_points_out_of_100(
    score: float, label: str, points: int
) -> None:
    view = score_view(score)
    assert (view.label, view.points) == (label, points)


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/members/m-1/matches", True),
        ("/hub/search?q=x", True),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("/ok\r\nSet-Cookie: x", False),
        ("", False),
        (None, False),
    ],
)
def test_after_sign_in_only_a_path_of_this_site_is_followed(target: str | None, kept: bool) -> None:
    assert safe_next(target) == (target if kept else None)


def test_a_search_keeps_its_filters_across_pages() -> None:
    form = SearchForm.from_query(
        {"q": ["climate data"], "sdgs": ["13"], "regions": ["Africa"], "countries": ["ke, gh"]}
    )
    body = form.body(10)
    assert body["filters"]["sdgs"] == [13]
    assert body["filters"]["countries"] == ["ke", "gh"]
    assert body["filters"]["regions"] == ["Africa"]
    again = SearchForm.from_query(
        {k: [v] for k, v in [p.split("=") for p in form.query_string("abc").split("&")]}
        | {"sdgs": ["13"]}
    )
    assert again.cursor == "abc"
    assert "SDG 13" in form.active_filters()
    assert "KE" in form.active_filters()


def test_a_filled_in_hub_form_is_a_valid_hub_profile() -> None:
    form = parse_form(
        b"name=YAIL+Nairobi&country=KE&sdgs=2&sdgs=13&focus=Farming+AI"
        b"&offers_kinds=partner&offers_text=Field+data&seeks_kinds=collaborator"
        b"&seeks_text=Remote+sensing&languages=en+sw"
        b"&leaders=amina-lead+leader%0D%0Akofi-lead%2C+regional%0D%0A%0D%0Awanjiru"
    )
    body = hub_body(form)
    hub = HubProfile.model_validate(body)
    assert hub.sdgs == [2, 13]
    assert hub.languages == ["en", "sw"]
    assert [(leader.member_id, leader.role) for leader in hub.leaders] == [
        ("amina-lead", "leader"),
        ("kofi-lead", "regional"),
        ("wanjiru", "leader"),  # a line without a role leads as "leader"
    ]
    assert hub.visibility.discoverable is False  # an unticked box is "no"
    assert leaders_text(body["leaders"]) == "amina-lead leader\nkofi-lead regional\nwanjiru leader"
    assert HubProfile.model_validate(
        empty_hub() | {"name": "H", "country": "KE", "languages": ["en"]}
    )


def test_a_filled_in_project_form_is_a_valid_project() -> None:
    form = parse_form(
        b"title=Drought+watch&description=Maps&sdgs=13&seeks_kinds=volunteer"
        b"&seeks_text=Sentinel-2&languages=en%2C+sw&open=1"
    )
    project = ProjectProfile.model_validate(project_body(form))
    assert (project.title, project.sdgs, project.open) == ("Drought watch", [13], True)
    assert project.seeks.kinds == ["volunteer"]
    assert project_body({"title": ["x"]})["open"] is False
    assert empty_project()["open"] is True


def test_a_new_project_gets_a_readable_id_never_one_in_use() -> None:
    assert new_project_id("Drought watch for Turkana!", []) == "drought-watch-for-turkana"
    assert new_project_id("Drought watch", ["drought-watch"]) == "drought-watch-2"
    assert new_project_id("Drought watch", ["drought-watch", "drought-watch-2"]) == (
        "drought-watch-3"
    )
    assert new_project_id("¿¿??", []) == "project"
    long = new_project_id("x" * 100, ["x" * 48])
    assert re.fullmatch(r"[a-z0-9-]{1,48}", long)
    assert long == "x" * 46 + "-2"


def test_the_partner_scope_is_anywhere_unless_region_is_asked_for() -> None:
    assert [partner_scope(s) for s in ("region", "anywhere", "mars", None)] == [
        "region",
        "anywhere",
        "anywhere",
        "anywhere",
    ]


def test_the_shortlist_answer_reads_as_member_ids_in_order() -> None:
    page = {"hub_id": "h", "limit": 50, "items": [{"member_id": "m-2"}, {"member_id": "m-1"}]}
    assert shortlisted_ids(page) == ["m-2", "m-1"]
    assert shortlisted_ids({}) == []


def test_the_csv_export_defuses_spreadsheet_formulas() -> None:
    stored = {
        "member_id": "m-1",
        "profile": {
            "display_name": '=HYPERLINK("http://evil")',
            "headline": "+1 data",
            "country": "KE",
            "languages": ["en", "sw"],
            "sdgs": [2, 13],
            "offers": {"kinds": ["mentor"], "text": "@mentoring"},
            "seeks": {"kinds": [], "text": "-"},
            "organisation": {"name": "UoN", "type": "academia"},
            "hubs": ["yail-nairobi"],
        },
    }
    rows = list(csv.DictReader(io.StringIO(shortlist_csv([stored]))))
    assert rows[0]["display_name"].startswith("'=")
    assert rows[0]["headline"] == "'+1 data"
    assert rows[0]["offers"] == "'@mentoring"
    assert rows[0]["sdgs"] == "2 13"


EXPOSITION = """\
# HELP nnmatch_index_members Members in the index.
# TYPE nnmatch_index_members gauge
nnmatch_index_members 62.0
# HELP nnmatch_kafka_consumer_lag_records Lag.
# TYPE nnmatch_kafka_consumer_lag_records gauge
nnmatch_kafka_consumer_lag_records{group="nnmatch-embedder",partition="0",topic="profiles.v1"} 3.0
nnmatch_kafka_consumer_lag_records{group="nnmatch-embedder",partition="1",topic="profiles.v1"} 4.0
# HELP nnmatch_kafka_records_produced_total Produced.
# TYPE nnmatch_kafka_records_produced_total counter
nnmatch_kafka_records_produced_total{topic="profiles.v1.dlq"} 2.0
nnmatch_kafka_records_produced_total{topic="matches.v1"} 50.0
"""


def test_the_status_of_a_service_is_read_from_its_readiness_and_metrics() -> None:
    status = read_status(
        "matching",
        "http://m",
        503,
        {"status": "not ready", "failing": {"kafka": "kafka does not answer"}},
        EXPOSITION,
    )
    assert status.reachable
    assert not status.ready
    assert status.failing == {"kafka": "kafka does not answer"}
    assert status.members_indexed == 62
    assert status.lag == {("nnmatch-embedder", "profiles.v1"): 7.0}
    assert status.dead_letters == {"profiles.v1.dlq": 2.0}
    gone = read_status("profiles", "http://p", None, None, None)
    assert not gone.reachable
    assert not gone.ready


def test_the_vendored_htmx_is_the_one_recorded_with_its_licence() -> None:
    vendored = (STATIC / "VENDORED.md").read_text()
    recorded = re.search(r"`htmx\.min\.js`.*?`([0-9a-f]{64})`", vendored)
    assert recorded is not None
    assert hashlib.sha256((STATIC / "htmx.min.js").read_bytes()).hexdigest() == recorded[1]
    assert "Zero-Clause BSD" in (STATIC / "htmx.LICENSE").read_text()


def test_no_page_loads_anything_from_another_site() -> None:
    templates = STATIC.parent / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", text), page.name


def test_the_reasons_macro_renders_each_reason_as_a_sentence_about_the_member() -> None:
    pages = Pages(cast(Any, None), {})
    macros = pages.env.get_template("_macros.html").module
    suggestion = {
        "display_name": "Kofi Mensah",
        "reasons": [
            {"kind": "offer_meets_seek", "text": "offers mentoring, which you seek: Vision models"},
            {"kind": "shared_sdg", "text": "both work on SDG 13 (Climate action)"},
        ],
    }

    html = str(cast(Any, macros).reasons(suggestion))

    assert "<li>Kofi Mensah offers mentoring, which you seek. In Kofi Mensah&#39;s words: " in html
    assert "“Vision models”</li>" in html
    assert "<li>You both work on SDG 13 (Climate action).</li>" in html
