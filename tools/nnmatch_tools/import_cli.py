"""The `nnmatch import` command: options, progress, the report (the work is in importer.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nnmatch.auth import DevTokens, StaticToken, TokenSource
from nnmatch_tools import devstack
from nnmatch_tools.csv_mapping import MappingError, load_mapping
from nnmatch_tools.import_source import (
    SourceError,
    SourceFormat,
    SourceRecord,
    count_records,
    format_of,
    read_source,
    unmapped_columns,
)
from nnmatch_tools.importer import (
    BadLine,
    BulkPoster,
    ImportFailed,
    LineReport,
    ResumeState,
    default_state_path,
    dry_run,
    fingerprint,
    load_state,
    run_import,
    save_state,
)

console = Console()
SHOWN_BAD_LINES = 50
EXIT_BAD_LINES = 2


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def _print_bad(bad: list[BadLine]) -> None:
    for item in bad[:SHOWN_BAD_LINES]:
        console.print(f"  line {item.line}: {item.error}", markup=False, soft_wrap=True)
    if len(bad) > SHOWN_BAD_LINES:
        console.print(f"  … and {len(bad) - SHOWN_BAD_LINES} more (--report FILE lists all)")


def _write_report(path: Path | None, good: int, bad: list[BadLine]) -> None:
    if path is not None:
        path.write_text(LineReport(good=good, bad=bad).model_dump_json(indent=1), "utf-8")


def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="NDJSON (.ndjson/.jsonl) or CSV."
        ),
    ],
    fmt: Annotated[
        SourceFormat | None,
        typer.Option("--format", help="ndjson or csv (default: from the file's extension)."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV only: which column holds which profile field (.yaml, .json or .toml). "
            "Unnamed fields keep their default column (README, 'Importing members').",
        ),
    ] = None,
    dry_run_only: Annotated[
        bool,
        typer.Option("--dry-run", help="Validate every line and report; send and write nothing."),
    ] = False,
    url: Annotated[
        str,
        typer.Option(
            envvar="NNMATCH_PROFILES_URL",
            help="The profiles API (any deployment: the dev stack's by default).",
        ),
    ] = "http://127.0.0.1:8001",
    token: Annotated[
        str | None,
        typer.Option(
            envvar="NNMATCH_TOKEN",
            help="An operator token for --url; by default one is minted with the dev stack's "
            "key (accepted only by a dev-stack setup).",
        ),
    ] = None,
    chunk: Annotated[int, typer.Option(min=1, max=50_000, help="Profiles per bulk request.")] = 500,
    state: Annotated[
        Path | None,
        typer.Option(
            help="The resume file (default: FILE.import-state.json beside the file). Run the "
            "same command again after an interruption to continue after the last "
            "acknowledged line."
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the resume file and start from line 1.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write every bad line (number and reason) to this JSON file."),
    ] = None,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            envvar="NNMATCH_STATE_DIR",
            help="The dev stack's directory (for the minted dev token).",
        ),
    ] = Path(".nnmatch"),
) -> None:
    """Import members from NDJSON or CSV through the bulk API, resumably, with progress.

    Every line is validated by the API's own profile model first; bad lines are reported by
    number and not sent. Chunks go to POST /v1/members/bulk (429 and 5xx retried with
    backoff); after each acknowledged chunk the resume file records the last line it covered.
    After an interruption, run the same command again: it continues after that line, so nothing
    is skipped, and since the API upserts by member id nothing is doubled.

    Exit codes: 0 every line imported, 2 finished but some lines were bad, 1 failed.

    Examples: nnmatch import members.csv --mapping mapping.yaml --dry-run;
    nnmatch import members.ndjson --url https://profiles.example.org --token "$TOKEN"
    """
    try:
        source_format = format_of(file, fmt)
        csv_mapping = load_mapping(mapping)
        total = count_records(file, source_format)
        ignored = unmapped_columns(file, csv_mapping) if source_format is SourceFormat.CSV else []
    except (SourceError, MappingError) as exc:
        raise _fail(str(exc)) from exc
    if ignored:
        console.print(f"columns not mapped to any field (ignored): {', '.join(ignored)}")
    records = read_source(file, source_format, csv_mapping)
    if dry_run_only:
        with _progress() as progress:
            task = progress.add_task("validating", total=total)
            try:
                checked = dry_run(records, lambda n: progress.advance(task, n))
            except SourceError as exc:
                raise _fail(str(exc)) from exc
        _print_bad(checked.bad)
        _write_report(report, checked.good, checked.bad)
        repeated = (
            f"; {checked.repeated_ids} member id(s) repeat (the last line wins)"
            if checked.repeated_ids
            else ""
        )
        console.print(
            f"dry run: {checked.good} good, {len(checked.bad)} bad{repeated}; "
            "nothing was sent or written"
        )
        raise typer.Exit(code=EXIT_BAD_LINES if checked.bad else 0)

    tokens: TokenSource = (
        StaticToken(token) if token else DevTokens(devstack.dev_auth_dir(state_dir))
    )
    state_path = state or default_state_path(file)
    fresh = ResumeState(file=str(file.resolve()), fingerprint=fingerprint(file), target=url)
    begun = None if restart else _resumable(state_path, fresh)
    if begun is not None and begun.done:
        console.print(
            f"already imported ({begun.accepted} accepted; {state_path}); --restart to repeat"
        )
        return
    if begun is not None:
        console.print(f"resuming after line {begun.last_line} ({begun.accepted} accepted so far)")
    final = _upload(records, tokens, url, begun or fresh, state_path, chunk, total)
    _print_bad(final.rejected)
    _write_report(report, final.accepted, final.rejected)
    console.print(
        f"accepted {final.accepted} members; {len(final.rejected)} bad line(s); "
        f"resume file {state_path}"
    )
    raise typer.Exit(code=EXIT_BAD_LINES if final.rejected else 0)


def _resumable(path: Path, fresh: ResumeState) -> ResumeState | None:
    try:
        saved = load_state(path)
    except ValueError as exc:
        raise _fail(f"resume file {path} is unreadable ({exc}); --restart to begin anew") from exc
    if saved is not None and not saved.matches(fresh):
        raise _fail(
            f"resume file {path} is for another file content or --url; "
            "--restart to begin anew, or --state to keep it"
        )
    return saved


def _upload(
    records: Iterator[SourceRecord],
    tokens: TokenSource,
    url: str,
    begun: ResumeState,
    state_path: Path,
    chunk: int,
    total: int,
) -> ResumeState:
    async def go() -> ResumeState:
        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0)) as http:
            with _progress() as progress:
                task = progress.add_task("importing", total=total)
                poster = BulkPoster(
                    http,
                    url,
                    tokens,
                    on_retry=lambda why: progress.console.print(f"retrying: {why}", markup=False),
                )
                return await run_import(
                    records,
                    poster,
                    begun,
                    lambda s: save_state(state_path, s),
                    chunk=chunk,
                    advance=lambda n: progress.advance(task, n),
                )

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        saved = load_state(state_path)
        line = saved.last_line if saved is not None else 0
        console.print(
            f"interrupted: lines up to {line} are acknowledged; run the same command to resume"
        )
        raise typer.Exit(code=130) from None
    except (ImportFailed, SourceError) as exc:
        raise _fail(f"{exc} (resume file {state_path}; run again to resume)") from exc
