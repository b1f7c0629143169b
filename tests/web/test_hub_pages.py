"""A hub's own pages in a real browser (headless Chromium) against the real stack.

A hub edits its profile (a refused field is named beside it, then it saves); its partner page
shows partner hubs with reasons, switches between its region and anywhere, and an accept
works both ways; its projects are posted and edited; and its shortlist, kept by the profiles
service, is the same list for two leaders in two browsers.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from nnmatch.auth import DevSigningKey, Role
from nnmatch_tools import devstack
from tests.support import STATE_DIR, as_hub, as_operator, eventually
from tests.web.conftest import Look, Visit, WebStack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NAIROBI, LISBON, ACCRA = "web-nairobi", "web-lisbon", "web-accra"


def _hub(name: str, country: str, offers: str, seeks: str) -> dict[str, Any]:
    return {
        "name": name,
        "country": country,
        "sdgs": [2, 13],
        "focus": f"{name}: AI for farming and climate",
        "offers": {"kinds": ["collaborator"], "text": offers},
        "seeks": {"kinds": ["collaborator"], "text": seeks},
        "languages": ["en"],
        "leaders": [],
    }


HUBS = {
    NAIROBI: _hub("Web Nairobi", "KE", "Crop disease models", "Remote sensing of drought"),
    LISBON: _hub("Web Lisbon", "PT", "Remote sensing of drought", "Crop disease models"),
    ACCRA: _hub("Web Accra", "GH", "Music generation", "Fashion design"),
}


async def sign_in_as_hub(context: BrowserContext, base: str, target: str, hub_id: str) -> Page:
    """Open `target`, get sent to the sign-in page, sign in as `hub_id` (dev sign-in)."""
    page = await context.new_page()
    await page.goto(f"{base}{target}")
    assert "/sign-in" in page.url, page.url
    await page.get_by_label("Hub id").fill(hub_id)
    await page.get_by_role("button", name="Sign in as this hub").click()
    await page.wait_for_url(re.compile(re.escape(target.split("?")[0])))
    return page


async def sign_in_as_leader(
    context: BrowserContext, base: str, target: str, hub_id: str, leader: str
) -> Page:
    """Sign in with a hub token as the identity provider gives one of the hub's leaders (their
    own subject, the hub's claim), pasted into the token form."""
    key = DevSigningKey.load_or_create(devstack.dev_auth_dir(STATE_DIR))
    page = await context.new_page()
    await page.goto(f"{base}{target}")
    await page.get_by_label("Access token").fill(key.mint(Role.HUB, leader, hub=hub_id))
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(re.compile(re.escape(target)))
    return page


@pytest.fixture(scope="module")
async def partner_hubs(web_stack: WebStack) -> dict[str, Any]:
    """Three hubs: Nairobi and Lisbon want each other; Accra shares Nairobi's region."""
    async with httpx.AsyncClient(base_url=web_stack.api("profiles"), timeout=15) as http:
        for hub_id, body in HUBS.items():
            put = await http.put(f"/v1/hubs/{hub_id}", json=body, headers=as_operator())
            assert put.status_code == 201, put.text

    async def listed() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=web_stack.api("matching"), timeout=15) as http:
            pages = {
                hub_id: (
                    await http.get(f"/v1/hubs/{hub_id}/partners", headers=as_hub(hub_id))
                ).json()
                for hub_id in (NAIROBI, LISBON)
            }
        ids = {hub_id: [i["hub_id"] for i in page["items"]] for hub_id, page in pages.items()}
        ready = ids[NAIROBI][:1] == [LISBON] and ids[LISBON][:1] == [NAIROBI]
        return pages if ready and ACCRA in ids[NAIROBI] else None

    result: dict[str, Any] = await eventually(listed, timeout=180, interval=1.0)
    return result


async def test_a_hub_edits_its_profile_and_a_mistake_is_explained(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    hub_id = "web-hub-editor"
    page = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/profile", hub_id)
    await expect(page.get_by_role("heading", name="Your hub's profile")).to_be_visible()
    await look(page, "hub-profile-new")
    await page.get_by_label("Name", exact=True).fill("YAIL Mombasa")
    await page.get_by_label("Focus").fill("Ocean data for coastal fisheries")
    await page.get_by_label("Country").select_option("KE")
    await page.get_by_label("Languages").fill("en, klingon")
    await page.get_by_label("Leaders").fill("amina-lead leader\nkofi-lead impact")
    await page.get_by_label("14. Life below water").check()
    await page.get_by_role("button", name="Save hub profile").click()

    await expect(page.get_by_role("alert").filter(has_text="Languages")).to_be_visible()
    await expect(page.get_by_label("Languages")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#languages-error")).to_be_visible()
    await expect(page.get_by_label("Focus")).to_have_value("Ocean data for coastal fisheries")
    await look(page, "hub-profile-with-error")

    await page.get_by_label("Languages").fill("en, sw")
    await page.get_by_role("button", name="Save hub profile").click()
    await expect(page.get_by_role("status")).to_contain_text("profile is saved")
    await expect(page.get_by_label("Leaders")).to_have_value("amina-lead leader\nkofi-lead impact")
    async with httpx.AsyncClient(timeout=15) as http:
        stored = (
            await http.get(f"{web_stack.api('profiles')}/v1/hubs/{hub_id}", headers=as_hub(hub_id))
        ).json()
    assert stored["hub"]["name"] == "YAIL Mombasa"
    assert stored["hub"]["languages"] == ["en", "sw"]
    assert stored["hub"]["sdgs"] == [14]
    assert stored["region"] == "Africa"
    assert [(x["member_id"], x["role"]) for x in stored["hub"]["leaders"]] == [
        ("amina-lead", "leader"),
        ("kofi-lead", "impact"),
    ]


async def test_the_partner_page_shows_partners_with_reasons_and_accept_works_both_ways(
    web_stack: WebStack, partner_hubs: dict[str, Any], visitor: Visit, look: Look
) -> None:
    page = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/partners", NAIROBI)
    cards = page.locator("ol.cards > li.card")
    await expect(cards.first).to_have_id(f"partner-{LISBON}")
    shown = await cards.evaluate_all("els => els.map(e => e.id)")
    expected = [i["hub_id"] for i in partner_hubs[NAIROBI]["items"]]
    assert [str(i).removeprefix("partner-") for i in shown] == expected
    lisbon = page.locator(f"#partner-{LISBON}")
    await expect(lisbon.get_by_role("heading", name="Web Lisbon")).to_be_visible()
    await expect(lisbon).to_contain_text("Portugal")
    await expect(lisbon.locator("ul.reasons li").first).to_be_visible()
    for reason in await lisbon.locator("ul.reasons li").all_inner_texts():
        assert re.fullmatch(r"[A-Z].*[.”)]", reason, re.DOTALL), reason
    await look(page, "hub-partners")

    await page.get_by_role("link", name=re.compile("^Within my region")).click()
    await page.wait_for_url(re.compile(r"scope=region"))
    in_region = await cards.evaluate_all("els => els.map(e => e.id)")
    assert f"partner-{ACCRA}" in in_region
    assert f"partner-{LISBON}" not in in_region
    await expect(page.get_by_role("link", name=re.compile("^Within my region"))).to_have_attribute(
        "aria-current", "page"
    )
    await look(page, "hub-partners-region")

    await page.get_by_role("link", name="Anywhere").click()
    await lisbon.get_by_role("button", name=re.compile("^Accept")).click()
    status = page.locator(f"#partner-{LISBON} [role=status]")
    await expect(status).to_contain_text("Accepted")  # in place of the card, at once
    await expect(status).to_be_focused()

    other = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/partners", LISBON)
    await (
        other.locator(f"#partner-{NAIROBI}")
        .get_by_role("button", name=re.compile("^Accept"))
        .click()
    )
    await expect(other.locator(f"#partner-{NAIROBI} [role=status]")).to_contain_text(
        "You both accepted"
    )
    await look(other, "hub-partners-accepted")


async def test_accept_and_dismiss_work_without_javascript(
    web_stack: WebStack, partner_hubs: dict[str, Any], visitor: Visit
) -> None:
    page = await sign_in_as_hub(
        await visitor(javascript=False), web_stack.web, "/hub/partners", ACCRA
    )
    first = page.locator("ol.cards > li.card").first
    partner = str(await first.get_attribute("id")).removeprefix("partner-")
    await first.get_by_role("button", name=re.compile("^Dismiss")).click()
    await page.wait_for_url(re.compile(r"done=dismiss"))
    await expect(page.get_by_role("status")).to_contain_text("Dismissed")
    await expect(page.locator(f"#partner-{partner}")).to_have_count(0)


async def test_a_hub_posts_and_edits_a_project(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    hub_id = "web-hub-projects"
    page = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/projects", hub_id)
    await expect(page.get_by_role("link", name="Save your hub's profile")).to_be_visible()
    async with httpx.AsyncClient(timeout=15) as http:
        put = await http.put(
            f"{web_stack.api('profiles')}/v1/hubs/{hub_id}",
            json=HUBS[NAIROBI],
            headers=as_hub(hub_id),
        )
        assert put.status_code == 201, put.text
    await page.reload()
    await page.get_by_role("link", name="New project").click()
    await page.get_by_label("Title").fill("Drought watch for Turkana")
    await page.get_by_label("Description").fill("An early-warning map from satellite images.")
    await page.get_by_label("Volunteer").check()
    await page.get_by_label("Skills, in your words").fill("Sentinel-2 processing")
    await page.get_by_label("13. Climate action").check()
    await page.get_by_label("Languages").fill("en, elvish")
    await page.get_by_role("button", name="Save project").click()
    await expect(page.get_by_label("Languages")).to_have_attribute("aria-invalid", "true")
    await look(page, "hub-project-with-error")
    await page.get_by_label("Languages").fill("en, sw")
    await page.get_by_role("button", name="Save project").click()

    await expect(page.get_by_role("status")).to_have_text("“Drought watch for Turkana” is saved.")
    card = page.locator("#project-drought-watch-for-turkana")
    await expect(card).to_contain_text("Open")
    await expect(card).to_contain_text("Volunteer")
    await look(page, "hub-projects")
    await card.get_by_role("link", name=re.compile("^Edit")).click()
    await expect(page.get_by_role("heading", name="Edit project")).to_be_visible()
    await expect(page.get_by_label("Title")).to_have_value("Drought watch for Turkana")
    await look(page, "hub-project-edit")
    await page.get_by_role("checkbox", name=re.compile("^Open")).uncheck()
    await page.get_by_role("button", name="Save project").click()
    await expect(page.locator("#project-drought-watch-for-turkana")).to_contain_text("Closed")
    async with httpx.AsyncClient(timeout=15) as http:
        stored = (
            await http.get(
                f"{web_stack.api('profiles')}/v1/hubs/{hub_id}/projects",
                headers=as_hub(hub_id),
            )
        ).json()["items"]
    assert [(p["project_id"], p["version"], p["project"]["open"]) for p in stored] == [
        ("drought-watch-for-turkana", 2, False)
    ]
    assert stored[0]["project"]["languages"] == ["en", "sw"]


async def test_the_shortlist_is_one_list_for_every_leader_of_the_hub(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    hub_id = "web-hub-shortlist"
    first = await sign_in_as_hub(await visitor(), web_stack.web, "/hub/search", hub_id)
    await first.get_by_label("What are you looking for?").fill("machine learning")
    await first.get_by_role("button", name="Search", exact=True).click()
    results = first.locator("ol.results > li.card")
    for i in (0, 1):
        await results.nth(i).get_by_role("button", name=re.compile("^Add to shortlist")).click()
        await expect(
            results.nth(i).get_by_role("button", name=re.compile("^On the shortlist"))
        ).to_be_visible()
    await expect(first.locator("#shortlist-count")).to_have_text(re.compile(r"^2"))
    ids = [
        str(i).removeprefix("result-")
        for i in await results.evaluate_all("els => els.map(e => e.id)")
    ][:2]

    # Another leader, in another browser, signed in with their own token for the same hub.
    second = await sign_in_as_leader(
        await visitor(), web_stack.web, "/hub/shortlist", hub_id, "leader-two"
    )
    listed = second.locator("ol.cards > li.card")
    await expect(listed).to_have_count(2)
    assert sorted(
        str(i).removeprefix("shortlisted-")
        for i in await listed.evaluate_all("els => els.map(e => e.id)")
    ) == sorted(ids)
    await expect(second.locator("footer")).to_contain_text("leader-two")
    await look(second, "hub-shortlist-second-leader")
    await (
        second.locator(f"#shortlisted-{ids[0]}")
        .get_by_role("button", name=re.compile("^Remove"))
        .click()
    )
    await expect(second.locator("ol.cards > li.card")).to_have_count(1)

    # The first leader's browser holds no copy: a reload shows the list as it is now.
    await first.goto(f"{web_stack.web}/hub/shortlist")
    await expect(first.locator("ol.cards > li.card")).to_have_count(1)
    await expect(first.locator(f"#shortlisted-{ids[1]}")).to_be_visible()
    await expect(first.locator("#shortlist-count")).to_have_text(re.compile(r"^1"))
    cookies = {c["name"] for c in await first.context.cookies()}
    assert "nnmatch_shortlist" not in cookies
    async with httpx.AsyncClient(timeout=15) as http:
        api = (
            await http.get(
                f"{web_stack.api('profiles')}/v1/hubs/{hub_id}/shortlist", headers=as_hub(hub_id)
            )
        ).json()
    assert [s["member_id"] for s in api["items"]] == [ids[1]]


async def test_hub_pages_tell_a_member_they_belong_to_a_hub(
    web_stack: WebStack, visitor: Visit
) -> None:
    context = await visitor()
    page = await context.new_page()
    await page.goto(f"{web_stack.web}/sign-in")
    await page.get_by_label("Member id").fill(web_stack.members[0].member_id)
    await page.get_by_role("button", name="Sign in as this member").click()
    for path in ("/hub/profile", "/hub/partners", "/hub/projects", "/hub/shortlist"):
        response = await page.goto(f"{web_stack.web}{path}")
        assert response is not None
        assert response.status == 403, path
        await expect(page.get_by_role("heading", name="Hubs only")).to_be_visible()
