#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit tests,
# PostgreSQL-backed tests against a throwaway cluster, and integration tests with real peers).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
build_dir=${MCPTAP_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
