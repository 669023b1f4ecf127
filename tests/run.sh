#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit tests,
# PostgreSQL-backed tests against a throwaway cluster, and integration tests with real peers).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
build_dir=${MCPTAP_BUILD_DIR:-build}
deploy/configure.sh "$build_dir"
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
