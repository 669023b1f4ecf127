#!/usr/bin/env bash
# Configures a Release build directory for the scripts (tests/run.sh, deploy/demo.sh):
# deploy/configure.sh BUILD_DIR [cmake arguments...]
# A build directory keeps the generator it was made with (Ninja from these scripts, Unix
# Makefiles from the README's plain `cmake -S . -B build`); naming another one makes CMake
# stop, so only a new directory gets Ninja, and either command may come first.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:?usage: deploy/configure.sh BUILD_DIR [cmake arguments...]}
shift
generator=(-G Ninja)
[ -f "$build_dir/CMakeCache.txt" ] && generator=()
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
