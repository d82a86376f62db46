#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang + AddressSanitizer + UndefinedBehaviorSanitizer
# and runs each for SECONDS on a scratch copy of its checked-in corpus (fuzz/corpus/TARGET).
#   scripts/fuzz.sh [SECONDS_PER_TARGET=8] [TARGET...]
# Exit status 0: no finding; 1: a target found a crash, a leak, an exception other than
# InputError, a timeout or runaway memory (the input is kept under build-fuzz/findings/).
# A long run (hours, one target): scripts/fuzz.sh 14400 suite
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(suite model report inventory claims profile certificate)
for t in "${targets[@]}"; do  # every target starts from checked-in valid and near-valid inputs
  compgen -G "fuzz/corpus/$t/*" >/dev/null ||
    { echo "fuzz.sh: fuzz/corpus/$t is empty or missing: check in a few seed inputs" >&2; exit 2; }
done
jobs=$(nproc 2>/dev/null || echo 2)
cc=$(command -v clang-14 || command -v clang)
cxx=$(command -v clang++-14 || command -v clang++)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DSUANLI_FUZZ=ON \
  -DSUANLI_BUILD_TESTS=OFF -DSUANLI_BUILD_BENCH=OFF -DSUANLI_WITH_CUDA=OFF \
  -DSUANLI_WITH_OPENCL=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target "${targets[@]/#/fuzz_}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
mkdir -p build-fuzz/findings
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$t"/* "$work"/
  echo "== fuzz_$t for ${secs} s ($(ls "$work" | wc -l) seeds)"
  if ! build-fuzz/fuzz/fuzz_"$t" "$work" -dict=fuzz/json.dict -max_total_time="$secs" \
      -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=0 \
      -artifact_prefix=build-fuzz/findings/"$t"- 2>build-fuzz/fuzz_"$t".log; then
    tail -40 build-fuzz/fuzz_"$t".log
    echo "fuzz_$t: FINDING (input under build-fuzz/findings/$t-*)"
    status=1
  else
    grep -E "^#[0-9]+.*DONE" build-fuzz/fuzz_"$t".log | tail -1 || true
  fi
  rm -rf "$work"
done
exit $status
