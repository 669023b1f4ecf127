#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit tests,
# PostgreSQL-backed tests against a throwaway cluster, and integration tests with real peers).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
build_dir=${MCPTAP_BUILD_DIR:-build}
# A build directory keeps the generator it was made with (Ninja here, Unix Makefiles from a
# plain `cmake -S . -B build`); naming another one makes CMake stop, so only a new
# directory gets Ninja.
generator=(-G Ninja)
[ -f "$build_dir/CMakeCache.txt" ] && generator=()
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
