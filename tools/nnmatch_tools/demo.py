"""`nnmatch demo` and `nnmatch up`: the whole system on the embedded defaults, end to end.

The demo starts the dev stack, the three services and the web pages, prints the pages' addresses
(a seeded member's matches, the hub search) so a person can watch, loads seeded members through
the bulk API, waits until every stage has caught up, shows one member's matches and inbox, and
stops what it started (its topics and Redis keys carry a run prefix, so nothing of it is left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnmatch.auth import DevTokens
from nnmatch.profile import BulkProfileLine
from nnmatch.reasons import reason_sentence
from nnmatch.settings import KafkaSettings
from nnmatch_tools import devstack
from nnmatch_tools.cleanup import forget_prefix
from nnmatch_tools.client import ApiError, NnmatchClient, metric_sum, scrape
from nnmatch_tools.launcher import ServiceGroup
from nnmatch_tools.seed import generate_members
from nnmatch_tools.seed_hubs import SeededHub, generate_hubs

log = logging.getLogger(__name__)

CONSUMED = "nnmatch_kafka_records_consumed_total"
LAG = "nnmatch_kafka_consumer_lag_records"
QUEUED = "nnmatch_matcher_queued_members"
STREAMING = "nnmatch_matcher_import_streaming"


class PipelineTimeout(RuntimeError):
    """The pipeline did not catch up in time; names the stage that lagged."""


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def upload_members(
    client: NnmatchClient,
    members: list[BulkProfileLine],
    chunk: int,
    advance: Callable[[int], None],
) -> int:
    """Bulk-import in chunks; returns how many were accepted."""
    accepted = 0
    for start in range(0, len(members), chunk):
        result = client.bulk_import(members[start : start + chunk])
        if result["rejected"]:
            raise RuntimeError(f"seed lines rejected: {result['rejected'][:3]}")
        accepted += int(result["accepted"])
        advance(len(members[start : start + chunk]))
    return accepted


def upload_hubs(
    client: NnmatchClient, hubs: Sequence[SeededHub], advance: Callable[[int], None]
) -> int:
    """Write each seeded hub's profile, then its projects; returns how many projects."""
    projects = 0
    for seeded in hubs:
        client.put_hub(seeded.hub_id, seeded.hub)
        for project in seeded.projects:
            client.put_project(seeded.hub_id, project.project_id, project.project)
        projects += len(seeded.projects)
        advance(1)
    return projects


def wait_for_pipeline(
    matching_url: str | Sequence[str],
    notifications_url: str,
    expected: int,
    timeout: float,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Until the embedder and matcher consumed `expected` records, every lag is 0, no import
    streams in (a bulk import's lists, even its scans, wait for it to pause) and the matcher's
    background queue is empty, stably. `matching_url`: the matching service, or its processes
    (an embedder and a matcher)."""
    matching_urls = [matching_url] if isinstance(matching_url, str) else list(matching_url)
    deadline = time.monotonic() + timeout
    stable = 0
    last_delivered = -1.0
    while time.monotonic() < deadline:
        matching = scrape(*matching_urls)
        notifications = scrape(notifications_url)
        embedded = int(metric_sum(matching, CONSUMED, group="nnmatch-embedder"))
        indexed = int(metric_sum(matching, CONSUMED, group="nnmatch-matcher"))
        if on_progress:
            on_progress(embedded, indexed)
        delivered = metric_sum(notifications, CONSUMED)
        lag = metric_sum(matching, LAG) + metric_sum(notifications, LAG)
        queued = metric_sum(matching, QUEUED)  # lists an import left for when it pauses
        queued += metric_sum(matching, STREAMING)  # the import has not paused yet
        caught_up = embedded >= expected and indexed >= expected and lag == 0 and queued == 0
        stable = stable + 1 if caught_up and delivered == last_delivered else 0
        last_delivered = delivered
        if stable >= 3:
            return
        time.sleep(1.0)
    raise PipelineTimeout(
        f"after {timeout:.0f} s: embedded {embedded}/{expected}, indexed {indexed}/{expected}, "
        f"lag {lag:.0f}, {queued:.0f} lists queued (or an import still streaming); see the "
        "service logs"
    )


def wait_for_inbox(client: NnmatchClient, member_id: str, timeout: float) -> None:
    """Until the member's inbox has items: an import's suggestions arrive once lists settle
    (NNMATCH_NOTIFY_SETTLE_SECONDS after the last change), not while it runs."""
    deadline = time.monotonic() + timeout
    while not client.inbox(member_id, limit=1)["items"] and time.monotonic() < deadline:
        time.sleep(1)


def show_member(console: Console, client: NnmatchClient, member_id: str, name: str) -> None:
    matches = client.matches(member_id, limit=10)
    table = Table(title=f"Top matches for {name} ({member_id})", show_lines=False)
    for column in ("#", "member", "country", "score", "why"):
        table.add_column(column)
    for i, item in enumerate(matches["items"], start=1):
        why = item["reasons"][0]["text"] if item["reasons"] else ""
        table.add_row(
            str(i), item["display_name"], item["country"], f"{item['score']:.3f}", why[:80]
        )
    console.print(table)
    inbox = client.inbox(member_id, limit=10)
    table = Table(title=f"Inbox of {name}: {inbox['unread']} unread")
    for column in ("received", "suggestion", "score", "why"):
        table.add_column(column)
    for item in inbox["items"]:
        suggestion = item["suggestion"]
        why = suggestion["reasons"][0]["text"] if suggestion["reasons"] else ""
        table.add_row(
            item["created_at"][11:19],
            suggestion["display_name"],
            f"{suggestion['score']:.3f}",
            why[:80],
        )
    console.print(table)


def wait_for_hub_partners(client: NnmatchClient, hub_id: str, timeout: float) -> dict[str, Any]:
    """Until the hub's partner list reflects its members (recomputed at most every
    NNMATCH_HUB_RECOMPUTE_INTERVAL_S once their vectors arrived), or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.hub_partners(hub_id)
        kinds = {r["kind"] for item in page["items"] for r in item["reasons"]}
        if "members_offer_meets_seek" in kinds or time.monotonic() > deadline:
            return page
        time.sleep(1)


def show_hub_partners(console: Console, client: NnmatchClient, hub: SeededHub) -> None:
    """One hub's top partner hubs, each with its reasons as sentences."""
    page = wait_for_hub_partners(client, hub.hub_id, timeout=90)
    table = Table(title=f"Top partner hubs for {hub.hub.name} ({hub.hub.country})", show_lines=True)
    for column in ("#", "hub", "country", "score", "why"):
        table.add_column(column)
    for i, item in enumerate(page["items"][:5], start=1):
        why = "\n".join(reason_sentence(r, item["name"]) for r in item["reasons"])
        table.add_row(str(i), item["name"], item["country"], f"{item['score']:.3f}", why)
    console.print(table)


def wait_for_project_candidates(
    client: NnmatchClient, hub_id: str, project_id: str, timeout: float
) -> dict[str, Any]:
    """Until matching has the project and ranks someone for it, or the timeout (then the
    last answer, or an empty page if it never knew the project)."""
    deadline = time.monotonic() + timeout
    page: dict[str, Any] = {"items": []}
    while True:
        with contextlib.suppress(ApiError):  # 404 until the hubs role consumed the project
            page = client.project_candidates(hub_id, project_id)
        if page["items"] or time.monotonic() > deadline:
            return page
        time.sleep(1)


def show_project_candidates(
    console: Console, client: NnmatchClient, hubs: Sequence[SeededHub]
) -> tuple[str, str] | None:
    """One open seeded project's top candidates, each with its reasons as sentences; returns
    the first candidate's member id and name (None: no open project, or no candidate)."""
    hub, project = next(((h, p) for h in hubs for p in h.projects if p.project.open), (None, None))
    if hub is None or project is None:
        return None
    page = wait_for_project_candidates(client, hub.hub_id, project.project_id, timeout=90)
    table = Table(
        title=f"Top candidates for {hub.hub.name}'s project “{project.project.title}”",
        show_lines=True,
    )
    for column in ("#", "member", "country", "score", "why"):
        table.add_column(column)
    for i, item in enumerate(page["items"][:5], start=1):
        why = "\n".join(reason_sentence(r, item["display_name"]) for r in item["reasons"])
        table.add_row(str(i), item["display_name"], item["country"], f"{item['score']:.3f}", why)
    console.print(table)
    first = page["items"][0] if page["items"] else {}
    if not first.get("member_id"):
        return None
    return str(first["member_id"]), str(first["display_name"])


def show_member_projects(
    console: Console, client: NnmatchClient, member_id: str, name: str
) -> None:
    """One member's top open projects, each reason a sentence about the project (whose words
    a quote is, cut at a word)."""
    with contextlib.suppress(ApiError):  # 503 where the hubs role does not run
        page = client.member_projects(member_id, limit=5)
        table = Table(title=f"Top projects for {name} ({member_id})", show_lines=True)
        for column in ("#", "project", "hub", "score", "why"):
            table.add_column(column)
        for i, item in enumerate(page["items"], start=1):
            why = "\n".join(reason_sentence(r, item["title"]) for r in item["reasons"])
            hub = item.get("hub_name") or item["hub_id"]
            table.add_row(str(i), item["title"], hub, f"{item['score']:.3f}", why)
        console.print(table)


@contextmanager
def running_system(
    console: Console, state_dir: Path, run_id: str | None = None
) -> Iterator[tuple[ServiceGroup, dict[str, str]]]:
    """Dev stack + the services and the web pages; on exit stops the services, and the stack if
    we started it. The web pages sign anyone in with the dev key: this is the dev stack."""
    had_stack = any(s.alive for s in devstack.status(state_dir))
    stack = devstack.up(state_dir)
    env = dict(stack.env()) | {
        "NNMATCH_WEB_DEV_AUTH_DIR": str(devstack.dev_auth_dir(state_dir).resolve())
    }
    if run_id:
        env |= {"NNMATCH_TOPIC_PREFIX": f"{run_id}.", "NNMATCH_REDIS_PREFIX": f"nnmatch:{run_id}:"}
    group = ServiceGroup.create(state_dir / "logs" / (run_id or "up"))
    try:
        with console.status(
            "starting profiles, matching (loading the model), notifications, web pages…"
        ):
            group.start(env)
        yield group, env
    finally:
        with console.status("stopping services…"):
            group.stop()
        if run_id:
            _forget_run(env)
        if not had_stack:
            devstack.down(state_dir)


def _forget_run(env: dict[str, str]) -> None:
    """Remove the run's Redis keys and topics (the prefix makes them the run's alone)."""
    kafka = KafkaSettings(
        bootstrap_servers=env["NNMATCH_KAFKA_BOOTSTRAP_SERVERS"],
        enable_idempotence=False,
        partitions=1,
        replication_factor=1,
        topic_prefix=env["NNMATCH_TOPIC_PREFIX"],
        client_id="nnmatch-demo",
    )
    try:
        asyncio.run(forget_prefix(kafka, env["NNMATCH_REDIS_URL"], env["NNMATCH_REDIS_PREFIX"]))
    except Exception as exc:  # the embedded broker may be gone already, and its topics with it
        log.info("demo run not fully forgotten: %s", exc)


def run_demo(console: Console, members: int, state_dir: Path, keep_running: bool) -> None:
    run_id = f"demo{os.getpid()}x{int(time.time())}"
    seeded = list(generate_members(members))
    started = time.monotonic()
    with running_system(console, state_dir, run_id) as (group, _env):
        client = NnmatchClient(
            DevTokens(devstack.dev_auth_dir(state_dir)),
            group["profiles"].url,
            group["matching"].url,
            group["notifications"].url,
        )
        print_pages(console, group, seeded[0].member_id)
        with progress_bar(console) as progress:
            upload = progress.add_task("bulk import (profiles API)", total=members)
            embed = progress.add_task("embedded (sentence-transformers)", total=members)
            index = progress.add_task("indexed + matched (FAISS)", total=members)
            upload_members(client, seeded, 500, lambda n: progress.advance(upload, n))
            hubs = generate_hubs(seeded)
            hub_upload = progress.add_task("hubs and projects", total=len(hubs))
            upload_hubs(client, hubs, lambda n: progress.advance(hub_upload, n))

            def show_stage_progress(embedded: int, indexed: int) -> None:
                progress.update(embed, completed=min(embedded, members))
                progress.update(index, completed=min(indexed, members))

            wait_for_pipeline(
                group["matching"].url,
                group["notifications"].url,
                members,
                timeout=900,
                on_progress=show_stage_progress,
            )
        console.print(
            f"[bold green]{members} members went through profiles → Kafka → embedder → FAISS → "
            f"matches → inbox in {time.monotonic() - started:.0f} s[/]"
        )
        shown = next(
            (m for m in seeded if len(client.matches(m.member_id)["items"]) >= 5), seeded[0]
        )
        with console.status("waiting for the settled suggestions (imports are quiet)"):
            wait_for_inbox(client, shown.member_id, timeout=180)
        show_member(console, client, shown.member_id, shown.display_name)
        if hubs:
            with console.status("waiting for the hub partner lists"):
                show_hub_partners(console, client, hubs[0])
            with console.status("waiting for a project's candidates"):
                candidate = show_project_candidates(console, client, hubs)
            if candidate is not None:
                show_member_projects(console, client, *candidate)
        if keep_running:
            print_addresses(console, group)
            print_pages(console, group, shown.member_id)
            console.print("Running until Ctrl-C…")
            _wait_for_interrupt()
        else:
            console.print(
                "The system stops now; `nnmatch demo --keep-running` (or `make up`) keeps it up "
                "to look at the pages."
            )
        client.close()


def print_addresses(console: Console, group: ServiceGroup) -> None:
    for name, service in group.services.items():
        if name == "web":
            console.print(f"  {name:<14} {service.url}   (the web pages)", soft_wrap=True)
        else:
            console.print(
                f"  {name:<14} {service.url}   (API docs: {service.url}/docs)", soft_wrap=True
            )


def page_addresses(group: ServiceGroup, member_id: str) -> dict[str, str]:
    """The pages a person opens to look: a member's matches, the hub search, the status page."""
    web = group["web"].url
    return {
        "member page": f"{web}/members/{member_id}/matches",
        "hub search": f"{web}/hub/search?q=climate+data&sdgs=13",
        "status": f"{web}/status",
    }


def print_pages(console: Console, group: ServiceGroup, member_id: str) -> None:
    if "web" not in group.services:
        return
    console.print(
        "[bold]Web pages[/] (dev stack: one click signs you in as the member, a hub "
        "or an operator):",
        soft_wrap=True,
    )
    for label, url in page_addresses(group, member_id).items():
        console.print(f"  {label:<14} {url}", soft_wrap=True)


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
