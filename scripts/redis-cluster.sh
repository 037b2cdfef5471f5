#!/usr/bin/env bash
# A three-master Redis Cluster on loopback for tests, CI and benchmarks: `start` (idempotent), `stop`, `status`.
#   REDIS_CLUSTER_PORTS  the masters' ports (default "7001 7002 7003")
#   REDIS_CLUSTER_DIR    where each node keeps its cluster config and log (default /tmp/paperboy-redis-cluster)
# No persistence: like the single Redis, the cluster only carries jobs that Postgres can rebuild. Each node's
# nodes.conf stays in its directory, so a node killed and started again (same port, same directory) rejoins
# the cluster as the master it was, empty.
set -euo pipefail

PORTS=(${REDIS_CLUSTER_PORTS:-7001 7002 7003})
DIR=${REDIS_CLUSTER_DIR:-/tmp/paperboy-redis-cluster}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
up() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }
info_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

start_node() {
  local port=$1 dir="$DIR/$1"
  mkdir -p "$dir"
  # Not holding the lock (fd 9): the daemon outlives this script.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --save "" --appendonly no --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" 9>&-
}

wait_for() { # seconds, description, check command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
  echo "redis-cluster: $what (after ${seconds}s; logs in $DIR/<port>/redis.log)" >&2
  return 1
}

all_up() { for port in "${PORTS[@]}"; do up "$port" || return 1; done; }
# Every node sees every slot served and the cluster ok: until then some commands answer CLUSTERDOWN.
all_ok() {
  for port in "${PORTS[@]}"; do
    [ "$(info_field "$port" cluster_state)" = ok ] || return 1
    [ "$(info_field "$port" cluster_slots_ok)" = 16384 ] || return 1
    [ "$(info_field "$port" cluster_known_nodes)" = "${#PORTS[@]}" ] || return 1
  done
}
# Nodes that know only themselves and serve no slot: a cluster still to be created.
all_fresh() {
  for port in "${PORTS[@]}"; do
    [ "$(info_field "$port" cluster_known_nodes)" = 1 ] && [ "$(info_field "$port" cluster_slots_assigned)" = 0 ] || return 1
  done
}

start() {
  for port in "${PORTS[@]}"; do up "$port" || start_node "$port"; done
  wait_for 20 "not every node answers" all_up
  if all_fresh; then
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
  fi
  # A formed cluster whose node was restarted needs a moment to agree again; a half-formed one never will.
  wait_for 30 "the cluster is not ok; \`$0 stop\` then \`$0 start\` builds it afresh" all_ok
  echo "redis-cluster: ok on 127.0.0.1:${PORTS[*]}"
}

stop() {
  for port in "${PORTS[@]}"; do
    if up "$port"; then cli "$port" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  for port in "${PORTS[@]}"; do wait_for 10 "node $port did not stop" bash -c "! redis-cli -h 127.0.0.1 -p $port ping >/dev/null 2>&1"; done
  # Without the nodes' config files the next start forms a new cluster.
  rm -rf "$DIR"
}

status() {
  for port in "${PORTS[@]}"; do
    printf '%s: %s\n' "$port" "$(info_field "$port" cluster_state || true)"
  done
  all_ok
}

case "${1:-}" in
  start | stop | status)
    mkdir -p "$DIR"
    # One caller at a time (CI and a test run's global setup may both call start).
    exec 9>"$DIR.lock"
    flock 9
    "$1"
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
