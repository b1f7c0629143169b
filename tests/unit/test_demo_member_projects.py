"""The demo's member projects table: one member's top projects, each reason a sentence about
the project, and the project candidates' first member handed on to it."""

from __future__ import annotations

from typing import Any

import httpx
from rich.console import Console

from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch_tools.client import ApiError
from nnmatch_tools.demo import show_member_projects, show_project_candidates
from nnmatch_tools.seed_hubs import SeededHub, SeededProject

HUB = HubProfile(name="YAIL Accra", country="GH", languages=["en"])
QUOTE = "Remote sensing of drought from satellite imagery across the counties of…"


class FakeClient:
    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.asked: list[str] = []

    def project_candidates(self, hub_id: str, project_id: str, limit: int = 10) -> dict[str, Any]:
        item = {"member_id": "m-7", "display_name": "Ama", "country": "GH", "score": 0.8}
        return {"items": [item | {"reasons": []}], "next_cursor": None}

    def member_projects(self, member_id: str, limit: int = 5) -> dict[str, Any]:
        self.asked.append(member_id)
        if not self.available:
            request = httpx.Request("GET", f"http://matching/v1/members/{member_id}/projects")
            raise ApiError(httpx.Response(503, json={"detail": "no hubs role"}, request=request))
        reasons = [
            {
                "kind": "project_seeks_your_offer",
                "text": f"seeks what you offer: {QUOTE}",
                "params": {"quote": QUOTE, "quote_of": "project"},
            },
            {"kind": "project_of_your_hub", "text": "is a project of your hub", "params": {}},
        ]
        return {
            "member_id": member_id,
            "items": [
                {
                    "hub_id": "yail-accra",
                    "hub_name": "YAIL Accra",
                    "project_id": "p-1",
                    "title": "Drought watch",
                    "score": 0.91234,
                    "reasons": reasons,
                }
            ],
        }


def test_a_members_projects_are_shown_with_reasons_about_the_project() -> None:
    client = FakeClient()
    console = Console(record=True, width=240)

    show_member_projects(console, client, "m-7", "Ama")  # type: ignore[arg-type]

    out = console.export_text()
    assert client.asked == ["m-7"]
    assert "Top projects for Ama (m-7)" in out
    assert "Drought watch seeks what you offer." in out
    assert f"In Drought watch's words: “{QUOTE}”" in out
    assert "Drought watch is a project of your hub." in out
    assert "YAIL Accra" in out
    assert "0.912" in out


def test_without_the_hubs_role_nothing_is_printed() -> None:
    console = Console(record=True, width=240)

    show_member_projects(console, FakeClient(available=False), "m-7", "Ama")  # type: ignore[arg-type]

    assert console.export_text() == ""


def test_the_project_candidates_first_member_is_handed_on() -> None:
    project = SeededProject("p-1", ProjectProfile(title="Flood maps", languages=["en"]))
    hubs = [SeededHub("yail-accra", HUB, ("m-1",), (project,))]

    found = show_project_candidates(Console(record=True), FakeClient(), hubs)  # type: ignore[arg-type]

    assert found == ("m-7", "Ama")
