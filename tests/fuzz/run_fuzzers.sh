#!/bin/sh
# Builds the libFuzzer harnesses with clang-14 (ASan + UBSan) and runs each for a bounded
# time on its seed corpus; exits non-zero on the first crash, leak, timeout or UB report.
# Usage: tests/fuzz/run_fuzzers.sh [harness...]   FUZZ_SECONDS (default 60), BUILD_DIR, JOBS
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-"$ROOT/build-fuzz"}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-2}
CC=${CC:-clang-14}
CXX=${CXX:-clang++-14}
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DMCPTAP_BUILD_TESTS=OFF -DMCPTAP_FUZZ=ON
cmake --build "$BUILD_DIR" -j "$JOBS" --target fuzzers

if [ "$#" -gt 0 ]; then
  HARNESSES="$*"
else
  HARNESSES=$(cd "$ROOT/tests/fuzz" && ls ./*_fuzz.cpp | sed 's|^\./||; s|\.cpp$||')
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=""
for harness in $HARNESSES; do
  seeds="$ROOT/tests/fuzz/corpus/$harness"
  # New inputs go to a scratch corpus; the committed seeds stay as they are.
  work="$BUILD_DIR/corpus/$harness"
  artifacts="$BUILD_DIR/artifacts/$harness/"
  mkdir -p "$work" "$artifacts"
  echo "== $harness for ${FUZZ_SECONDS}s"
  if ! "$BUILD_DIR/bin/$harness" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$seeds" \
      >"$BUILD_DIR/$harness.log" 2>&1; then
    echo "!! $harness failed; last lines of $BUILD_DIR/$harness.log:"
    tail -n 40 "$BUILD_DIR/$harness.log"
    failed="$failed $harness"
  else
    grep -E '^stat::number_of_executed_units|^Done' "$BUILD_DIR/$harness.log" | head -2 || true
  fi
done

if [ -n "$failed" ]; then
  echo "fuzzing found crashes in:$failed (inputs under $BUILD_DIR/artifacts/)"
  exit 1
fi
echo "all fuzzers ran ${FUZZ_SECONDS}s without a crash"
