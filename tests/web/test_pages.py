"""The web pages in a real browser (headless Chromium) against the real stack.

Members sign in and see matches with reasons; dismiss, block and accept with immediate feedback
(and the APIs agree); two members who accept each other both see the introduction; preferences
and profile edits are saved; a hub searches with filters, pages, shortlists and exports CSV; a
member who types another member's address is refused; operators see the status page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from nnmatch.auth import DEV_ISSUER, Role
from nnmatch_tools.ports import free_port
from nnmatch_web.bootstrap import build_app
from nnmatch_web.settings import WebSettings
from tests.support import as_hub, as_member, dev_tokens, eventually
from tests.web.conftest import PAIR, Look, Visit, WebStack, api_matches, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
async def matched(web_stack: WebStack) -> list[str]:
    """Seeded members with at least four matches, in id order: each test takes its own."""
    found = []
    for member in web_stack.members:
        if (
            member.member_id.startswith("w-")
            and len(await api_matches(web_stack, member.member_id)) >= 4
        ):
            found.append(member.member_id)
    assert len(found) >= 8, f"too few seeded members with matches: {found}"
    return found


async def _cards(page: Page) -> list[str]:
    ids = await page.locator("ol.cards > li.card").evaluate_all("els => els.map(e => e.id)")
    return [str(i).removeprefix("match-") for i in ids]


async def test_a_member_signs_in_and_sees_matches_with_reasons(
    web_stack: WebStack, matched: list[str], visitor: Visit, look: Look
) -> None:
    me = matched[0]
    context = await visitor()
    page = await context.new_page()
    await page.goto(f"{web_stack.web}/members/{me}/matches")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await expect(page.get_by_label("Member id")).to_have_value(me)  # offered from the address
    await look(page, "sign-in")
    await page.get_by_role("button", name="Sign in as this member").click()
    await page.wait_for_url(f"**/members/{me}/matches")

    await expect(page.get_by_role("heading", name="Your matches")).to_be_visible()
    await page.keyboard.press("Tab")  # keyboard: the first stop skips to the content
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    shown = await _cards(page)
    assert shown == (await api_matches(web_stack, me))[: len(shown)]
    first = page.locator("ol.cards > li.card").first
    await expect(first.locator("ul.reasons li").first).to_be_visible()
    # Each reason is a sentence that says who it is about; a quote is set apart with its owner.
    for reason in await page.locator("ul.reasons li").all_inner_texts():
        assert re.fullmatch(r"[A-Z].*[.”]", reason, re.DOTALL), reason
        assert "seek: " not in reason, reason
        assert "search: " not in reason, reason
        if "“" in reason:
            assert re.search(r"In .+ words: “[^”]+”$", reason), reason
    await expect(first.locator(".score")).to_have_text(re.compile(r"(Strong|Good|Possible) match"))
    await expect(first.locator(".points")).to_have_text(re.compile(r"\d{1,3} of 100"))
    await expect(page.locator("#unread-count")).to_have_text(re.compile(r"\d+"))
    await look(page, "matches")

    await first.locator("h2 a").click()  # the other member, as a member may see them
    await expect(page.locator("ul.reasons li").first).to_be_visible()
    await look(page, "member-card")

    await page.get_by_role("link", name="Inbox").click()
    await expect(
        page.get_by_role("heading", name=re.compile(r"Inbox \(\d+ unread\)"))
    ).to_be_visible()
    await look(page, "inbox")


async def test_dismissing_a_match_removes_it_for_good(
    web_stack: WebStack, matched: list[str], visitor: Visit, look: Look
) -> None:
    me = matched[1]
    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{me}/matches", "Sign in as this member"
    )
    candidate = (await _cards(page))[0]
    card = page.locator(f"#match-{candidate}")
    await card.get_by_role("button", name=re.compile("^Dismiss")).click()

    status = page.locator(f"#match-{candidate} [role=status]")
    await expect(status).to_contain_text("Dismissed")  # at once, in place of the card
    await expect(status).to_be_focused()  # keyboard and screen-reader users hear it
    await look(page, "matches-after-dismiss")
    await page.reload()
    await expect(page.get_by_role("heading", name="Your matches")).to_be_visible()
    assert candidate not in await _cards(page)
    assert candidate not in await api_matches(web_stack, me)


async def test_blocking_works_without_javascript(
    web_stack: WebStack, matched: list[str], visitor: Visit
) -> None:
    me = matched[2]
    context = await visitor(javascript=False)
    page = await sign_in(context, web_stack.web, f"/members/{me}/matches", "Sign in as this member")
    candidate = (await _cards(page))[0]
    await (
        page.locator(f"#match-{candidate}").get_by_role("button", name=re.compile("^Block")).click()
    )
    await page.wait_for_url(re.compile(r"done=block"))
    await expect(page.get_by_role("status")).to_contain_text("Blocked")
    assert candidate not in await _cards(page)
    assert candidate not in await api_matches(web_stack, me)


async def test_two_members_who_accept_each_other_both_see_the_introduction(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    amina, kofi = PAIR
    # Amina shares her e-mail in introductions through the page; Kofi through the API.
    page_a = await sign_in(
        await visitor(), web_stack.web, f"/members/{amina}/preferences", "Sign in as this member"
    )
    contact = page_a.locator("form#contact")
    await contact.get_by_label("E-mail", exact=True).fill("amina@example.org")
    await contact.get_by_label("Share my e-mail in introductions").check()
    await contact.get_by_role("button", name="Save contact details").click()
    await expect(page_a.get_by_role("status")).to_contain_text("contact details are saved")
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.put(
            f"{web_stack.api('notifications')}/v1/members/{kofi}/contact",
            json={"email": "kofi@example.org", "share_in_introductions": ["email"]},
            headers=as_member(kofi),
        )
        assert response.status_code == 200, response.text

    # Amina accepts from her matches; Kofi from his inbox.
    await page_a.goto(f"{web_stack.web}/members/{amina}/matches")
    await page_a.locator(f"#match-{kofi}").get_by_role("button", name=re.compile("^Accept")).click()
    await expect(page_a.locator(f"#match-{kofi} [role=status]")).to_contain_text("Accepted")
    page_k = await sign_in(
        await visitor(), web_stack.web, f"/members/{kofi}/inbox", "Sign in as this member"
    )
    item = page_k.locator("li.card", has=page_k.get_by_role("heading", name="Amina Yusuf"))
    await item.get_by_role("button", name=re.compile("^Accept")).click()
    await expect(page_k.locator("li.card [role=status]")).to_contain_text("Accepted")

    for page, me, other, email in (
        (page_a, amina, "Kofi Mensah", "kofi@example.org"),
        (page_k, kofi, "Amina Yusuf", "amina@example.org"),
    ):

        async def introduced(page: Page = page, me: str = me, other: str = other) -> bool:
            await page.goto(f"{web_stack.web}/members/{me}/introductions")
            return await page.locator("li.card.intro", has_text=other).count() == 1

        await eventually(introduced, timeout=30, interval=0.5)
        intro = page.locator("li.card.intro", has_text=other)
        await expect(intro.get_by_role("link", name=email)).to_have_attribute(
            "href", f"mailto:{email}"
        )
    await look(page_a, "introductions")
    await page_k.goto(f"{web_stack.web}/members/{kofi}/inbox")
    await expect(page_k.locator("li.card .pill.intro")).to_have_count(1)
    await look(page_k, "inbox-with-introduction")


async def test_quiet_hours_are_saved_in_the_members_time_zone(
    web_stack: WebStack, matched: list[str], visitor: Visit, look: Look
) -> None:
    me = matched[3]
    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{me}/preferences", "Sign in as this member"
    )
    await look(page, "preferences")
    form = page.locator("form#notifications")
    await form.get_by_label("No e-mail or webhook during these hours").check()
    await form.get_by_label("From").fill("22:30")
    await form.get_by_label("Until").fill("06:45")
    await form.get_by_label("Your time zone").select_option("Africa/Nairobi")
    await form.get_by_label("A daily digest").check()
    await form.get_by_role("button", name="Save preferences").click()
    await expect(page.get_by_role("status")).to_contain_text("preferences are saved")

    await page.reload()
    await expect(form.get_by_label("No e-mail or webhook during these hours")).to_be_checked()
    await expect(form.get_by_label("From")).to_have_value("22:30")
    await expect(form.get_by_label("Until")).to_have_value("06:45")
    await expect(form.get_by_label("Your time zone")).to_have_value("Africa/Nairobi")
    async with httpx.AsyncClient(timeout=15) as http:
        saved = (
            await http.get(
                f"{web_stack.api('notifications')}/v1/members/{me}/preferences",
                headers=as_member(me),
            )
        ).json()
    assert saved["quiet_hours"] == {"start": "22:30", "end": "06:45", "tz": "Africa/Nairobi"}
    assert saved["frequency"] == "daily"


async def test_a_member_edits_the_profile_and_a_mistake_is_explained(
    web_stack: WebStack, matched: list[str], visitor: Visit, look: Look
) -> None:
    me = matched[4]
    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{me}/profile", "Sign in as this member"
    )
    await look(page, "profile")
    await page.get_by_label("Languages").fill("en, klingon")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_role("alert").filter(has_text="Languages")).to_be_visible()
    await expect(page.get_by_label("Languages")).to_have_attribute("aria-invalid", "true")
    await look(page, "profile-with-error")

    await page.get_by_label("Languages").fill("en, fr")
    await page.get_by_label("About you").fill("I map flood risk from satellite images.")
    await page.get_by_label("13. Climate action").check()
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_role("status")).to_contain_text("profile is saved")
    async with httpx.AsyncClient(timeout=15) as http:
        stored = (
            await http.get(f"{web_stack.api('profiles')}/v1/members/{me}", headers=as_member(me))
        ).json()
    assert stored["profile"]["bio"] == "I map flood risk from satellite images."
    assert 13 in stored["profile"]["sdgs"]
    assert stored["profile"]["languages"] == ["en", "fr"]


async def test_a_member_who_types_another_members_address_is_refused(
    web_stack: WebStack, matched: list[str], visitor: Visit, look: Look
) -> None:
    me, other = matched[5], matched[6]
    page = await sign_in(
        await visitor(), web_stack.web, f"/members/{me}/inbox", "Sign in as this member"
    )
    for path in ("inbox", "preferences", "matches", "profile"):
        response = await page.goto(f"{web_stack.web}/members/{other}/{path}")
        assert response is not None
        assert response.status == 403, path
        await expect(page.get_by_role("heading", name="This is not yours")).to_be_visible()
        assert other not in await page.locator("main").inner_text()
    await look(page, "not-yours")
    response = await page.goto(f"{web_stack.web}/status")  # operators only
    assert response is not None
    assert response.status == 403


async def test_a_hub_searches_with_an_sdg_filter_pages_and_exports_a_shortlist(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    hub = "yail-nairobi"
    page = await sign_in(await visitor(), web_stack.web, "/hub/search", "Sign in as this hub")
    await page.get_by_label("What are you looking for?").fill("machine learning for climate")
    await page.get_by_label("13. Climate action").check()
    await page.get_by_role("button", name="Search", exact=True).click()
    await page.wait_for_url(re.compile(r"sdgs=13"))
    results = page.locator("ol.results > li.card")
    await expect(results.first).to_be_visible()
    await expect(page.locator("details.filters summary")).to_contain_text("SDG 13")
    ids = [
        str(i).removeprefix("result-")
        for i in await results.evaluate_all("els => els.map(e => e.id)")
    ]
    async with httpx.AsyncClient(timeout=15) as http:
        for member_id in ids:
            profile = (
                await http.get(
                    f"{web_stack.api('profiles')}/v1/members/{member_id}", headers=as_hub(hub)
                )
            ).json()["profile"]
            assert 13 in profile["sdgs"], (member_id, profile["sdgs"])
    for i in range(len(ids)):
        await expect(results.nth(i).locator("ul.reasons")).to_contain_text("SDG 13")
    await look(page, "hub-search")

    # Shortlist two, with immediate feedback, then export them.
    for i in (0, 1):
        await results.nth(i).get_by_role("button", name=re.compile("^Add to shortlist")).click()
        await expect(
            results.nth(i).get_by_role("button", name=re.compile("^On the shortlist"))
        ).to_be_visible()
    await expect(page.locator("#shortlist-count")).to_have_text(re.compile(r"^2"))

    # Paging: a broad search has a second page with other members.
    await page.goto(f"{web_stack.web}/hub/search?q=machine+learning")
    first_page = await results.evaluate_all("els => els.map(e => e.id)")
    await page.get_by_role("link", name="More results").click()
    await expect(results.first).to_be_visible()
    second_page = await results.evaluate_all("els => els.map(e => e.id)")
    assert second_page
    assert not set(first_page) & set(second_page)

    await page.get_by_role("link", name=re.compile("^Shortlist")).click()
    await expect(page.locator("ol.cards > li.card")).to_have_count(2)
    await look(page, "shortlist")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download as CSV").click()
    download = await download_info.value
    text = (await download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["member_id"] for r in rows) == sorted(ids[:2])
    assert all("13" in r["sdgs"].split() for r in rows)


async def test_an_operator_sees_what_the_services_report(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    page = await sign_in(await visitor(), web_stack.web, "/status", "Sign in as an operator")
    indexed = int(await page.locator("#members-indexed").inner_text())
    assert indexed >= len(web_stack.members)
    for name in ("web", "profiles", "matching", "notifications"):
        await expect(page.locator(f"#service-{name}")).to_contain_text("ready")
    await expect(page.locator("table.status").nth(1)).to_contain_text("nnmatch-embedder")
    await expect(page.get_by_role("link", name="Grafana dashboards")).to_have_attribute(
        "href", "http://grafana.example:3000"
    )
    await expect(page.get_by_role("link", name="Prometheus alerts")).to_have_attribute(
        "href", "http://prometheus.example:9090/alerts"
    )
    await expect(
        page.get_by_role("link", name="Product health by region and hub")
    ).to_have_attribute("href", "http://grafana.example:3000/d/nnmatch/nnmatch?viewPanel=26")
    await look(page, "status")


async def test_forms_from_elsewhere_are_refused(web_stack: WebStack, matched: list[str]) -> None:
    """Without this browser's anti-forgery token, or from another origin, nothing happens."""
    me = matched[7]
    async with httpx.AsyncClient(base_url=web_stack.web, timeout=15) as http:
        sign_in_page = await http.get("/sign-in")
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', sign_in_page.text)
        assert token is not None
        signed = await http.post(
            "/sign-in/dev", data={"csrf": token.group(1), "role": "member", "id": me}
        )
        assert signed.status_code == 303
        before = await api_matches(web_stack, me)
        attempts: list[dict[str, Any]] = [
            {"data": {"action": "dismiss"}},
            {"data": {"action": "dismiss", "csrf": "0" * 64}},
            {
                "data": {"action": "dismiss", "csrf": token.group(1)},
                "headers": {"origin": "https://evil.example"},
            },
        ]
        for attempt in attempts:
            response = await http.post(f"/members/{me}/matches/{before[0]}/feedback", **attempt)
            assert response.status_code == 403, attempt
            assert "We did not act on that form" in response.text
        await asyncio.sleep(1)
        assert before[0] in await api_matches(web_stack, me)
        done = await http.post(
            f"/members/{me}/matches/{before[0]}/feedback",
            data={"action": "dismiss", "csrf": token.group(1)},
        )
        assert done.status_code == 303
        assert before[0] not in await api_matches(web_stack, me)


async def test_production_sign_in_takes_the_identity_providers_token(
    web_stack: WebStack, matched: list[str]
) -> None:
    """Pasted into the form, or passed by a sign-in proxy in a header: verified, then used."""
    me = matched[0]
    token = dev_tokens().token(Role.MEMBER, me)  # as the identity provider would issue it
    async with httpx.AsyncClient(base_url=web_stack.web, timeout=15) as http:
        form = await http.get("/sign-in")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf is not None
        forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        refused = await http.post("/sign-in/token", data={"csrf": csrf[1], "token": forged})
        assert refused.status_code == 401
        assert "That token was refused" in refused.text
        assert "nnmatch_session" not in http.cookies
        signed = await http.post(
            "/sign-in/token",
            data={"csrf": csrf[1], "token": token, "next": f"/members/{me}/inbox"},
        )
        assert signed.status_code == 303
        assert signed.headers["location"] == f"/members/{me}/inbox"
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()
        assert (await http.get(f"/members/{me}/inbox")).status_code == 200

    settings = WebSettings(
        profiles_url=web_stack.api("profiles"),
        matching_url=web_stack.api("matching"),
        notifications_url=web_stack.api("notifications"),
        auth_jwks_file=web_stack.namespace.stack.jwks_file,
        auth_issuer=DEV_ISSUER,
        web_token_header="X-Forwarded-Access-Token",
    )
    app = build_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://web.test"
    ) as proxied:
        page = await proxied.get(
            f"/members/{me}/matches", headers={"x-forwarded-access-token": token}
        )
        assert page.status_code == 200
        assert "Your matches" in page.text
        anonymous = await proxied.get(f"/members/{me}/matches")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/sign-in?next=")
    await app.state.apis.aclose()


async def test_a_service_that_is_away_gets_try_again_not_a_crash(
    web_stack: WebStack, matched: list[str]
) -> None:
    me = matched[0]
    settings = WebSettings(
        profiles_url=web_stack.api("profiles"),
        matching_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        notifications_url=web_stack.api("notifications"),
        auth_jwks_file=web_stack.namespace.stack.jwks_file,
        auth_issuer=DEV_ISSUER,
        web_token_header="X-Forwarded-Access-Token",
    )
    app = build_app(settings)
    member = {"x-forwarded-access-token": dev_tokens().token(Role.MEMBER, me)}
    operator = {"x-forwarded-access-token": dev_tokens().token(Role.OPERATOR)}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://web.test"
    ) as http:
        page = await http.get(f"/members/{me}/matches", headers=member)
        assert page.status_code == 503
        assert "Please try again in a moment" in page.text
        assert page.headers["retry-after"]
        assert (await http.get(f"/members/{me}/inbox", headers=member)).status_code == 200
        status = await http.get("/status", headers=operator)
        assert status.status_code == 200
        assert re.search(r'id="service-matching".*?unreachable', status.text, re.S)
    await app.state.apis.aclose()
