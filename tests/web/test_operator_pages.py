"""The operators' pages in Chromium against the real stack: member lookup (profile, index and
list, who lists them, inbox and delivery by channel; contact details only on request) and the
audit trail that records it. Members and hubs are refused both."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import expect

from tests.support import KOFI, as_member, as_operator
from tests.web.conftest import PAIR, Look, Visit, WebStack, api_matches, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REFUSED = re.compile("This is not yours|Operators only")


async def test_an_operator_looks_a_member_up_and_asks_for_their_contact(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    amina = PAIR[0]
    email = "web-amina@example.org"
    async with httpx.AsyncClient(base_url=web_stack.api("notifications")) as http:
        saved = await http.put(
            f"/v1/members/{amina}/contact", json={"email": email}, headers=as_member(amina)
        )
        assert saved.status_code == 200, saved.text
    listed = await api_matches(web_stack, amina)
    assert listed

    page = await sign_in(
        await visitor(), web_stack.web, f"/operators/members/{amina}", "Sign in as an operator"
    )
    await expect(page.locator("#profile-version")).to_contain_text("1")
    await expect(page.locator("#indexed")).to_contain_text("yes, profile version 1")
    await expect(page.locator("table.lookup-list")).to_contain_text(listed[0])
    await expect(page.locator("#exposure")).to_contain_text("members' lists")
    await expect(page.locator("#channel-email")).to_contain_text("yes")  # on file
    await expect(page.locator("#inbox-counts")).to_contain_text("items")
    assert email not in await page.locator("main").inner_text()
    await look(page, "operator-lookup")

    async with page.expect_download() as download_info:
        await page.locator("#export-link").click()
    exported = json.loads((await (await download_info.value).path()).read_text())
    assert exported["profiles"]["stores"]["profile:{m}"]["json"]["member_id"] == amina
    assert exported["notifications"]["contact"]["email"] == email
    assert exported["matching"]["stores"]["matches:{m}"]["suggestions"]

    await page.get_by_role("button", name="Show contact details").click()
    await expect(page.locator("#contact-details")).to_contain_text(email)

    await page.get_by_role("link", name="audit trail").click()
    await page.wait_for_url(f"**/operators/audit?member={amina}")
    await expect(page.locator("table.audit")).to_contain_text("contact read")
    await expect(page.locator("table.audit")).to_contain_text("member lookup")
    await expect(page.locator("table.audit")).to_contain_text("export")
    assert email not in await page.locator("main").inner_text()
    await look(page, "operator-audit")

    await page.goto(f"{web_stack.web}/operators/members")
    await page.get_by_label("Or part of their name").fill("kofi mens")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#named")).to_contain_text(PAIR[1])
    await look(page, "operator-find-by-name")
    await page.get_by_label("Member id").fill(PAIR[1])
    await page.get_by_role("button", name="Look up").click()
    await page.wait_for_url(f"**/operators/members/{PAIR[1]}")
    await expect(page.get_by_role("heading", name=f"Member {PAIR[1]}")).to_be_visible()


async def test_members_and_hubs_cannot_open_the_operators_pages(
    web_stack: WebStack, visitor: Visit
) -> None:
    member = await sign_in(
        await visitor(), web_stack.web, f"/members/{PAIR[1]}/inbox", "Sign in as this member"
    )
    hub = await sign_in(await visitor(), web_stack.web, "/hub/search", "Sign in as this hub")
    for page in (member, hub):
        for path in ("/operators/audit", f"/operators/members/{PAIR[0]}", "/operators/members"):
            response = await page.goto(f"{web_stack.web}{path}")
            assert response is not None
            assert response.status == 403, path
            heading = page.get_by_role("heading", name=REFUSED)
            await expect(heading).to_be_visible()
            assert "web-amina@example.org" not in await page.content()


async def test_a_member_downloads_their_own_data_and_not_anothers(
    web_stack: WebStack, visitor: Visit
) -> None:
    me, other = PAIR[1], PAIR[0]
    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{me}/profile", "Sign in as this member"
    )
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download everything nnmatch holds about you").click()
    download = await download_info.value
    exported = json.loads((await download.path()).read_text())

    assert download.suggested_filename == f"nnmatch-{me}.json"
    assert exported["member_id"] == me
    assert exported["profiles"]["stores"]["profile:{m}"]["json"]["profile"]["bio"]
    assert "audit" in exported["profiles"]
    response = await page.goto(f"{web_stack.web}/members/{other}/export.json")
    assert response is not None
    assert response.status == 403


async def test_an_operator_erases_a_member_on_request_after_confirming(
    web_stack: WebStack, visitor: Visit
) -> None:
    doomed = "web-erase-me"
    async with httpx.AsyncClient(base_url=web_stack.api("profiles")) as http:
        put = await http.put(f"/v1/members/{doomed}", json=KOFI, headers=as_operator())
        assert put.status_code == 201, put.text
        page = await sign_in(
            await visitor(), web_stack.web, f"/operators/members/{doomed}", "Sign in as an operator"
        )
        await page.get_by_label("to confirm").fill("someone-else")
        await page.get_by_role("button", name=f"Erase {doomed} everywhere").click()
        await expect(page.get_by_role("alert").last).to_contain_text("nothing was erased")
        kept = await http.get(f"/v1/members/{doomed}", headers=as_operator())

        await page.get_by_label("to confirm").fill(doomed)
        await page.get_by_role("button", name=f"Erase {doomed} everywhere").click()
        await page.wait_for_url(f"**/operators/audit?member={doomed}&done=erased")
        gone = await http.get(f"/v1/members/{doomed}", headers=as_operator())

    assert kept.status_code == 200
    await expect(page.get_by_role("status")).to_contain_text("being erased")
    await expect(page.locator("table.audit tbody tr").first).to_contain_text("erasure")
    assert gone.status_code == 404
