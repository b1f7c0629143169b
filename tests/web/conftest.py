"""One real stack for every browser test: the four services as processes, seeded members, and
headless Chromium (Debian's, never a downloaded build) driven by playwright.

Starting the services and running the pipeline is most of the time, so they start once for
the module and every test signs in as its own members (no test changes what another one reads).
Each page a test opens is screenshot at phone and laptop sizes into the artifacts directory,
and axe-core checks it: a serious or critical violation fails the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from nnmatch.profile import BulkProfileLine
from nnmatch_tools import devstack
from nnmatch_tools.client import NnmatchClient
from nnmatch_tools.demo import wait_for_pipeline
from nnmatch_tools.launcher import ServiceGroup
from nnmatch_tools.seed import generate_members
from tests.support import (
    AMINA,
    KOFI,
    STATE_DIR,
    Namespace,
    as_member,
    dev_tokens,
    forget,
    new_namespace,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = (
    Path(os.environ.get("NNMATCH_TEST_ARTIFACTS") or ROOT / ".nnmatch" / "test-artifacts") / "web"
)
SEEDED = 60
PAIR = ("web-amina", "web-kofi")  # two members who want each other (the e2e flow's pair)
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "laptop": {"width": 1366, "height": 900},
}
FAILING_IMPACTS = ("serious", "critical")
_looked: list[str] = []


@dataclass(frozen=True)
class WebStack:
    services: ServiceGroup
    namespace: Namespace
    members: list[BulkProfileLine]

    @property
    def web(self) -> str:
        return self.services["web"].url

    def api(self, name: str) -> str:
        return self.services[name].url


def _chromium() -> str:
    """Debian's chromium; its absence fails the run (tests never skip: `make test` installs
    it, see tools/system-packages)."""
    path = os.environ.get("NNMATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("no chromium: run `make system-packages` (or `apt-get install chromium`)")
    return path


@pytest.fixture(scope="module")
def web_stack(
    stack: devstack.DevStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    namespace = new_namespace(stack)
    logs = Path(tmp_path_factory.mktemp("web-service-logs"))
    group = ServiceGroup.create(
        logs, ports=dict.fromkeys(("profiles", "matching", "notifications", "web"), 0)
    )
    env = namespace.env() | {
        "NNMATCH_LOG_FORMAT": "json",
        "NNMATCH_WEB_DEV_AUTH_DIR": str(devstack.dev_auth_dir(STATE_DIR).resolve()),
        "NNMATCH_GRAFANA_URL": "http://grafana.example:3000",
        "NNMATCH_PROMETHEUS_URL": "http://prometheus.example:9090",
        # The seeded members come by bulk import; the pages are tested on inboxes that hold
        # their suggestions as soon as the pipeline caught up (no quiet-import hold).
        "NNMATCH_NOTIFY_SETTLE_SECONDS": "0",
        # Hub partner lists follow the hubs the hub pages' tests write within a second.
        "NNMATCH_HUB_RECOMPUTE_INTERVAL_S": "0.5",
    }
    members = [
        *generate_members(SEEDED, seed=11, id_prefix="w-"),
        BulkProfileLine.model_validate(AMINA | {"member_id": PAIR[0]}),
        BulkProfileLine.model_validate(KOFI | {"member_id": PAIR[1]}),
    ]
    try:
        group.start(env, timeout=180)
        client = NnmatchClient(dev_tokens(), group["profiles"].url)
        try:
            assert client.bulk_import(members)["accepted"] == len(members)
        finally:
            client.close()
        wait_for_pipeline(
            group["matching"].url, group["notifications"].url, len(members), timeout=240
        )
        yield WebStack(group, namespace, members)
    finally:
        group.stop()
        asyncio.run(forget(namespace))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = _chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


Visit = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def visitor(browser: Browser) -> AsyncIterator[Visit]:
    """Fresh browser contexts (one per person), closed after the test."""
    contexts: list[BrowserContext] = []

    async def new(javascript: bool = True) -> BrowserContext:
        context = await browser.new_context(
            viewport=VIEWPORTS["laptop"], java_script_enabled=javascript, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        await context.close()


async def sign_in(context: BrowserContext, base: str, target: str, button: str) -> Page:
    """Open `target`, get sent to the sign-in page, sign in with the dev stack's button."""
    page = await context.new_page()
    await page.goto(f"{base}{target}")
    assert "/sign-in" in page.url, page.url
    await page.get_by_role("button", name=button).click()
    await page.wait_for_url(re.compile(re.escape(target.split("?")[0])))
    return page


Look = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def look(axe: Axe, request: pytest.FixtureRequest) -> Look:
    """Screenshot the page at phone and laptop sizes, and fail on serious axe violations."""

    async def check(page: Page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        report: dict[str, Any] = {"url": page.url, "violations": {}}
        for size, viewport in VIEWPORTS.items():
            await page.set_viewport_size(viewport)
            await page.screenshot(path=ARTIFACTS / f"{name}-{size}.png", full_page=True)
            result = await axe.run(page)
            violations = result.response["violations"]
            report["violations"][size] = [
                {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations
            ]
            problems += [
                f"{size}: {v['id']} ({v['impact']}) {v['help']} at "
                f"{[n['target'] for n in v['nodes'][:3]]}"
                for v in violations
                if v["impact"] in FAILING_IMPACTS
            ]
        await page.set_viewport_size(VIEWPORTS["laptop"])
        (ARTIFACTS / f"{name}-axe.json").write_text(json.dumps(report, indent=2))
        _looked.append(name)
        assert not problems, f"accessibility of {name} ({page.url}):\n" + "\n".join(problems)

    return check


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _looked:
        terminalreporter.write_line(
            f"web pages: {len(_looked)} screenshot at phone and laptop sizes, with axe reports, "
            f"in {ARTIFACTS}"
        )


async def api_matches(stack: WebStack, member_id: str) -> list[str]:
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.get(
            f"{stack.api('matching')}/v1/members/{member_id}/matches",
            params={"limit": 100},
            headers=as_member(member_id),
        )
    response.raise_for_status()
    return [item["member_id"] for item in response.json()["items"]]
