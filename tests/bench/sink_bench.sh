#!/bin/sh
# Sink benchmark: starts a throwaway PostgreSQL 15 cluster, builds sink_bench, and prints
# the sink's rows/s against psql \copy of the same rows, and the drain of an outage.
# Usage: tests/bench/sink_bench.sh [BUILD_DIR] [ROWS] [OUTAGE_SECONDS] [INPUT_RATE]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rows=${2:-100000}
outage=${3:-60}
rate=${4:-2000}
py=/usr/bin/python3
cluster="$root/tests/support/pg_cluster.py"

cmake --build "$build" --target sink_bench -j2 >/dev/null
state=$(mktemp -d /tmp/mcptap-sink-bench-pg-XXXXXX)
trap '$py "$cluster" stop "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT INT TERM
url=$($py "$cluster" start "$state")
# The raw COPY goes into an identical table in a second database of the same server.
raw_url=${url%/*}/mcptap_raw
psql -X -q "$url" -c "CREATE DATABASE mcptap_raw"
"$build/bin/sink_bench" --url "$url" --raw-url "$raw_url" --state-dir "$state" \
  --cluster-script "$cluster" --rows "$rows" --outage-s "$outage" --input-rate "$rate"
