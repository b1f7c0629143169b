"""`nnmatch import`: load a community file through the bulk API, resumably.

Records go out in bounded chunks to `POST /v1/members/bulk`. After each acknowledged chunk a
resume file records the last line it covered (written atomically), so an interrupted import
restarts after that line: nothing skipped. A chunk answered but not yet recorded is sent once
more on resume; the API upserts by member id, so a member is still stored once (with the next
version). Throttling (429) and unavailability (502-504, connection errors) are retried with
backoff, honouring `Retry-After`; any other refusal stops the import with the API's reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from nnmatch.auth import Role, TokenSource
from nnmatch.profile import BulkProfileLine
from nnmatch_tools.import_source import SourceRecord

BULK_PATH = "/v1/members/bulk"
RETRIED_STATUS = frozenset({429, 502, 503, 504})
MAX_CHUNK_BYTES = 8 * 1024 * 1024


class ImportFailed(RuntimeError):
    """The API refused the import for a reason a retry cannot fix (token, route, size)."""


class BadLine(BaseModel):
    line: int
    error: str


class LineReport(BaseModel):
    """What `--report` writes: the good count and every bad line."""

    good: int
    bad: list[BadLine]


class ResumeState(BaseModel):
    """What an import has had acknowledged so far, kept beside the file (`--state`)."""

    file: str
    fingerprint: str = Field(description="sha256 of the file: a changed file is not resumed")
    target: str = Field(description="the API it goes to: another deployment starts afresh")
    last_line: int = 0
    accepted: int = 0
    rejected: list[BadLine] = Field(default_factory=list)
    done: bool = False

    def matches(self, other: ResumeState) -> bool:
        return (self.fingerprint, self.target) == (other.fingerprint, other.target)


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_state_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.import-state.json")


def load_state(path: Path) -> ResumeState | None:
    if not path.exists():
        return None
    return ResumeState.model_validate_json(path.read_bytes())


def save_state(path: Path, state: ResumeState) -> None:
    """Write then rename: a crash leaves the previous state or the new one, never half."""
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(state.model_dump_json(indent=1), encoding="utf-8")
    os.replace(temporary, path)


@dataclass(frozen=True)
class Retry:
    attempts: int = 8
    first_wait_s: float = 1.0
    max_wait_s: float = 30.0

    def wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(self.max_wait_s, float(retry_after))
        return min(self.max_wait_s, self.first_wait_s * 2.0**attempt) * random.uniform(0.8, 1.2)


class BulkPoster:
    """Posts one chunk to the bulk route, retrying what a retry may fix."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        tokens: TokenSource,
        retry: Retry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}{BULK_PATH}"
        self._tokens = tokens
        self._retry = retry or Retry()
        self._sleep = sleep
        self._on_retry = on_retry

    async def post(self, lines: list[BulkProfileLine]) -> tuple[int, list[BadLine]]:
        """Accepted count and the API's rejections (line numbers within the chunk, from 1)."""
        body = "\n".join(line.model_dump_json() for line in lines).encode("utf-8")
        for attempt in range(self._retry.attempts):
            headers = {
                "content-type": "application/x-ndjson",
                "authorization": f"Bearer {self._tokens.token(Role.OPERATOR)}",
            }
            try:
                response = await self._http.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason, retry_after = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code == 200:
                    answer = response.json()
                    rejected = [BadLine.model_validate(r) for r in answer.get("rejected", [])]
                    return int(answer["accepted"]), rejected
                if response.status_code not in RETRIED_STATUS:
                    raise ImportFailed(_problem(response))
                reason, retry_after = _problem(response), response.headers.get("retry-after")
            if attempt + 1 < self._retry.attempts:
                self._on_retry(reason)
                await self._sleep(self._retry.wait(attempt, retry_after))
        raise ImportFailed(f"gave up after {self._retry.attempts} attempts: {reason}")


def _problem(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return f"{response.status_code} from {response.request.url}: {str(detail)[:300]}"


@dataclass
class _Pending:
    """Records since the last acknowledged chunk: the good ones to send, the bad ones seen."""

    members: list[BulkProfileLine] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    last_line: int = 0
    size: int = 0

    def add(self, record: SourceRecord) -> None:
        self.last_line = record.line
        if record.member is None:
            self.bad.append(BadLine(line=record.line, error=record.error or "invalid"))
        else:
            self.members.append(record.member)
            self.lines.append(record.line)
            self.size += len(record.member.model_dump_json())


async def run_import(
    records: Iterable[SourceRecord],
    poster: BulkPoster,
    state: ResumeState,
    save: Callable[[ResumeState], None],
    *,
    chunk: int,
    advance: Callable[[int], None] = lambda _n: None,
) -> ResumeState:
    """Send every record after `state.last_line`, saving the state after each acknowledged
    chunk; returns the final state (`done`)."""
    pending = _Pending()
    for record in records:
        if record.line <= state.last_line:
            advance(1)
            continue
        pending.add(record)
        if len(pending.members) >= chunk or pending.size >= MAX_CHUNK_BYTES:
            state = await _flush(pending, poster, state, save, advance)
            pending = _Pending()
    state = await _flush(pending, poster, state, save, advance)
    state = state.model_copy(update={"done": True})
    save(state)
    return state


async def _flush(
    pending: _Pending,
    poster: BulkPoster,
    state: ResumeState,
    save: Callable[[ResumeState], None],
    advance: Callable[[int], None],
) -> ResumeState:
    if not pending.last_line:
        return state
    accepted, refused = (0, []) if not pending.members else await poster.post(pending.members)
    # The API numbers lines within the chunk; the operator needs the file's numbers.
    refused = [BadLine(line=pending.lines[r.line - 1], error=r.error) for r in refused]
    rejected = sorted([*state.rejected, *pending.bad, *refused], key=lambda b: b.line)
    state = state.model_copy(
        update={
            "last_line": pending.last_line,
            "accepted": state.accepted + accepted,
            "rejected": rejected,
        }
    )
    save(state)
    advance(len(pending.members) + len(pending.bad))
    return state


@dataclass
class DryRunReport:
    good: int = 0
    bad: list[BadLine] = field(default_factory=list)
    repeated_ids: int = 0


def dry_run(records: Iterable[SourceRecord], advance: Callable[[int], None]) -> DryRunReport:
    """Validate every record; send and write nothing."""
    report = DryRunReport()
    seen: set[str] = set()
    for record in records:
        if record.member is None:
            report.bad.append(BadLine(line=record.line, error=record.error or "invalid"))
        else:
            report.good += 1
            if record.member.member_id in seen:
                report.repeated_ids += 1
            seen.add(record.member.member_id)
        advance(1)
    return report
