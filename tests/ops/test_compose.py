"""docker-compose.yml and the image, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath
from typing import Any

import pytest

from nnmatch.settings import KafkaSettings
from nnmatch.topics import new_topics
from tests.ops.tools import DEPLOY, ROOT, load_yaml

NNMATCH_SERVICES = {"profiles": 8001, "matching": 8002, "notifications": 8003}
WEB_PORT = 8000  # the web pages: the lean image, no Kafka or Redis; they call the three APIs


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return document


def test_every_compose_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "prometheus", "grafana", "mailpit", *NNMATCH_SERVICES} <= set(
        services
    )
    missing = [
        name for name, spec in services.items() if not spec.get("healthcheck", {}).get("test")
    ]
    assert missing == [], f"services without a healthcheck: {missing}"


def test_services_are_built_from_the_dockerfile_and_wait_for_their_dependencies(
    compose: dict[str, Any],
) -> None:
    for name, port in NNMATCH_SERVICES.items():
        spec = compose["services"][name]
        assert spec["build"]["dockerfile"] == "Dockerfile"
        assert spec["build"]["args"] == {"SERVICE": name, "PORT": str(port)}
        env = spec["environment"]
        assert env["NNMATCH_PORT"] == str(port)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["NNMATCH_KAFKA_ENABLE_IDEMPOTENCE"] == "true", "real Kafka keeps idempotence"
        assert env["NNMATCH_AUTH_JWKS_FILE"].startswith("/var/lib/nnmatch/dev/auth/")
        depends = spec["depends_on"]
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(spec["healthcheck"]["test"])
        assert f"{port}:{port}" in spec["ports"]


def test_the_web_pages_are_built_from_the_dockerfile_and_call_the_apis_by_service_name(
    compose: dict[str, Any],
) -> None:
    web = compose["services"]["web"]
    assert web["build"]["dockerfile"] == "Dockerfile"
    assert web["build"]["args"] == {"SERVICE": "web", "PORT": str(WEB_PORT)}
    env = web["environment"]
    assert env["NNMATCH_PORT"] == str(WEB_PORT)
    for name, port in NNMATCH_SERVICES.items():
        assert env[f"NNMATCH_{name.upper()}_URL"] == f"http://{name}:{port}"
        assert name in web["depends_on"]
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    assert f"{WEB_PORT}:{WEB_PORT}" in web["ports"]


def test_kafka_is_the_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID: a base64 UUID"


def test_topics_created_at_start_are_the_ones_the_code_declares(compose: dict[str, Any]) -> None:
    init = compose["services"]["kafka-topics"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "./deploy/kafka:/nnmatch:ro" in init["volumes"]
    declared = {}
    for line in (DEPLOY / "kafka" / "topics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, partitions, configs = line.split()
            declared[name] = (int(partitions), dict(c.split("=", 1) for c in configs.split(",")))
    settings = KafkaSettings(
        bootstrap_servers="kafka:9092",
        enable_idempotence=True,
        partitions=6,
        replication_factor=1,
        topic_prefix="",
        client_id="ops-test",
    )
    expected = {t.name: (t.num_partitions, t.topic_configs) for t in new_topics(settings)}
    assert declared == expected


def test_redis_persists_and_never_evicts(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_prometheus_loads_the_rules_and_grafana_its_provisioning(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in prometheus
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    for name, port in {**NNMATCH_SERVICES, "web": WEB_PORT}.items():
        replicas = [f"{name}-2:{port}"] if name == "matching" else []  # the second replica
        assert jobs[f"nnmatch-{name}"] == [f"{name}:{port}", *replicas]
    grafana = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana


def stage_steps(steps: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Each named stage's own instructions, its FROM first (`FROM x AS name`)."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, arguments in steps:
        if keyword == "FROM":
            words = arguments.split()
            current = []
            stages[words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else ""] = current
        current.append((keyword, arguments))
    return stages


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_the_images_are_slim_non_root_with_a_health_check() -> None:
    """What both targets share is the `runtime` stage: checked there (see test_images.py for
    what each target installs)."""
    steps = _instructions((ROOT / "Dockerfile").read_text())
    assert any(k == "ARG" and "slim" in a for k, a in steps), "a slim Python base image"
    runtime = stage_steps(steps)["runtime"]
    keywords = [k for k, _ in runtime]
    users = [a for k, a in runtime if k == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthcheck = [a for k, a in runtime if k == "HEALTHCHECK"]
    assert "CMD" in keywords
    assert healthcheck, "the image has a HEALTHCHECK"
    assert "/healthz" in healthcheck[0]
    assert any(k == "CMD" and "exec nnmatch-" in a for k, a in runtime), "the service is PID 1"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignored, "the build context is allow-listed"


def test_the_image_installs_the_services_and_no_tooling() -> None:
    """The root project is what the image installs; the tooling is its own project in tools/."""
    steps = _instructions((ROOT / "Dockerfile").read_text())
    copied = [
        PurePosixPath(source).parts[0]
        for keyword, arguments in steps
        if keyword in {"COPY", "ADD"} and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]
    assert set(copied) == {"pyproject.toml", "README.md", "libs", "services"}
    installs = [a for k, a in steps if k == "RUN" and "pip install" in a]
    assert all("tools" not in a for a in installs), installs
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    assert not [line for line in allowed if line.startswith("!tools")]

    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dirs = root["tool"]["setuptools"]["package-dir"]
    assert "nnmatch_tools" not in root["tool"]["setuptools"]["packages"]
    assert all(path.split("/")[0] in {"libs", "services"} for path in package_dirs.values())
    scripts = root["project"]["scripts"]
    assert "nnmatch" not in scripts
    assert all(target.split(".")[0] in package_dirs for target in scripts.values())

    tooling = tomllib.loads((ROOT / "tools" / "pyproject.toml").read_text())
    assert tooling["project"]["scripts"] == {"nnmatch": "nnmatch_tools.cli:main"}
    assert tooling["tool"]["setuptools"]["packages"] == ["nnmatch_tools", "nnmatch_tools.realset"]


def test_containers_built_from_the_image_run_no_tooling_command(compose: dict[str, Any]) -> None:
    """The image carries no `nnmatch` CLI: a container built from it runs library modules."""
    built = {name: svc for name, svc in compose["services"].items() if "build" in svc}
    assert "dev-auth" in built
    for name, service in built.items():
        command = service.get("command")
        text = " ".join(command) if isinstance(command, list) else str(command or "")
        assert not re.search(r"(^|[\s;&|'\"])nnmatch(\s|$)", text), f"{name} runs the tooling CLI"
        assert "nnmatch_tools" not in text, name
    assert built["dev-auth"]["command"][:3] == ["python", "-m", "nnmatch.devauth"]


def test_compose_runs_two_matcher_replicas_with_their_own_ids(compose: dict[str, Any]) -> None:
    """Replicas that agree need a replica id each (their own consumer groups) and their own
    snapshots; only one runs the embedder."""
    first, second = compose["services"]["matching"], compose["services"]["matching-2"]
    ids = {s["environment"]["NNMATCH_REPLICA_ID"] for s in (first, second)}
    assert ids == {"matching-1", "matching-2"}
    assert "embedder" in first["environment"]["NNMATCH_ROLES"]
    assert second["environment"]["NNMATCH_ROLES"] == '["matcher", "hubs"]'
    snapshots = {v.split(":")[0] for s in (first, second) for v in s["volumes"] if "snapshots" in v}
    assert snapshots == {"matcher-snapshots", "matcher-snapshots-2"}
