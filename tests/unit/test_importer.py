"""The importer's chunking, retries and resume file, against a stand-in bulk route."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from nnmatch.auth import StaticToken
from nnmatch_tools.import_source import read_ndjson
from nnmatch_tools.importer import (
    BulkPoster,
    ImportFailed,
    ResumeState,
    Retry,
    load_state,
    run_import,
    save_state,
)
from tests.support import AMINA


class Killed(Exception):
    """Stands for the process dying mid-import."""


def _file(tmp_path: Path, members: int, bad_at: set[int]) -> Path:
    lines = []
    for i in range(members):
        if i in bad_at:
            lines.append('{"member_id": "broken", "display_name": ""}')
        else:
            lines.append(json.dumps({**AMINA, "member_id": f"m-{i}"}))
    path = tmp_path / "members.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


class Route:
    """The bulk route: counts what it stored; may throttle or die on given calls."""

    def __init__(self, throttle: int = 0, die_on: int | None = None) -> None:
        self.stored: list[str] = []
        self.calls = 0
        self._throttle = throttle
        self._die_on = die_on

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == self._die_on:
            raise Killed
        if self.calls <= self._throttle:
            return httpx.Response(429, headers={"retry-after": "1"}, json={"detail": "slow"})
        ids = [json.loads(line)["member_id"] for line in request.content.splitlines()]
        self.stored += ids
        return httpx.Response(200, json={"accepted": len(ids), "rejected": []})


async def _no_sleep(_s: float) -> None:
    return None


def _poster(route: Route) -> BulkPoster:
    http = httpx.AsyncClient(transport=httpx.MockTransport(route))
    return BulkPoster(http, "http://x", StaticToken("t"), Retry(attempts=3), sleep=_no_sleep)


def _fresh(path: Path) -> ResumeState:
    return ResumeState(file=str(path), fingerprint="f", target="http://x")


async def test_interrupted_import_resumes_after_the_last_acknowledged_chunk(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, 10, bad_at={3, 8})
    state_file = tmp_path / "state.json"
    route = Route(die_on=3)  # chunks of 3 good lines: the third request dies

    with pytest.raises(Killed):
        await run_import(
            read_ndjson(path),
            _poster(route),
            _fresh(path),
            lambda s: save_state(state_file, s),
            chunk=3,
        )
    interrupted = load_state(state_file)
    assert interrupted is not None
    resumed = await run_import(
        read_ndjson(path),
        _poster(route),
        interrupted,
        lambda s: save_state(state_file, s),
        chunk=3,
    )

    good = [f"m-{i}" for i in range(10) if i not in {3, 8}]
    assert interrupted.last_line == 7  # two chunks: lines 1-3 and 4 (bad), 5-7
    assert sorted(route.stored) == sorted(good)  # each once: nothing doubled, nothing skipped
    assert resumed.done
    assert resumed.accepted == 8
    assert [b.line for b in resumed.rejected] == [4, 9]


async def test_throttling_is_retried_and_a_refusal_is_not(tmp_path: Path) -> None:
    path = _file(tmp_path, 2, bad_at=set())
    throttled = Route(throttle=2)
    state = await run_import(
        read_ndjson(path), _poster(throttled), _fresh(path), lambda _s: None, chunk=5
    )
    assert (state.accepted, throttled.calls) == (2, 3)

    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": "operators only"})

    poster = BulkPoster(
        httpx.AsyncClient(transport=httpx.MockTransport(refuse)), "http://x", StaticToken("t")
    )
    with pytest.raises(ImportFailed, match=r"403.*operators only"):
        await run_import(read_ndjson(path), poster, _fresh(path), lambda _s: None, chunk=5)


async def test_rejections_by_the_api_are_renumbered_to_file_lines(tmp_path: Path) -> None:
    path = _file(tmp_path, 4, bad_at={0})

    def reject_second(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"accepted": 2, "rejected": [{"line": 2, "error": "x"}]})

    poster = BulkPoster(
        httpx.AsyncClient(transport=httpx.MockTransport(reject_second)),
        "http://x",
        StaticToken("t"),
    )
    state = await run_import(read_ndjson(path), poster, _fresh(path), lambda _s: None, chunk=10)
    assert [(b.line, b.error) for b in state.rejected][1] == (3, "x")
    assert state.rejected[0].line == 1
