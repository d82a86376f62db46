#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest; then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== Release build, all tests"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests"
BUILD_TYPE=RelWithDebInfo scripts/build.sh build-asan -DSUANLI_SANITIZE=address,undefined -DSUANLI_BUILD_BENCH=OFF
# OpenMP and oneDNN keep process-lifetime allocations that LeakSanitizer would report;
# scripts/lsan.supp names them, nothing of ours.
# intercept_tls_get_addr=0: LeakSanitizer misreads the dynamic TLS of OpenMP worker threads
# created inside a dlopen'ed plugin on this glibc and crashes in its tracer after the test
# passed (google/sanitizers#1322); static TLS, stacks and the heap are still scanned.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:intercept_tls_get_addr=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -L unit -j "$jobs"

echo "== libFuzzer targets of the JSON readers, 8 s each (scripts/fuzz.sh; README: Fuzzing)"
scripts/fuzz.sh 8
