#!/bin/sh
# The proxy benchmark in one command: installs wrk, nginx and mitmproxy when missing (as
# root), builds mcptap and the benchmark programs (Release, in build-bench), and runs
# proxy_bench.py, which prints the markdown tables of the README's Performance section.
#
#   tests/bench/run_bench.sh [--rounds 3] [--seconds 10] [--parts http,ws,scale] [--no-pin]
#                            [--baseline-build DIR]
#
# --parts tls (not in the default parts) runs the TLS scenarios instead: direct HTTPS to the
# backend, nginx terminating and originating TLS, and mcptap with listen_tls and upstream_tls,
# capture off and on; keep-alive throughput, new connections per second (resumed and full
# handshakes) and RSS per idle TLS connection, e.g.
#   tests/bench/run_bench.sh --no-pin --parts tls
#
# --baseline-build DIR adds mcptap-on-baseline: another build's DIR/bin/mcptap capturing the
# same load in the same interleaved rounds, for a side-by-side of a change, e.g.
#   git worktree add /tmp/base HEAD~1 && cmake -S /tmp/base -B /tmp/base/build -G Ninja \
#     -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/base/build --target mcptap
#   tests/bench/run_bench.sh --no-pin --parts http --baseline-build /tmp/base/build
#
# Environment: BUILD_DIR (default build-bench). Everything it starts (PostgreSQL, nginx,
# mitmdump, mcptap, the WebSocket backend) is stopped when it ends.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v mitmdump >/dev/null 2>&1 || missing="$missing mitmproxy"
command -v perf >/dev/null 2>&1 || missing="$missing linux-perf"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "run_bench.sh: installing$missing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >/dev/null 2>&1 ||
      echo "run_bench.sh: could not install$missing; their scenarios are skipped" >&2
  else
    echo "run_bench.sh: not root, cannot install$missing; their scenarios are skipped" >&2
  fi
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target mcptap ws_loadgen proxy_bench_ws_echo capture_bench \
  tls_connect_loadgen >/dev/null

# 10 000 idle connections need 20 000+ descriptors in mcptap alone.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# On a machine shared with builds, every process of the benchmark (load generators,
# backends, the proxies, PostgreSQL) runs at a higher priority alike, so that the numbers
# depend less on the scheduler's share. MCPTAP_BENCH_NICE=0 turns it off.
NICE=${MCPTAP_BENCH_NICE:--10}
if [ "$(id -u)" != 0 ] && [ "$NICE" -lt 0 ]; then NICE=0; fi
exec nice -n "$NICE" /usr/bin/python3 "$ROOT/tests/bench/proxy_bench.py" --build-dir "$BUILD_DIR" "$@"
