"""The member's matches page shows "Projects for you" in a real browser (headless Chromium)
against the real stack: a hub posts a project that seeks what the member offers, and the
member's matches page lists it with reasons that quote the project's words, cut at a word,
and say it is a project of their hub. Screenshots at phone and laptop sizes, and axe."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from nnmatch.reasons import ELLIPSIS
from tests.support import as_member, as_operator, eventually
from tests.web.conftest import PAIR, Look, Visit, WebStack, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HUB = "yail-nairobi"  # Amina's own hub
SEEKS = (
    "Mentoring on deploying vision models in the field for cassava disease scouting with phone "
    "cameras across the farms of western Kenya"
)
PROJECT = {
    "title": "Cassava disease scouting",
    "description": "Phone photos of cassava leaves, classified in the field.",
    "sdgs": [2],
    "seeks": {"kinds": ["mentor"], "text": SEEKS},
    "languages": ["en"],
    "open": True,
}


async def _listed(stack: WebStack, member_id: str) -> list[dict[str, Any]] | None:
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.get(
            f"{stack.api('matching')}/v1/members/{member_id}/projects",
            headers=as_member(member_id),
        )
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json()["items"]
    return items if any(i["project_id"] == "cassava-scouting" for i in items) else None


async def test_the_matches_page_shows_projects_for_the_member_with_reasons(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    amina = PAIR[0]
    async with httpx.AsyncClient(base_url=web_stack.api("profiles"), timeout=15) as http:
        hub = {"name": "YAIL Nairobi", "country": "KE", "sdgs": [2], "languages": ["en"]}
        put = await http.put(f"/v1/hubs/{HUB}", json=hub, headers=as_operator())
        assert put.status_code in (200, 201), put.text
        posted = await http.put(
            f"/v1/hubs/{HUB}/projects/cassava-scouting", json=PROJECT, headers=as_operator()
        )
        assert posted.status_code == 201, posted.text
    items = await eventually(lambda: _listed(web_stack, amina), timeout=120)
    assert items is not None

    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{amina}/matches", "Sign in as this member"
    )
    section = page.get_by_role("region", name="Projects for you")
    await expect(section.get_by_role("heading", name="Projects for you")).to_be_visible()
    card = section.locator("li.card", has_text="Cassava disease scouting")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("A project of YAIL Nairobi")
    await expect(card).to_contain_text("Cassava disease scouting is a project of your hub.")
    await expect(card).to_contain_text("Cassava disease scouting seeks what you offer.")
    quoted = card.locator("ul.reasons li", has_text="In Cassava disease scouting's words")
    quote = (await quoted.first.inner_text()).split("“", 1)[1].rstrip("”")
    assert quote.endswith(ELLIPSIS)  # cut at a word, with an ellipsis
    assert SEEKS.startswith(quote.removesuffix(ELLIPSIS))
    await expect(section).to_contain_text("Projects have no page of their own yet")
    assert await section.locator("li.card").count() <= 3
    assert await section.locator("a[href*='/projects/']").count() == 0  # no project page yet
    # The matches list is still there, unchanged by the section.
    await expect(page.get_by_role("heading", name="Your matches")).to_be_visible()
    await look(page, "matches-projects")
