"""A project's candidates and invitations in a real browser (headless Chromium) on the real stack.

A hub opens its project's candidates: a reason quotes the member's own words cut at a word;
it invites that member, and the button becomes the invitation's status. The member's inbox
shows the invitation once (the hub, the project, the reason as a sentence); they accept, and
the hub sees "Accepted" on the candidates and invitations pages. A closed project says why it
lists no one; inviting, paging and declining work without JavaScript too.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support import as_hub, as_member, as_operator, eventually
from tests.web.conftest import Look, Visit, WebStack, sign_in
from tests.web.test_hub_pages import sign_in_as_hub

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HUB = "web-projects-hub"
HUB_NAME = "Web Projects Hub"
PROJECT, CLOSED = "drought-watch", "old-drought-watch"
TITLE = "Drought watch for Turkana"
SENSING = "web-sensing"
OFFER = (
    "Remote sensing of drought from Sentinel-2 satellite imagery, with weekly maps for county "
    "officers and the field teams who plan water trucking"
)
MEMBER: dict[str, Any] = {
    "display_name": "Ama Sensing",
    "headline": "Remote sensing for drought early warning",
    "bio": "I turn satellite images into drought maps for county planners.",
    "expertise": ["remote sensing", "earth observation"],
    "interests": ["climate adaptation"],
    "sdgs": [13],
    "offers": {"kinds": ["volunteer"], "text": OFFER},
    "seeks": {"kinds": ["collaborator"], "text": "Field teams who check the maps on the ground"},
    "country": "GH",
    "languages": ["en"],
    "visibility": {"discoverable": True, "show_organisation": False},
}
HUB_BODY: dict[str, Any] = {
    "name": HUB_NAME,
    "country": "KE",
    "sdgs": [13],
    "focus": "Early warning of drought for pastoralist counties",
    "offers": {"kinds": ["partner"], "text": "County contacts and field teams"},
    "seeks": {"kinds": ["volunteer"], "text": "Remote sensing of drought"},
    "languages": ["en"],
    "leaders": [],
}
PROJECT_BODY: dict[str, Any] = {
    "title": TITLE,
    "description": "An early-warning map of drought from satellite imagery.",
    "sdgs": [13],
    "seeks": {"kinds": ["volunteer"], "text": "Remote sensing of drought with Sentinel-2"},
    "languages": ["en"],
    "open": True,
}


@pytest.fixture(scope="module")
async def project(web_stack: WebStack) -> list[str]:
    """The hub, its open project (and a closed one) and a member who fits it: once matching
    ranks that member among the candidates and notifications knows the project. The ids of
    the candidates' first page."""
    async with httpx.AsyncClient(timeout=15) as http:
        put = await http.put(
            f"{web_stack.api('profiles')}/v1/members/{SENSING}", json=MEMBER, headers=as_operator()
        )
        assert put.status_code == 201, put.text
        put = await http.put(
            f"{web_stack.api('profiles')}/v1/hubs/{HUB}", json=HUB_BODY, headers=as_operator()
        )
        assert put.status_code == 201, put.text
        for project_id, body in (
            (PROJECT, PROJECT_BODY),
            (CLOSED, PROJECT_BODY | {"title": "Drought watch, last year", "open": False}),
        ):
            put = await http.put(
                f"{web_stack.api('profiles')}/v1/hubs/{HUB}/projects/{project_id}",
                json=body,
                headers=as_hub(HUB),
            )
            assert put.status_code == 201, put.text

    async def ranked() -> list[str] | None:
        async with httpx.AsyncClient(timeout=15) as http:
            found = await http.get(
                f"{web_stack.api('matching')}/v1/hubs/{HUB}/projects/{PROJECT}/candidates",
                params={"limit": 20},
                headers=as_hub(HUB),
            )
            known = await http.get(
                f"{web_stack.api('notifications')}/v1/hubs/{HUB}/projects/{PROJECT}/invitations",
                headers=as_hub(HUB),
            )
        if found.status_code != 200 or known.status_code != 200:
            return None
        ids = [item["member_id"] for item in found.json()["items"]]
        return ids if SENSING in ids else None

    result: list[str] = await eventually(ranked, timeout=240, interval=1.0)
    return result


def _cut_at_a_word(quote: str, text: str) -> bool:
    """The quote is the text whole, or its start up to a word's end followed by "…"."""
    if not quote.endswith("…"):
        return quote in (text, text.rstrip("."))
    kept = quote.removesuffix("…")
    return text.startswith(kept) and len(kept) < len(text) and not text[len(kept)].isalnum()


async def _api_inbox(stack: WebStack, member_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.get(
            f"{stack.api('notifications')}/v1/members/{member_id}/inbox",
            params={"limit": 100},
            headers=as_member(member_id),
        )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _open_candidates(page: Page) -> None:
    card = page.locator(f"#project-{PROJECT}")
    await card.get_by_role("link", name=re.compile("^Candidates")).click()
    await page.wait_for_url(re.compile(f"/hub/projects/{PROJECT}/candidates"))


async def test_a_hub_invites_a_candidate_who_accepts_in_the_inbox(
    web_stack: WebStack, project: list[str], visitor: Visit, look: Look
) -> None:
    hub = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/projects", HUB)
    await _open_candidates(hub)
    await expect(hub.get_by_role("heading", name=f"Candidates for “{TITLE}”")).to_be_visible()
    card = hub.locator(f"#candidate-{SENSING}")
    await expect(card.get_by_role("heading", name="Ama Sensing")).to_be_visible()
    reasons = await card.locator("ul.reasons li").all_inner_texts()
    quoting = [r for r in reasons if "“" in r]
    assert quoting, reasons
    quotes = [r.split("“", 1)[1].split("”", 1)[0] for r in quoting]
    for reason, quote in zip(quoting, quotes, strict=True):
        assert reason.startswith("Ama Sensing "), reason  # says whose words it quotes
        assert quote in MEMBER["expertise"] or _cut_at_a_word(quote, OFFER), quote
    offered = [q for q in quotes if q not in MEMBER["expertise"]]
    assert offered, reasons
    assert all(q.endswith("…") for q in offered), offered  # the long offer, cut at a word
    await look(hub, "hub-project-candidates")

    await card.get_by_role("button", name=re.compile("^Invite")).click()
    status = card.locator("[role=status]")
    await expect(status).to_contain_text("Invited: no answer yet")
    await expect(status).to_be_focused()
    await hub.reload()
    await expect(card.get_by_role("button", name=re.compile("^Invite"))).to_have_count(0)
    await expect(card).to_contain_text("Invited: no answer yet")

    # Invited again (another leader, say): the same invitation, nothing new in the inbox.
    async with httpx.AsyncClient(timeout=15) as http:
        again = await http.post(
            f"{web_stack.api('notifications')}/v1/hubs/{HUB}/projects/{PROJECT}/invitations",
            json={"member_id": SENSING},
            headers=as_hub(HUB),
        )
    assert again.status_code == 200, again.text

    member = await sign_in(
        await visitor(), web_stack.web, f"/members/{SENSING}/inbox", "Sign in as this member"
    )
    invitations = member.locator("ol.cards > li.card", has_text="Project invitation")
    await expect(invitations).to_have_count(1)
    item = invitations.first
    await expect(item.get_by_role("heading", name=HUB_NAME)).to_be_visible()
    await expect(item).to_contain_text(f"Project: “{TITLE}”")
    await expect(item.locator("p.reason")).to_have_text(
        f"{HUB_NAME} invites you to contribute to its project “{TITLE}”."
    )
    await look(member, "inbox-project-invitation")
    kinds = [i["kind"] for i in await _api_inbox(web_stack, SENSING)]
    assert kinds.count("project_invitation") == 1

    await item.get_by_role("button", name=re.compile("^Accept")).click()
    answered = member.locator("[role=status]", has_text="you accepted")
    await expect(answered).to_contain_text(HUB_NAME)
    await expect(answered).to_contain_text("your sharing choices")
    await expect(answered).to_be_focused()
    await look(member, "inbox-project-invitation-accepted")
    answered_items = [
        i for i in await _api_inbox(web_stack, SENSING) if i["kind"] == "project_invitation"
    ]
    assert [i["read"] for i in answered_items] == [True]  # answering it read it
    assert [i["invitation"]["status"] for i in answered_items] == ["accepted"]
    await member.reload()  # the answer stays: no Accept / Decline on an answered invitation
    kept = member.locator("li.card", has=member.get_by_role("heading", name=HUB_NAME))
    await expect(kept.locator(".answered")).to_contain_text("You accepted")
    await expect(kept.get_by_role("button", name=re.compile("^Accept"))).to_have_count(0)

    await hub.reload()
    await expect(card.locator(".pill")).to_have_text("Accepted")
    await hub.get_by_role("link", name=re.compile("^Invitations")).click()
    row = hub.locator(f"#invitation-{SENSING}")
    await expect(row).to_contain_text("Ama Sensing")
    await expect(row).to_contain_text("Accepted")
    await look(hub, "hub-project-invitations")


async def test_a_closed_project_says_why_it_lists_no_one(
    web_stack: WebStack, project: list[str], visitor: Visit, look: Look
) -> None:
    hub = await sign_in_as_hub(
        await visitor(), web_stack.web, f"/hub/projects/{CLOSED}/candidates", HUB
    )
    alert = hub.get_by_role("alert")
    await expect(alert).to_contain_text("This project is closed.")
    await expect(alert).to_contain_text("is closed")
    await expect(alert.get_by_role("link", name=re.compile("^Edit"))).to_be_visible()
    await expect(hub.locator("ol.cards")).to_have_count(0)
    await look(hub, "hub-project-closed")


async def test_invite_paging_and_decline_work_without_javascript(
    web_stack: WebStack, project: list[str], visitor: Visit
) -> None:
    hub = await sign_in_as_hub(await visitor(javascript=False), web_stack.web, "/hub/projects", HUB)
    await _open_candidates(hub)
    shown = await hub.locator("ol.cards > li.card").evaluate_all("els => els.map(e => e.id)")
    assert [str(i).removeprefix("candidate-") for i in shown] == project
    if len(project) == 20:  # a full page: the next one follows, without those already shown
        await hub.get_by_role("link", name="More candidates").click()
        more = await hub.locator("ol.cards > li.card").evaluate_all("els => els.map(e => e.id)")
        assert more
        assert not set(more) & set(shown)
        await hub.get_by_role("link", name="Best first").click()

    other = next(m for m in project if m != SENSING)
    card = hub.locator(f"#candidate-{other}")
    await card.get_by_role("button", name=re.compile("^Invite")).click()
    await hub.wait_for_url(re.compile(rf"invited={re.escape(other)}"))
    await expect(hub.get_by_role("status")).to_contain_text("is invited")
    await expect(hub.locator(f"#candidate-{other}")).to_contain_text("Invited: no answer yet")

    async def invited() -> bool | None:
        items = await _api_inbox(web_stack, other)
        return True if any(i["kind"] == "project_invitation" for i in items) else None

    await eventually(invited, timeout=30)
    member = await sign_in(
        await visitor(javascript=False),
        web_stack.web,
        f"/members/{other}/inbox",
        "Sign in as this member",
    )
    item = member.locator("ol.cards > li.card", has_text="Project invitation")
    await item.get_by_role("button", name=re.compile("^Decline")).click()
    await member.wait_for_url(re.compile(r"done=invitation-declined"))
    await expect(member.get_by_role("status")).to_contain_text("You declined the invitation")

    await hub.reload()
    await expect(hub.locator(f"#candidate-{other} .pill")).to_have_text("Declined")
