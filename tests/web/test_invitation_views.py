"""Project candidates, invitations and the inbox's invitation item as templates render them,
from API answers shaped as the services give them; no browser (test_project_pages.py drives
the same pages in Chromium on the real stack)."""

from __future__ import annotations

from typing import Any, cast

from nnmatch_web.render import Pages
from nnmatch_web.views import (
    as_sentence,
    invitation_answer,
    invitation_counts,
    invitation_statuses,
)

INVITATION_ID = "inv-" + "0" * 32


def _render(template: str, **context: Any) -> str:
    pages = Pages(cast(Any, None), {"version": "test"})
    base = {"visitor": None, "csrf": "token", "path": "/", "unread": None, "shortlisted": None}
    return pages.env.get_template(template).render(**(base | context))


def _candidate(member_id: str, name: str) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "display_name": name,
        "headline": "Remote sensing",
        "country": "GH",
        "score": 0.7,
        "reasons": [
            {
                "kind": "offer_meets_project_seek",
                "text": "offers “Remote sensing of drought from Sentinel-2…”, which this "
                "project seeks",
            }
        ],
        "computed_at": "2026-12-04T20:00:00Z",
    }


def test_statuses_are_read_by_member_and_answers_are_accept_or_decline() -> None:
    page = {
        "items": [
            {"member_id": "m-1", "status": "pending"},
            {"member_id": "m-2", "status": "accepted"},
        ]
    }
    assert invitation_statuses(page) == {"m-1": "pending", "m-2": "accepted"}
    assert invitation_statuses({}) == {}
    assert invitation_counts(invitation_statuses(page)) == {
        "pending": 1,
        "accepted": 1,
        "declined": 0,
    }
    assert invitation_answer("accept") is True
    assert invitation_answer("decline") is False
    assert invitation_answer("block") is None
    assert as_sentence("project 'p' is closed: reopen it") == "Project 'p' is closed: reopen it."


def test_a_candidate_shows_a_reason_sentence_and_invite_or_their_status() -> None:
    html = _render(
        "hub_candidates.html",
        project_id="drought",
        project={"title": "Drought watch", "open": True},
        page={"items": [_candidate("m-1", "Ama"), _candidate("m-2", "Bo")], "next_cursor": "c2"},
        cursor=None,
        closed=None,
        closed_hint="",
        unranked=None,
        statuses={"m-2": "declined"},
        counts={"pending": 0, "accepted": 0, "declined": 1},
        notice=None,
    )
    assert "<li>Ama offers “Remote sensing of drought from Sentinel-2…”, which this project" in html
    assert 'action="/hub/projects/drought/candidates/m-1/invite"' in html
    assert "/candidates/m-2/invite" not in html  # invited before: the status instead
    assert '<span class="pill bad">Declined</span>' in html
    assert 'href="/hub/projects/drought/candidates?cursor=c2"' in html


def test_a_closed_project_says_why_instead_of_listing() -> None:
    html = _render(
        "hub_candidates.html",
        project_id="old",
        project={"title": "Old one", "open": False},
        page={"items": [], "next_cursor": None},
        cursor=None,
        closed="Project 'old' is closed: it seeks no candidates.",
        closed_hint="Reopen it on its edit page to see candidates and invite them.",
        unranked=None,
        statuses={},
        counts={"pending": 0, "accepted": 0, "declined": 0},
        notice=None,
    )
    assert 'role="alert"' in html
    assert "Project &#39;old&#39; is closed: it seeks no candidates." in html
    assert '/invite"' not in html


def test_an_inbox_invitation_shows_hub_project_reason_and_answers() -> None:
    item = {
        "item_id": "1700000000000-0",
        "kind": "project_invitation",
        "created_at": "2026-12-04T20:00:00Z",
        "read": False,
        "suggestion": {
            "member_id": INVITATION_ID,
            "display_name": "YAIL Nairobi",
            "headline": "Drought watch",
            "country": "KE",
            "score": 0.0,
            "reasons": [
                {
                    "kind": "project_invitation",
                    "text": "invites you to contribute to its project “Drought watch”",
                }
            ],
        },
        "invitation": {
            "invitation_id": INVITATION_ID,
            "hub_id": "yail-nairobi",
            "hub_name": "YAIL Nairobi",
            "project_id": "drought",
            "project_title": "Drought watch",
        },
    }
    html = _render(
        "inbox.html",
        member_id="m-1",
        page={"items": [item], "unread": 1, "next_cursor": None},
        cursor=None,
        notice=None,
    )
    assert "Project invitation" in html
    assert '<h2 class="name">YAIL Nairobi</h2>' in html
    assert "Project: “Drought watch”" in html
    assert "YAIL Nairobi invites you to contribute to its project “Drought watch”." in html
    assert f'action="/members/m-1/invitations/{INVITATION_ID}"' in html
    assert 'value="accept"' in html
    assert 'value="decline"' in html
    assert "/report?" not in html  # an invitation is no member to report

    item["invitation"] = {**item["invitation"], "status": "declined"}  # type: ignore[dict-item]
    answered = _render(
        "inbox.html",
        member_id="m-1",
        page={"items": [item], "unread": 0, "next_cursor": None},
        cursor=None,
        notice=None,
    )
    assert "You declined. Nothing was shared with the hub." in answered
    assert 'value="accept"' not in answered


def test_an_answered_invitation_says_what_was_shared() -> None:
    invitation = {"hub_name": "YAIL Nairobi", "project_title": "Drought watch"}
    accepted = _render(
        "_invitation_answer.html",
        member_id="m-1",
        item_id="1-0",
        invitation=invitation,
        answer="accepted",
    )
    assert 'id="item-1-0"' in accepted
    assert "you accepted" in accepted
    assert "your sharing choices" in accepted
    declined = _render(
        "_invitation_answer.html",
        member_id="m-1",
        item_id="1-0",
        invitation=invitation,
        answer="declined",
    )
    assert "you declined. Nothing was shared" in declined
