"""The three services and the web pages as processes on the shared test stack: each /metrics
passes `promtool check metrics`, carries every series the dashboard and alerts use, and a real
Prometheus scrapes all four (queried over its HTTP API)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from nnmatch_tools import devstack
from nnmatch_tools.launcher import ServiceGroup
from nnmatch_tools.ports import free_port
from tests.ops.tools import DASHBOARD, RULES, tool
from tests.support import STATE_DIR, forget, new_namespace

pytestmark = pytest.mark.integration
JOBS = {
    "profiles": "nnmatch-profiles",
    "matching": "nnmatch-matching",
    "notifications": "nnmatch-notifications",
    "web": "nnmatch-web",
}
# One series each service owns, beside the shared ones, queried in the real Prometheus.
OWN_SERIES = {
    "profiles": "nnmatch_http_requests_total",
    "matching": "nnmatch_index_members",
    "notifications": "nnmatch_notifications_total",
    "web": "nnmatch_http_requests_total",
}


@pytest.fixture(scope="module")
async def services(stack: devstack.DevStack) -> AsyncIterator[ServiceGroup]:
    namespace = new_namespace(stack)
    group = ServiceGroup.create(STATE_DIR / "ops-logs" / namespace.name, {n: 0 for n in JOBS})
    try:
        env = namespace.env() | {"NNMATCH_LOG_FORMAT": "text"}
        await asyncio.to_thread(group.start, env, 180.0)
        yield group
    finally:
        await asyncio.to_thread(group.stop)
        await forget(namespace)


@pytest.fixture(scope="module")
def expositions(services: ServiceGroup) -> dict[str, str]:
    texts = {}
    for name in JOBS:
        response = httpx.get(f"{services[name].url}/metrics", timeout=10)
        assert response.status_code == 200
        texts[name] = response.text
    return texts


def test_promtool_check_metrics_passes_on_every_service(expositions: dict[str, str]) -> None:
    for name, text in expositions.items():
        result = subprocess.run(
            [tool("promtool"), "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "nnmatch_build_info{" in text
        assert f'service="{name}"' in text
        assert "nnmatch_ready " in text
        assert "process_start_time_seconds" in text


def _families(text: str) -> set[str]:
    return set(re.findall(r"^# HELP (\S+)", text, flags=re.MULTILINE))


def _referenced(text: str) -> set[str]:
    names = set(re.findall(r"\b(nnmatch_[a-z0-9_]+)", text))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def test_the_dashboard_and_alerts_use_only_series_the_services_expose(
    expositions: dict[str, str],
) -> None:
    exposed = set().union(*(_families(t) for t in expositions.values()))
    for source in (DASHBOARD, RULES):
        text = source.read_text()
        if source == DASHBOARD:
            panels = json.loads(text)["panels"]
            text = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
        missing = _referenced(text) - exposed
        assert missing == set(), f"{source.name} uses series no service exposes: {missing}"


@pytest.fixture(scope="module")
def prometheus(services: ServiceGroup) -> Iterator[str]:
    """A real Prometheus (the Debian package's binary) on a free port, scraping every second."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="nnmatch-prom-") as work:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [{"targets": [f"127.0.0.1:{services[name].port}"]}],
                }
                for name, job in JOBS.items()
            ],
        }
        config_path = Path(work) / "prometheus.yml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        log_path = Path(work) / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={Path(work) / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, f"prometheus exited:\n{log_path.read_text()}"
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"prometheus not ready:\n{log_path.read_text()}"
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _query(url: str, promql: str) -> list[dict[str, object]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_a_real_prometheus_scrapes_a_metric_of_each_service(prometheus: str) -> None:
    deadline = time.monotonic() + 60
    missing: list[str] = list(JOBS)
    while missing and time.monotonic() < deadline:
        missing = [
            name
            for name, job in JOBS.items()
            if not _query(prometheus, f'{OWN_SERIES[name]}{{job="{job}"}}')
            or not _query(prometheus, f'nnmatch_build_info{{job="{job}", service="{name}"}} == 1')
        ]
        time.sleep(0.5)
    assert missing == [], f"Prometheus has no series yet from {missing}"
    up = _query(prometheus, 'up{job=~"nnmatch-.*"} == 1')
    assert {r["metric"]["job"] for r in up} == set(JOBS.values())  # type: ignore[index]
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in rules} == {
        "nnmatch-slo-recording",
        "nnmatch-product-health",
        "nnmatch-alerts",
    }
