"""Rewrite the deploy files that mirror the code: `python -m tests.ops.regenerate`.

deploy/kafka/topics.txt and k8s/base/topics.yaml list the topics of libs/nnmatch/topics.py;
k8s/base/prometheusrule.yaml carries deploy/prometheus/rules/nnmatch.yml. tests/ops fails
when they drift, naming this command.
"""

from __future__ import annotations

from typing import Any

import yaml

from nnmatch.settings import KafkaSettings
from nnmatch.topics import new_topics
from tests.ops.tools import DEPLOY, K8S, RULES, load_yaml

COMMAND = "`.venv/bin/python -m tests.ops.regenerate`"


def _settings() -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="unused:9092",
        enable_idempotence=True,
        partitions=6,
        replication_factor=1,
        topic_prefix="",
        client_id="ops-regenerate",
    )


def topics_txt() -> str:
    lines = [
        "# name partitions configs — mirrors libs/nnmatch/topics.py (tests/ops checks they agree;",
        f"# {COMMAND} rewrites it). Partitions: the default NNMATCH_KAFKA_PARTITIONS (6).",
    ]
    for topic in new_topics(_settings()):
        configs = ",".join(f"{k}={v}" for k, v in sorted(topic.topic_configs.items()))
        lines.append(f"{topic.name} {topic.num_partitions} {configs}")
    return "\n".join(lines) + "\n"


def topics_yaml() -> str:
    docs = [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {
                "name": topic.name.replace(".", "-"),
                "labels": {"strimzi.io/cluster": "nnmatch"},
            },
            "spec": {
                "topicName": topic.name,
                "partitions": topic.num_partitions,
                "replicas": 1,
                "config": dict(sorted(topic.topic_configs.items())),
            },
        }
        for topic in new_topics(_settings())
    ]
    head = (
        "# nnmatch's topics (libs/nnmatch/topics.py: names, partitions, cleanup) for Strimzi's\n"
        f"# Topic Operator, written by {COMMAND}. The prod overlay sets replicas: 3.\n"
    )
    return head + yaml.safe_dump_all(docs, sort_keys=False)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def prometheus_rule() -> str:
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "nnmatch", "labels": {"release": "prometheus"}},
        "spec": load_yaml(RULES),
    }
    head = (
        "# The rules of deploy/prometheus/rules/nnmatch.yml (which compose loads and promtool\n"
        f"# tests) for the Prometheus Operator, written by {COMMAND}.\n"
    )
    return head + yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=100)


OUTPUTS = {
    DEPLOY / "kafka" / "topics.txt": topics_txt,
    K8S / "base" / "topics.yaml": topics_yaml,
    K8S / "base" / "prometheusrule.yaml": prometheus_rule,
}


def main() -> None:
    for path, render in OUTPUTS.items():
        path.write_text(render())
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
