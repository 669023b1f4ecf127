#!/usr/bin/env bash
# The demo: builds mcptap, starts a throwaway PostgreSQL, an MCP backend over WebSocket and
# mcptap in front of it, sends a relay-like conversation through, and shows what was captured.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=/usr/bin/python3

deploy/install-deps.sh
deploy/configure.sh build
cmake --build build -j"$(nproc)" --target mcptap

work=$(mktemp -d /tmp/mcptap-demo.XXXXXX)
backend_pid="" ; mcptap_pid=""
cleanup() {
  [ -n "$mcptap_pid" ] && kill "$mcptap_pid" 2>/dev/null || true
  [ -n "$backend_pid" ] && kill "$backend_pid" 2>/dev/null || true
  $python tests/support/pg_cluster.py stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { $python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== starting a throwaway PostgreSQL"
pg_url=$($python tests/support/pg_cluster.py start "$work/pg" | tail -n 1)
backend_port=$(free_port); route_port=$(free_port); admin_port=$(free_port)

echo "== starting the MCP backend (WebSocket) on 127.0.0.1:$backend_port"
$python tests/integration/ws_backend.py "$backend_port" >"$work/backend.log" 2>&1 &
backend_pid=$!
# The backend says when it listens; mcptap starts only then, so that nothing it forwards
# meets a refused upstream.
wait_for() {  # wait_for WHAT COMMAND...: up to 10 s
  local what=$1; shift
  for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
  echo "demo: $what did not come up" >&2; return 1
}
wait_for "the backend" grep -q listening "$work/backend.log"

cat > "$work/mcptap.json" <<JSON
{
  "admin":  { "listen": "127.0.0.1:$admin_port" },
  "routes": [ { "name": "demo", "listen": "127.0.0.1:$route_port",
                "upstream": "localhost:$backend_port", "capture": true } ],
  "sink":   { "postgres": "$pg_url", "spool_dir": "$work/spool" }
}
JSON
echo "== starting mcptap: route demo 127.0.0.1:$route_port -> localhost:$backend_port"
build/bin/mcptap run --config "$work/mcptap.json" 2>"$work/mcptap.log" &
mcptap_pid=$!
# Readiness from the admin API (200 once every listener is bound): probing the route's port
# instead would open a connection mcptap forwards, and capture, for nothing.
readyz() { $python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
             "http://127.0.0.1:$admin_port/readyz" 2>/dev/null; }
wait_for "mcptap" readyz

echo "== a relay-like client talks to the backend through mcptap"
(cd tests/integration && $python ws_client.py "ws://127.0.0.1:$route_port/mcp")

echo "== SIGTERM: mcptap drains, flushes capture and exits"
kill -TERM "$mcptap_pid"; wait "$mcptap_pid"; mcptap_pid=""
echo "   exit code 0; log:"; sed 's/^/   /' "$work/mcptap.log"

echo "== the captured conversation (mcptap.messages)"
psql "$pg_url" -X -P pager=off -c "
  SELECT to_char(captured_at, 'HH24:MI:SS.US') AS time,
         CASE direction WHEN 'client_to_server' THEN 'client -> server' ELSE 'server -> client' END AS direction,
         kind, jsonrpc_id AS id, method, right(correlation_id::text, 8) AS correlation,
         latency_us, payload_bytes AS bytes, redacted,
         left(coalesce(payload #>> '{params,arguments}', payload #>> '{result,content,0,text}', payload::text), 40) AS detail
    FROM mcptap.messages m WHERE route = 'demo' ORDER BY m.id"

echo "== the same conversation as mcptap query shows it (each answer under its request)"
build/bin/mcptap query --pg "$pg_url" --route demo --limit 50
