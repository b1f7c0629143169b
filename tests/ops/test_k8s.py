"""The k8s/ manifests: each overlay renders with `kubectl kustomize`, every built-in object
validates against the Kubernetes 1.37 schema (offline, strict), and the custom resources carry
what their operators (Strimzi, KEDA, Prometheus Operator) require."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type hints
import pytest

from nnmatch.settings import KafkaSettings, ServiceSettings
from nnmatch.topics import PROFILES, new_topics
from nnmatch_matching.bootstrap import EMBEDDER_GROUP
from tests.ops.regenerate import OUTPUTS
from tests.ops.tools import K8S, OVERLAYS, RULES, load_all, load_yaml, tool

KUBERNETES_VERSION = "1.37.0"
CUSTOM_KINDS = {
    "kafka.strimzi.io": {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"},
    "keda.sh": {"ScaledObject"},
    "monitoring.coreos.com": {"ServiceMonitor", "PrometheusRule"},
}
SERVICES = {"profiles": 8001, "embedder": 8002, "matching": 8002, "notifications": 8003}
WEB_PORT = 8000  # the web pages: no Kafka, no Redis; they call the three APIs

Manifest = dict[str, Any]


def render(target: str) -> list[Manifest]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {target} failed:\n{result.stderr}"
    return load_all(result.stdout)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, render(f"overlays/{request.param}")


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(docs: list[Manifest]) -> Iterator[Manifest]:
    yield from (d for d in docs if d["kind"] in {"Deployment", "StatefulSet"})


def test_base_renders_too() -> None:
    assert render("base")


def test_files_mirroring_the_code_are_current() -> None:
    stale = [str(path) for path, write in OUTPUTS.items() if path.read_text() != write()]
    assert stale == [], f"stale: {stale}; run `.venv/bin/python -m tests.ops.regenerate`"


def test_every_builtin_object_validates_against_the_kubernetes_schema(
    rendered: tuple[str, list[Manifest]],
) -> None:
    overlay, docs = rendered
    problems = []
    for doc in docs:
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        if doc["kind"] in CUSTOM_KINDS.get(group, set()):
            continue  # no upstream schema: checked field by field below
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{doc['kind']} ({doc['apiVersion']}) has no schema: a typo?")
    assert problems == [], f"{overlay}: " + "\n".join(problems)


def test_workloads_have_probes_resources_graceful_stop_and_run_as_non_root(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, docs = rendered
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod.get("terminationGracePeriodSeconds", 0) >= 30, name
        for container in pod["containers"]:
            assert container["readinessProbe"], name
            assert container["livenessProbe"], name
            assert container["resources"]["requests"]["memory"], name
            assert container["resources"]["limits"]["memory"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        if name == "nnmatch-redis":
            continue
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert pod["terminationGracePeriodSeconds"] >= 45, "room to finish a batch and commit"
        assert {"configMapRef": {"name": "nnmatch-config"}} in container["envFrom"]


def test_every_workload_has_a_disruption_budget_and_a_network_policy(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, docs = rendered
    budgets = [d["spec"]["selector"]["matchLabels"] for d in of_kind(docs, "PodDisruptionBudget")]
    policies = of_kind(docs, "NetworkPolicy")
    for workload in workloads(docs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        name = workload["metadata"]["name"]
        if name != "nnmatch-redis":
            assert any(b.items() <= labels.items() for b in budgets), f"no PDB for {name}"
        selecting = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert any(p["metadata"]["name"] == "nnmatch-default-deny" for p in selecting), name
        assert len(selecting) >= 2, f"{name} has no policy of its own"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_open_only_what_each_service_needs(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, docs = rendered
    for name, port in SERVICES.items():
        policy = one(docs, "NetworkPolicy", f"nnmatch-{name}")
        assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": port}]
        egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert {53, 9092, 6379} <= egress_ports
        if name != "notifications":
            assert not egress_ports & {25, 465, 587}, f"only notifications sends e-mail ({name})"
    embedder = one(docs, "NetworkPolicy", "nnmatch-embedder")
    assert embedder["spec"]["ingress"][0]["from"], "the embedder takes metrics scrapes only"
    web = one(docs, "NetworkPolicy", "nnmatch-web")
    assert web["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": WEB_PORT}]
    web_egress = {p["port"] for rule in web["spec"]["egress"] for p in rule["ports"]}
    assert web_egress == {53, 443, 8001, 8002, 8003}, "web: DNS, the JWKS and the three APIs"
    redis = one(docs, "NetworkPolicy", "nnmatch-redis")
    assert redis["spec"]["egress"] == []


def test_only_the_matcher_and_the_embedder_run_the_matching_image(
    rendered: tuple[str, list[Manifest]],
) -> None:
    """nnmatch-matching is the Dockerfile's `matching` target (torch, FAISS, the model); the
    other services run their `lean` image (test_images.py checks compose builds them so)."""
    _, docs = rendered
    images = {
        w["metadata"]["name"]: c["image"].rsplit("/", 1)[-1].split(":")[0]
        for w in workloads(docs)
        for c in w["spec"]["template"]["spec"]["containers"]
        if "nnmatch-" in c["image"]
    }
    assert images == {
        "nnmatch-profiles": "nnmatch-profiles",
        "nnmatch-embedder": "nnmatch-matching",
        "nnmatch-matching": "nnmatch-matching",  # the matcher StatefulSet
        "nnmatch-notifications": "nnmatch-notifications",
        "nnmatch-web": "nnmatch-web",
    }


def test_web_calls_the_three_apis_at_their_services(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    (container,) = one(docs, "Deployment", "nnmatch-web")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for name in ("profiles", "matching", "notifications"):
        (port,) = one(docs, "Service", f"nnmatch-{name}")["spec"]["ports"]
        assert env[f"NNMATCH_{name.upper()}_URL"] == f"http://nnmatch-{name}:{port['port']}"


def test_redis_persists_and_never_evicts(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    redis = one(docs, "StatefulSet", "nnmatch-redis")
    args = " ".join(redis["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "--appendonly yes" in args
    assert "--maxmemory-policy noeviction" in args
    assert redis["spec"]["volumeClaimTemplates"]


def test_the_matcher_keeps_its_index_snapshot_on_a_persistent_volume(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, docs = rendered
    matcher = one(docs, "StatefulSet", "nnmatch-matching")
    (claim,) = matcher["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    (container,) = matcher["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/nnmatch/snapshots"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NNMATCH_ROLES"] == '["matcher", "hubs"]'


def test_secrets_are_referenced_never_inlined(rendered: tuple[str, list[Manifest]]) -> None:
    overlay, docs = rendered
    secrets = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    for workload in workloads(docs):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if env["name"] == "NNMATCH_REDIS_URL":
                    assert ref is not None, "the Redis URL may carry a password"
                if ref is not None and overlay == "dev":
                    assert ref["name"] in secrets, "dev generates its secrets"
    if overlay == "prod":
        assert secrets == set(), "production secrets come from the cluster's secret manager"


def test_strimzi_kafka_runs_kraft_with_a_node_pool(rendered: tuple[str, list[Manifest]]) -> None:
    overlay, docs = rendered
    kafka = one(docs, "Kafka", "nnmatch")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    spec = kafka["spec"]
    assert "zookeeper" not in spec, "KRaft: no ZooKeeper"
    assert spec["kafka"]["version"]
    listeners = spec["kafka"]["listeners"]
    assert all({"name", "port", "type", "tls"} <= set(listener) for listener in listeners)
    assert any(listener["port"] == 9092 and not listener["tls"] for listener in listeners)
    assert "topicOperator" in spec["entityOperator"], "KafkaTopic resources need it"
    (pool,) = of_kind(docs, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "nnmatch"
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["spec"]["storage"]["type"] in {"jbod", "persistent-claim"}
    replicas = pool["spec"]["replicas"]
    config = spec["kafka"]["config"]
    assert config["min.insync.replicas"] < replicas or replicas == 1
    assert config["offsets.topic.replication.factor"] <= replicas
    if overlay == "prod":
        assert replicas == 3
        assert config["min.insync.replicas"] == 2


def test_kafka_topics_match_the_code(rendered: tuple[str, list[Manifest]]) -> None:
    overlay, docs = rendered
    replicas = 3 if overlay == "prod" else 1
    topics = {d["spec"]["topicName"]: d for d in of_kind(docs, "KafkaTopic")}
    settings = KafkaSettings(
        bootstrap_servers="unused:9092",
        enable_idempotence=True,
        partitions=6,
        replication_factor=replicas,
        topic_prefix="",
        client_id="ops-test",
    )
    expected = {t.name: t for t in new_topics(settings)}
    assert set(topics) == set(expected)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "nnmatch", name
        assert topic["spec"]["partitions"] == expected[name].num_partitions, name
        assert topic["spec"]["replicas"] == replicas, name
        config = {k: str(v) for k, v in topic["spec"]["config"].items()}
        config.pop("min.insync.replicas", None)
        assert config == expected[name].topic_configs, name
    config_map = one(docs, "ConfigMap", _config_map_name(docs))
    assert config_map["data"]["NNMATCH_KAFKA_REPLICATION_FACTOR"] == str(replicas)
    port = 9093 if overlay == "prod" else 9092  # prod: TLS and SCRAM (kafka-security.yaml)
    assert config_map["data"]["KAFKA_BOOTSTRAP_SERVERS"] == f"nnmatch-kafka-bootstrap:{port}"
    assert config_map["data"]["NNMATCH_KAFKA_ENABLE_IDEMPOTENCE"] == "true"


def _config_map_name(docs: list[Manifest]) -> str:
    (name,) = [
        str(d["metadata"]["name"])
        for d in of_kind(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("nnmatch-config")
    ]
    return name


def test_keda_scales_the_embedder_on_its_consumer_lag(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    scaled = one(docs, "ScaledObject", "nnmatch-embedder")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    one(docs, target.get("kind", "Deployment"), target["name"])
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == EMBEDDER_GROUP
    assert metadata["topic"] == PROFILES.name
    assert metadata["bootstrapServers"] == "nnmatch-kafka-bootstrap:9092"
    assert int(metadata["lagThreshold"]) > 0
    assert scaled["spec"]["maxReplicaCount"] <= 6, "at most one embedder per partition"


def test_prometheus_operator_scrapes_every_service_and_loads_the_rules(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, docs = rendered
    monitor = one(docs, "ServiceMonitor", "nnmatch")
    (expression,) = monitor["spec"]["selector"]["matchExpressions"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    for name in [*SERVICES, "web"]:
        service = one(docs, "Service", f"nnmatch-{name}")
        assert service["metadata"]["labels"][expression["key"]] in expression["values"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    rule = one(docs, "PrometheusRule", "nnmatch")
    assert rule["spec"] == load_yaml(RULES), "k8s/base/prometheusrule.yaml is stale"


def test_prod_services_reach_kafka_over_tls_each_as_its_own_scram_user(
    tmp_path: Path,
) -> None:
    """Strimzi's TLS listener with SCRAM-SHA-512, a KafkaUser per service, and settings the
    code accepts: the ConfigMap plus each container's env, validated by `ServiceSettings`."""
    docs = render("overlays/prod")
    kafka = one(docs, "Kafka", "nnmatch")
    listeners = {listener["name"]: listener for listener in kafka["spec"]["kafka"]["listeners"]}
    scram = listeners["scram"]
    assert (scram["port"], scram["tls"], scram["authentication"]) == (
        9093,
        True,
        {"type": "scram-sha-512"},
    )
    plain_peers = listeners["plain"]["networkPolicyPeers"]
    assert plain_peers == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    ], "in prod the plain listener serves KEDA's lag reads only"
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    for user in users.values():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "nnmatch"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    config = one(docs, "ConfigMap", _config_map_name(docs))["data"]
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == "nnmatch-kafka-bootstrap:9093"
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("a CA certificate, mounted from nnmatch-cluster-ca-cert\n")
    kafka_workloads = [
        w for w in workloads(docs) if w["metadata"]["labels"]["app.kubernetes.io/name"] in SERVICES
    ]
    assert len(kafka_workloads) == len(SERVICES)
    for workload in kafka_workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        user = env["NNMATCH_KAFKA_SASL_USERNAME"]["value"]
        assert user == name, f"{name} logs in as its own KafkaUser"
        assert user in users, f"no KafkaUser {user}"
        secret = env["NNMATCH_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": user, "key": "password"}, "the User Operator's Secret"
        (ca_volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert ca_volume["secret"]["secretName"] == "nnmatch-cluster-ca-cert"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-ca"]
        assert config["NNMATCH_KAFKA_SSL_CAFILE"] == f"{mount['mountPath']}/ca.crt"
        policy = one(docs, "NetworkPolicy", name)
        assert 9093 in {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        variables = {k: v for k, v in config.items() if k.startswith("NNMATCH_KAFKA_")}
        variables |= {"NNMATCH_KAFKA_SSL_CAFILE": str(ca_file)}
        variables |= {"NNMATCH_KAFKA_SASL_USERNAME": user, "NNMATCH_KAFKA_SASL_PASSWORD": "x"}
        security = ServiceSettings(
            **{k.removeprefix("NNMATCH_").lower(): v for k, v in variables.items()}
        ).kafka_security()
        assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert "nnmatch-web" not in users, "the web pages have no Kafka"
