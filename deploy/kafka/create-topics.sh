#!/bin/sh
# Create nnmatch's topics (deploy/kafka/topics.txt) on the compose Kafka; existing ones are kept.
# Runs in the apache/kafka image: docker compose runs it once Kafka is healthy.
set -eu
BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}"
REPLICATION="${REPLICATION_FACTOR:-1}"
TOPICS_FILE="${TOPICS_FILE:-/nnmatch/topics.txt}"
grep -v '^#' "$TOPICS_FILE" | while read -r name partitions configs; do
  [ -n "$name" ] || continue
  set -- --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
    --partitions "$partitions" --replication-factor "$REPLICATION"
  for config in $(echo "$configs" | tr ',' ' '); do
    set -- "$@" --config "$config"
  done
  /opt/kafka/bin/kafka-topics.sh "$@"
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
