"""The demo's project table: one open seeded project's candidates, each reason a sentence."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch_tools.demo import show_project_candidates
from nnmatch_tools.seed_hubs import SeededHub, SeededProject

HUB = HubProfile(name="YAIL Accra", country="GH", languages=["en"])


def _project(title: str, open_: bool) -> ProjectProfile:
    return ProjectProfile(title=title, languages=["en"], open=open_)


class FakeClient:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def project_candidates(self, hub_id: str, project_id: str, limit: int = 10) -> dict[str, Any]:
        self.asked.append((hub_id, project_id))
        reason = {
            "kind": "shared_sdg",
            "text": "works on SDG 13 (Climate action), as this project does",
        }
        return {
            "items": [
                {"display_name": "Ama", "country": "GH", "score": 0.81234, "reasons": [reason]}
            ],
            "next_cursor": None,
        }


def test_the_first_open_project_is_shown_with_reasons_as_sentences() -> None:
    hubs = [
        SeededHub("yail-accra", HUB, ("m-1",), (SeededProject("p-1", _project("Old", False)),)),
        SeededHub(
            "yail-lagos",
            HUB.model_copy(update={"name": "YAIL Lagos"}),
            ("m-2",),
            (SeededProject("p-2", _project("Flood maps", True)),),
        ),
    ]
    client = FakeClient()
    console = Console(record=True, width=200)

    show_project_candidates(console, client, hubs)  # type: ignore[arg-type]

    out = console.export_text()
    assert client.asked == [("yail-lagos", "p-2")]
    assert "Top candidates for YAIL Lagos's project “Flood maps”" in out
    assert "Ama works on SDG 13 (Climate action), as this project does." in out
    assert "0.812" in out


def test_without_an_open_project_nothing_is_asked_or_shown() -> None:
    closed = SeededHub("yail-accra", HUB, ("m-1",), (SeededProject("p-1", _project("Old", False)),))
    client = FakeClient()
    console = Console(record=True, width=200)

    show_project_candidates(console, client, [closed])  # type: ignore[arg-type]

    assert client.asked == []
    assert console.export_text() == ""
