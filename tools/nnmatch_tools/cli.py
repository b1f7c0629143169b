"""`nnmatch`: the operators' and developers' command line."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import re
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape

from nnmatch import redrive
from nnmatch.audit import AuditAction, AuditRecord, RedisAuditLog
from nnmatch.auth import DevTokens, Role, StaticToken
from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch.settings import ServiceSettings
from nnmatch.topics import TopicSpec
from nnmatch_tools import devstack
from nnmatch_tools.client import NnmatchClient
from nnmatch_tools.demo import (
    print_addresses,
    print_pages,
    progress_bar,
    run_demo,
    running_system,
    upload_hubs,
    upload_members,
)
from nnmatch_tools.import_cli import import_command
from nnmatch_tools.seed import generate_members
from nnmatch_tools.seed_hubs import generate_hubs

app = typer.Typer(
    help="nnmatch: people matching for the AI for Good Neural Network.\n\n"
    "Start with `nnmatch demo` (everything, end to end) or `nnmatch up` (the stack, the "
    "three services and the web pages until Ctrl-C).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
dev_app = typer.Typer(
    help="The embedded dev stack: a Kafka-protocol broker (Tansu) and Redis.\n\n"
    "KAFKA_BOOTSTRAP_SERVERS / REDIS_URL, when set, are used instead of starting anything.",
    no_args_is_help=True,
)
app.add_typer(dev_app, name="dev")
token_app = typer.Typer(
    help="Bearer tokens for the APIs. In production the community's identity provider issues "
    "them; here they are minted with the dev stack's own signing key.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")
dlq_app = typer.Typer(
    help="Dead letters: records a consumer could not process, kept in `<topic>.dlq` with the "
    "cause. Show them, and re-drive them to their topic once a fix is deployed.\n\n"
    "Uses NNMATCH_TOPIC_PREFIX and the NNMATCH_KAFKA_* settings, as the services do.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
console = Console()

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        envvar="NNMATCH_STATE_DIR",
        help="Where the dev stack records what it started, and where logs go.",
    ),
]
DEFAULT_STATE = Path(".nnmatch")


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


@dev_app.command("up")
def dev_up(state_dir: StateDir = DEFAULT_STATE) -> None:
    """Start (or reuse) the broker and Redis; prints the variables that point services at them,
    as shell-safe `export` lines (`eval "$(nnmatch dev up)"`)."""
    try:
        stack = devstack.up(state_dir)
    except devstack.DevStackError as exc:
        raise _fail(str(exc)) from exc
    # Plain lines, never wrapped: `eval "$(nnmatch dev up)"` runs them (the status as comments).
    for component in (stack.kafka, stack.redis):
        owner = "started by nnmatch" if component.started_by_us else "already running"
        typer.echo(f"# {component.name:<6} {component.address}  ({owner})")
    typer.echo('# point a shell at it: eval "$(nnmatch dev up)"')
    for line in devstack.shell_exports(stack.env()):
        typer.echo(line)


@dev_app.command("status")
def dev_status(state_dir: StateDir = DEFAULT_STATE) -> None:
    """Show what the dev stack recorded and whether each part answers now."""
    statuses = devstack.status(state_dir)
    if not statuses:
        console.print("dev stack: not started from this directory (`nnmatch dev up`)")
        raise typer.Exit(code=1)
    for s in statuses:
        state = "[green]up[/]" if s.alive else "[red]down[/]"
        owner = "ours" if s.component.started_by_us else "external"
        console.print(f"{s.component.name:<6} {s.component.address:<32} {state} ({owner})")


@dev_app.command("down")
def dev_down(state_dir: StateDir = DEFAULT_STATE) -> None:
    """Stop only what `nnmatch dev up` started here; never an external broker or Redis."""
    stopped = devstack.down(state_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing (nothing of ours was running)'}")


@token_app.command("issue")
def token_issue(
    member: Annotated[
        str | None, typer.Option("--member", help="A member token: sub = this member id.")
    ] = None,
    hub: Annotated[
        str | None,
        typer.Option("--hub", help="A hub token for this hub id (search, visible fields)."),
    ] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator token (bulk import, re-drive, erasure).")
    ] = False,
    ttl: Annotated[int, typer.Option(min=60, max=30 * 86400, help="Lifetime in seconds.")] = 3600,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Print a dev token signed with the dev stack's key (accepted only by a dev-stack setup).

    Example: curl -H "Authorization: Bearer $(nnmatch token issue --member m-0001)" ...
    """
    chosen = [
        flag
        for flag, given in (("--member", member), ("--hub", hub), ("--operator", operator))
        if given
    ]
    if len(chosen) != 1:
        raise _fail("give exactly one of --member ID, --hub ID, --operator")
    if (member or hub) and not re.fullmatch(MEMBER_ID_PATTERN, member or hub or ""):
        raise _fail("ids are 1-64 of letters, digits, _ and -")
    tokens = DevTokens(devstack.dev_auth_dir(state_dir), ttl_s=ttl)
    if member:
        print(tokens.token(Role.MEMBER, member))
    elif hub:
        print(tokens.token(Role.HUB, hub))
    else:
        print(tokens.token(Role.OPERATOR))


DlqTopic = Annotated[
    str,
    typer.Argument(
        help="The topic's contract name, e.g. matches.v1 (the prefix comes from "
        "NNMATCH_TOPIC_PREFIX).",
        show_default=False,
    ),
]
T = TypeVar("T")


def _dlq_target(topic: str) -> tuple[TopicSpec, ServiceSettings]:
    try:
        spec = redrive.resolve_topic(topic)
    except redrive.RedriveError as exc:
        raise _fail(str(exc)) from exc
    try:
        settings = ServiceSettings(service_name="dlq")
    except ValidationError as exc:
        raise _fail(f"invalid NNMATCH_* settings: {exc}") from exc
    return spec, settings


def _dlq_run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except redrive.RedriveError as exc:
        raise _fail(str(exc)) from exc
    except OSError as exc:
        raise _fail(f"{exc} ({redrive.BROKER_HINT})") from exc


def _print_letters(title: str, rows: list[redrive.LetterRow], *, state: bool) -> None:
    """Two lines per dead letter (where, key, service, time; then the error); never the value."""
    console.print(f"[bold]{escape(title)}[/]")
    for row in rows:
        origin = (
            f"p{row.original_partition}/{row.original_offset}"
            if row.original_partition is not None
            else "?"
        )
        when = row.time.strftime("%Y-%m-%dT%H:%M:%SZ") if row.time else "?"
        status = f"{row.state:<9}  " if state else ""
        console.print(
            f"{row.dlq_partition}:{row.dlq_offset:<5} {status}key {redrive.shown_key(row.key)}"
            f"  from {origin}  {row.service or '?'}  {when}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"        {row.error}", markup=False, highlight=False, soft_wrap=True)


def _print_skipped(skipped: list[redrive.Skipped]) -> None:
    console.print("[bold]left in the dead-letter topic[/]")
    for s in skipped:
        console.print(
            f"{s.partition}:{s.offset:<5} {s.reason}", markup=False, highlight=False, soft_wrap=True
        )


@dlq_app.command("show")
def dlq_show(
    topic: DlqTopic,
    limit: Annotated[
        int, typer.Option(min=1, help="Show the latest N dead letters (per DLQ partition).")
    ] = 50,
) -> None:
    """List a topic's dead letters: where each came from, key, error, service, time and
    whether it is still pending re-drive. Values are never shown (they may hold personal data).
    """
    spec, settings = _dlq_target(topic)
    rows = _dlq_run(redrive.tail(settings, spec, limit))
    dlq = f"{settings.topic_prefix}{spec.dlq}"
    if not rows:
        console.print(f"{dlq}: no dead letters")
        return
    _print_letters(f"{dlq} (values are not shown)", rows, state=True)
    pending = sum(1 for r in rows if r.state == "pending")
    console.print(
        f"{len(rows)} shown, {pending} pending re-drive (`nnmatch dlq redrive {spec.name}`)"
    )


@dlq_app.command("redrive")
def dlq_redrive(
    topic: DlqTopic,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Take at most N dead letters (re-driven or skipped)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would be re-driven; publish and commit nothing."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    operator: Annotated[
        str | None,
        typer.Option(
            help="Who re-drives, as the audit trail names them (letters, digits, _ and -; "
            "default: your login name).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-publish dead letters to their original topic (same key, original bytes) after a fix.

    Progress is kept in the consumer group `nnmatch-dlq-redrive`: each dead letter is committed
    once its copy is acknowledged (acks=all), so an interrupted run resumes where it stopped and
    nothing is re-driven twice. Envelopes that cannot be re-driven stay in the DLQ and are
    reported. The re-drive is written to the audit trail (who, which topic, how many; in the
    Redis of NNMATCH_REDIS_URL) like the operators' actions on the pages.
    """
    spec, settings = _dlq_target(topic)
    actor = _operator_name(operator)
    if dry_run:
        plan = _dlq_run(redrive.peek(settings, spec, limit))
        rows = [redrive.describe(r, plan.target, None) for r in plan.redriven]
        if rows:
            _print_letters(f"would re-drive to {plan.target}", rows, state=False)
        if plan.skipped:
            _print_skipped(plan.skipped)
        console.print(
            f"dry run: {len(plan.redriven)} would be re-driven to {plan.target}, "
            f"{len(plan.skipped)} skipped; nothing was published or committed"
        )
        return
    pending = _dlq_run(redrive.backlog(settings, spec)).pending
    total = min(pending, limit) if limit is not None else pending
    target = f"{settings.topic_prefix}{spec.name}"
    if total == 0:
        console.print(f"nothing to re-drive: {target}.dlq has no pending dead letters")
        return
    if not yes and not typer.confirm(
        f"Re-publish up to {total} dead letter(s) from {target}.dlq to {target}?"
    ):
        raise _fail("cancelled, nothing was re-driven (--yes skips this question)")
    with progress_bar(console) as progress:
        task = progress.add_task(f"re-drive {spec.name}", total=total)
        summary = _dlq_run(
            redrive.redrive(
                settings, spec, limit=limit, on_record=lambda _r, _o: progress.advance(task)
            )
        )
    if summary.skipped:
        _print_skipped(summary.skipped)
    console.print(
        f"re-driven: {len(summary.redriven)} to {summary.target}; "
        f"skipped (left in {summary.dlq}): {len(summary.skipped)}"
    )
    _dlq_run(_audit_redrive(settings, actor, summary.target, len(summary.redriven)))


def _operator_name(given: str | None) -> str:
    """The audit trail's name for whoever runs the CLI: `--operator`, else the login name
    folded to the allowed characters."""
    name = given if given is not None else re.sub(r"[^A-Za-z0-9_-]", "-", getpass.getuser())
    if not re.fullmatch(MEMBER_ID_PATTERN, name):
        raise _fail(f"--operator {name!r}: use 1-64 letters, digits, _ or -")
    return name


async def _audit_redrive(settings: ServiceSettings, actor: str, topic: str, count: int) -> None:
    record = AuditRecord(
        at=datetime.now(UTC),
        service="nnmatch-cli",
        actor_role=Role.OPERATOR,
        actor=actor,
        action=AuditAction.DLQ_REDRIVE,
        count=count,
        topic=topic,
        request_id=f"cli-{uuid.uuid4().hex}",
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        await RedisAuditLog(redis, settings.redis_prefix).append(record)
    except RedisError as exc:
        raise _fail(
            f"re-driven, but the audit trail could not be written ({exc}); check "
            "NNMATCH_REDIS_URL and note this re-drive by hand"
        ) from exc
    finally:
        await redis.aclose()


@app.command()
def up(
    members: Annotated[
        int,
        typer.Option(min=0, help="Load this many seeded members first (0: none; the data stays)."),
    ] = 0,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Run the dev stack, the three services and the web pages in the foreground; a service
    that exits is restarted after a bounded backoff; Ctrl-C stops them all."""
    with running_system(console, state_dir) as (group, _env):
        console.print("[bold]nnmatch is up[/]")
        print_addresses(console, group)
        lines = list(generate_members(members))
        if lines:
            client = NnmatchClient(
                DevTokens(devstack.dev_auth_dir(state_dir)), group["profiles"].url
            )
            try:
                with progress_bar(console) as progress:
                    task = progress.add_task("bulk import", total=len(lines))
                    upload_members(client, lines, 500, lambda n: progress.advance(task, n))
                    hubs = generate_hubs(lines)
                    hub_task = progress.add_task("hubs and projects", total=len(hubs))
                    upload_hubs(client, hubs, lambda n: progress.advance(hub_task, n))
            finally:
                client.close()
        print_pages(console, group, lines[0].member_id if lines else "m-00000")
        if not lines:
            console.print("No members loaded: `nnmatch seed --members 500` (or `up --members`).")
        console.print("Ctrl-C to stop. A service that exits is restarted (bounded backoff).")
        with contextlib.suppress(KeyboardInterrupt):
            group.watch(lambda line: console.print(f"[yellow]{escape(line)}[/]", soft_wrap=True))


@app.command()
def seed(
    members: Annotated[int, typer.Option(min=1, help="How many members to generate.")] = 2000,
    seed_value: Annotated[int, typer.Option("--seed", help="Same seed, same members.")] = 42,
    profiles_url: Annotated[
        str, typer.Option(envvar="NNMATCH_PROFILES_URL", help="The profiles service.")
    ] = "http://127.0.0.1:8001",
    chunk: Annotated[int, typer.Option(min=1, help="Profiles per bulk request.")] = 500,
    hubs: Annotated[
        bool,
        typer.Option(
            help="Also write a profile for every hub with 3+ seeded members, and a few projects."
        ),
    ] = True,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="NNMATCH_TOKEN",
            help="An operator token; by default one is minted with the dev stack's key.",
        ),
    ] = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Generate realistic synthetic members and load them through the profiles bulk API; then
    the hubs they belong to, and a few projects, through the hubs API."""
    lines = list(generate_members(members, seed=seed_value))
    seeded_hubs = generate_hubs(lines, seed=seed_value) if hubs else []
    tokens = StaticToken(token) if token else DevTokens(devstack.dev_auth_dir(state_dir))
    client = NnmatchClient(tokens, profiles_url)
    try:
        with progress_bar(console) as progress:
            task = progress.add_task("bulk import", total=members)
            accepted = upload_members(client, lines, chunk, lambda n: progress.advance(task, n))
            hub_task = progress.add_task("hubs and projects", total=len(seeded_hubs))
            projects = upload_hubs(client, seeded_hubs, lambda n: progress.advance(hub_task, n))
    except Exception as exc:
        raise _fail(f"{exc} (is the profiles service up? `nnmatch up`)") from exc
    finally:
        client.close()
    console.print(f"accepted {accepted} members, {len(seeded_hubs)} hubs, {projects} projects")


class EvalSet(StrEnum):
    SYNTHETIC = "synthetic"
    REAL = "real"


@app.command("eval")
def eval_search(
    which: Annotated[
        EvalSet,
        typer.Option(
            "--set",
            help="real: researchers' own words, judged by who they went on to work with "
            "(the target); synthetic: the seeded community (a smoke test).",
        ),
    ] = EvalSet.SYNTHETIC,
    part: Annotated[
        str, typer.Option(help="Real set: the queries to judge: tune, report or all.")
    ] = "report",
    style: Annotated[
        str,
        typer.Option(help="Real set: papers (offers/seeks text = titles) or bio (bio only)."),
    ] = "papers",
    people: Annotated[
        int, typer.Option(min=0, help="Real set: load only the first N people (0: all).")
    ] = 0,
    members: Annotated[int, typer.Option(min=50, help="Seeded members to index.")] = 2000,
    queries: Annotated[int, typer.Option(min=1, help="Labelled queries per style.")] = 100,
    lists: Annotated[
        int, typer.Option(min=0, help="Members whose own match lists are judged (0: none).")
    ] = 300,
    seed_value: Annotated[int, typer.Option("--seed", help="Same seed, same set.")] = 42,
    out: Annotated[Path, typer.Option(help="Where the JSON result goes.")] = Path("bench/results"),
) -> None:
    """Score ranking quality (recall@10, nDCG@10).

    --set real (the target): members' own lists on a public set of real researchers, judged
    by the new co-authors each went on to publish with, against BM25, dense, their rank fusion
    and popularity in the same run, with 95 % bootstrap intervals. Tune on --part tune, report
    on --part report. Writes eval-real-<timestamp>.json.

    --set synthetic: hub search and members' own lists on the seeded community, each
    dense-only, lexical-only and hybrid. Writes eval-<timestamp>.json."""
    # Imported here: importing the matcher and the embedder takes seconds no other command needs.
    if which is EvalSet.REAL:
        from nnmatch_tools import evaluate_real
        from nnmatch_tools.realset.load import ProfileStyle

        if part not in ("tune", "report", "all"):
            raise _fail(f"--part {part}: one of tune, report, all")
        try:
            profile_style = ProfileStyle(style)
        except ValueError:
            raise _fail(f"--style {style}: one of papers, bio") from None
        command = f"nnmatch eval --set real --part {part} --style {style} --people {people}"
        try:
            evaluate_real.run(part, profile_style, people, out, command=f"{command} --out {out}")
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from exc
        return
    from nnmatch_tools import evaluate

    command = f"nnmatch eval --members {members} --queries {queries} --lists {lists}"
    command += f" --seed {seed_value} --out {out}"
    evaluate.run(members, queries, lists, seed_value, out, command=command)


@app.command()
def demo(
    members: Annotated[int, typer.Option(min=2, help="Seeded members to load.")] = 2000,
    keep_running: Annotated[
        bool, typer.Option(help="Keep the stack up after the demo until Ctrl-C.")
    ] = False,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Everything end to end: stack, services, seeded members, one member's matches and inbox."""
    try:
        run_demo(console, members, state_dir, keep_running)
    except devstack.DevStackError as exc:
        raise _fail(str(exc)) from exc


app.command("import")(import_command)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
