"""Reports in Chromium against the real stack: a member reports a suggestion, an operator
suspends from the queue (the member leaves the reporter's list) and lifts it, another report is
dismissed, and each reporter finds the outcome in their inbox. Members and hubs are refused the
queue. Every page is screenshot at phone and laptop sizes with an axe check."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.support import as_member, eventually
from tests.web.conftest import PAIR, Look, Visit, WebStack, api_matches, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REFUSED = re.compile("This is not yours|Operators only")


async def test_a_member_reports_and_an_operator_suspends_then_lifts(
    web_stack: WebStack, visitor: Visit, look: Look
) -> None:
    amina, kofi = PAIR
    assert kofi in await api_matches(web_stack, amina)
    member = await sign_in(
        await visitor(), web_stack.web, f"/members/{amina}/matches", "Sign in as this member"
    )
    await member.get_by_role("link", name="Report Kofi Mensah").click()
    await member.wait_for_url(f"**/members/{amina}/report?target={kofi}&source=suggestion")
    await look(member, "report-form")
    await member.get_by_label("Spam or advertising").check()
    await member.get_by_label("In a few words").fill("Sends me adverts for paid courses")
    await member.get_by_role("button", name="Send the report").click()
    await expect(member.locator("#report-filed")).to_contain_text("Thank you")
    await look(member, "report-filed")
    # A second report about the same member waits for the first to be decided.
    await member.goto(f"{web_stack.web}/members/{amina}/report?target={kofi}&source=inbox")
    await member.get_by_label("Something else").check()
    await member.get_by_role("button", name="Send the report").click()
    await expect(member.locator("#report-error")).to_contain_text("already have an open report")

    operator = await sign_in(
        await visitor(), web_stack.web, "/operators/reports", "Sign in as an operator"
    )
    card = operator.locator("#report-queue li").filter(has_text=kofi)
    await expect(card).to_contain_text("Spam or advertising")
    await expect(card).to_contain_text("Sends me adverts for paid courses")
    await look(operator, "operator-reports")
    await card.get_by_role("button", name=f"Suspend {kofi}").click()
    await operator.wait_for_url("**/operators/reports?done=suspended")
    await expect(operator.get_by_role("status")).to_contain_text("Member suspended")
    await expect(operator.locator("#no-reports")).to_be_visible()

    async def gone() -> bool:
        return kofi not in await api_matches(web_stack, amina)

    await eventually(gone, 90)
    await operator.goto(f"{web_stack.web}/operators/members/{kofi}")
    await expect(operator.locator("#profile-suspended")).to_contain_text("yes")
    await operator.goto(f"{web_stack.web}/operators/reports")
    await member.goto(f"{web_stack.web}/members/{amina}/inbox")

    async def told() -> bool:
        await member.reload()
        return await member.get_by_text(f"Your report about member {kofi}").count() == 1

    await eventually(told, 60, interval=1)
    await expect(member.locator("main")).to_contain_text("suspended this member")
    await look(member, "inbox-report-outcome")

    await operator.get_by_label("Member id").fill(kofi)
    await operator.get_by_role("button", name="Lift the suspension").click()
    await operator.wait_for_url("**/operators/reports?done=unsuspended")
    await expect(operator.get_by_role("status")).to_contain_text("Suspension lifted")
    await operator.goto(f"{web_stack.web}/operators/members/{kofi}")
    await expect(operator.locator("#profile-suspended")).to_have_text("no")

    async def back() -> bool:
        return kofi in await api_matches(web_stack, amina)

    await eventually(back, 90)


async def test_an_operator_dismisses_a_report_from_an_inbox_item(
    web_stack: WebStack, visitor: Visit
) -> None:
    amina, kofi = PAIR
    async with httpx.AsyncClient(base_url=web_stack.api("profiles")) as http:
        filed = await http.post(
            f"/v1/members/{kofi}/reports",
            json={"target_id": amina, "source": "inbox", "reason": "other"},
            headers=as_member(kofi),
        )
    assert filed.status_code == 201, filed.text
    operator = await sign_in(
        await visitor(), web_stack.web, "/operators/reports", "Sign in as an operator"
    )
    await operator.get_by_role("button", name=f"Dismiss the report about {amina}").click()
    await operator.wait_for_url("**/operators/reports?done=dismissed")
    await expect(operator.get_by_role("status")).to_contain_text("Report dismissed")
    assert amina in await api_matches(web_stack, kofi)


async def test_members_and_hubs_cannot_open_the_report_queue(
    web_stack: WebStack, visitor: Visit
) -> None:
    member = await sign_in(
        await visitor(), web_stack.web, f"/members/{PAIR[1]}/inbox", "Sign in as this member"
    )
    hub = await sign_in(await visitor(), web_stack.web, "/hub/search", "Sign in as this hub")
    for page in (member, hub):
        response = await page.goto(f"{web_stack.web}/operators/reports")
        assert response is not None
        assert response.status == 403
        await expect(page.get_by_role("heading", name=REFUSED)).to_be_visible()
    other = await member.goto(f"{web_stack.web}/members/{PAIR[0]}/report?target={PAIR[1]}")
    assert other is not None
    assert other.status == 403
