#!/usr/bin/env bash
# Runs the catalog, cache, invalidation, session, cart, admin and API-write
# tests with the cache and sessions on a 3-master Redis Cluster of its own
# (loopback ports from 7101, or CLUSTER_BASE_PORT), instead of one Redis.
# Extra arguments go to the test binary, e.g. a narrower filter.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${CLUSTER_BASE_PORT:-7101}"
ports=("$base" "$((base + 1))" "$((base + 2))")
dir="$(mktemp -d)"
stop() {
  for port in "${ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$dir"
}
trap stop EXIT

for port in "${ports[@]}"; do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "port $port is taken: set CLUSTER_BASE_PORT to a free range" >&2
    exit 2
  fi
  mkdir -p "$dir/$port"
  (cd "$dir/$port" && redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
    --daemonize yes --logfile "$dir/$port/redis.log")
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-yes >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p "$base" cluster info | grep -q "cluster_state:ok" && break
  sleep 0.1
done
redis-cli -p "$base" cluster info | grep -q "cluster_state:ok" || { echo "the cluster did not form" >&2; exit 1; }

url="$(printf 'redis://127.0.0.1:%s,' "${ports[@]}")"
export TEST_REDIS_URL="${url%,}"
echo "Redis Cluster at $TEST_REDIS_URL"
if [ "$#" -eq 0 ]; then
  set -- catalog_api catalog_pages cache:: cache_ops accounts cart admin api_writes
fi
cargo test --test api -- "$@"
