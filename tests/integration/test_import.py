"""`nnmatch import` against a real profiles service over the real broker and Redis: an import
with bad lines, killed mid-way and resumed, ends with exactly the good members, each once; a
dry run writes nothing; a CSV with a mapping file lands as the profiles it describes."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from nnmatch.events import ProfileUpserted, decode_event
from nnmatch_tools.cli import app
from nnmatch_tools.import_source import read_ndjson
from nnmatch_tools.importer import BulkPoster, ResumeState, fingerprint, run_import, save_state
from nnmatch_tools.launcher import ServiceProcess
from nnmatch_tools.ports import free_port
from tests.support import AMINA, STATE_DIR, Namespace, as_member, dev_tokens, read_topic

pytestmark = pytest.mark.integration

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "import"


class Killed(Exception):
    """Stands for the importer's process dying while a chunk is on its way."""


class DiesOnRequest(httpx.AsyncBaseTransport):
    """Real HTTP, until the n-th request: then the process 'dies' before it is sent."""

    def __init__(self, n: int) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self._left = n

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._left -= 1
        if self._left == 0:
            raise Killed
        return await self._real.handle_async_request(request)


@pytest.fixture
def profiles(namespace: Namespace, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("profiles", free_port(), tmp_path / "profiles.log")
    service.start(namespace.env())
    try:
        service.wait_ready(60)
        yield service
    finally:
        service.stop()


def _profiles_v1(namespace: Namespace, at_least: int) -> list[ProfileUpserted]:
    """Every record on profiles.v1 (waits for `at_least`, then a little longer for extras)."""
    records = asyncio.run(read_topic(namespace, "profiles.v1", count=at_least + 1, timeout=8))
    return [decode_event(r.value, (ProfileUpserted,)) for r in records]


def test_interrupted_import_with_bad_lines_resumes_to_exactly_the_good_members_once(
    namespace: Namespace, profiles: ServiceProcess, tmp_path: Path
) -> None:
    lines = [json.dumps({**AMINA, "member_id": f"imp-{i:02d}"}) for i in range(12)]
    lines[4] = "{not json"
    lines[9] = json.dumps({**AMINA, "member_id": "imp-09", "country": "XX"})
    good = {f"imp-{i:02d}" for i in range(12)} - {"imp-04", "imp-09"}
    source = tmp_path / "members.ndjson"
    source.write_text("\n".join(lines) + "\n")
    state_file = tmp_path / "state.json"
    begun = ResumeState(
        file=str(source.resolve()), fingerprint=fingerprint(source), target=profiles.url
    )

    async def first_run() -> None:
        async with httpx.AsyncClient(transport=DiesOnRequest(3)) as http:
            poster = BulkPoster(http, profiles.url, dev_tokens())
            await run_import(
                read_ndjson(source), poster, begun, lambda s: save_state(state_file, s), chunk=3
            )

    with pytest.raises(Killed):
        asyncio.run(first_run())
    where = ["--url", profiles.url, "--state", str(state_file), "--state-dir", str(STATE_DIR)]
    resumed = runner.invoke(app, ["import", str(source), "--chunk", "3", *where])
    events = _profiles_v1(namespace, at_least=len(good))
    again = runner.invoke(app, ["import", str(source), *where])

    assert resumed.exit_code == 2, resumed.output  # finished, with bad lines
    assert "resuming after line 7" in resumed.output
    assert "line 5: not JSON" in resumed.output
    assert "line 10: country" in resumed.output
    assert "accepted 10 members; 2 bad line(s)" in resumed.output
    per_member = Counter(e.member_id for e in events)
    assert set(per_member) == good  # nothing skipped, no bad line
    assert set(per_member.values()) == {1}  # nothing doubled
    assert again.exit_code == 0
    assert "already imported" in again.output


def test_dry_run_writes_nothing_and_a_mapped_csv_imports_as_described(
    namespace: Namespace, profiles: ServiceProcess, tmp_path: Path
) -> None:
    source = tmp_path / "members.csv"
    shutil.copy(EXAMPLES / "members.example.csv", source)
    mapping = str(EXAMPLES / "mapping.example.yaml")
    common = ["--mapping", mapping, "--url", profiles.url, "--state-dir", str(STATE_DIR)]

    dry = runner.invoke(app, ["import", str(source), "--dry-run", *common])
    after_dry = _profiles_v1(namespace, at_least=0)
    state_after_dry = list(tmp_path.glob("*.import-state.json"))
    real = runner.invoke(app, ["import", str(source), *common])
    stored = httpx.get(f"{profiles.url}/v1/members/am-1", headers=as_member("am-1"), timeout=10)

    assert dry.exit_code == 2, dry.output
    assert "line 5: country: Field required" in dry.output
    assert "dry run: 2 good, 1 bad" in dry.output
    assert "ignored): Notes" in dry.output
    assert after_dry == []
    assert state_after_dry == []
    assert real.exit_code == 2, real.output
    assert "accepted 2 members" in real.output
    assert stored.status_code == 200
    profile = stored.json()["profile"]
    assert profile["display_name"] == "Amina Yusuf"
    assert profile["expertise"] == ["computer vision", "agritech"]
    assert profile["offers"]["kinds"] == ["mentor"]
    assert profile["languages"] == ["en", "sw"]
