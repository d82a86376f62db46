#!/usr/bin/env bash
# Runs GEMM at one size through `suanli run` and through the same library called directly
# (bench/direct_gemm.cpp), back to back with the same OpenBLAS kernels and threads, and prints
# the ratio. The harness must not be what limits a measurement: the ratio should be >= 0.95.
#   scripts/compare_direct.sh [SIZE=4096] [DTYPES=fp64,fp32] [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-4096}
dtypes=${2:-fp64,fp32}
build=${3:-build}
[ -x "$build/suanli" ] && [ -x "$build/bench/suanli-direct-gemm" ] || scripts/build.sh "$build"

# Same OpenBLAS kernels for both sides: what suanli would choose on this CPU.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -q avx512_bf16 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Cooperlake
  elif grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  fi
fi
# Physical cores, as the CPU backend uses by default.
threads=$(lscpu -p=core 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "${threads:-0}" -gt 0 ] || threads=$(nproc)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/suite.json" <<JSON
{"suanli_suite": 1, "name": "direct-compare",
 "settings": {"min_time": 1.0, "repetitions": 5, "max_noise": 0.01, "max_time": 20, "warmup_time": 0.5},
 "workloads": [{"op": "gemm", "dtype": [$(echo "$dtypes" | sed 's/[^,]*/"&"/g')], "size": $size}]}
JSON
"$build/suanli" run --backend cpu --suite "$tmp/suite.json" --out "$tmp/report.json" --quiet >/dev/null

python3 - "$tmp/report.json" "$build/bench/suanli-direct-gemm" "$size" "$threads" <<'PY'
import json, subprocess, sys
report, direct, size, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rep = json.load(open(report))
print(f"OPENBLAS_CORETYPE={__import__('os').environ.get('OPENBLAS_CORETYPE','(default)')}  threads={threads}  size={size}")
print(f"{'dtype':6} {'library':40} {'suanli median':>14} {'direct median':>14} {'ratio':>6}   {'suanli best':>12} {'direct best':>12} {'ratio':>6}")
worst = 1e9
for r in rep["results"]:
    if r["status"] != "ok":
        print(f"{r['dtype']:6} {r['status']}: {r.get('reason','')}")
        continue
    lib = "onednn" if r["library"].startswith("onednn") else "openblas"
    out = subprocess.run([direct, "--lib", lib, "--dtype", r["dtype"], "--size", size,
                          "--reps", "10", "--threads", threads],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out.strip().splitlines()[-1])
    s_med, s_best = r["flops_per_second"] / 1e9, r["flops_per_second_best"] / 1e9
    d_med, d_best = d["gflops_median"], d["gflops_best"]
    worst = min(worst, s_med / d_med)
    print(f"{r['dtype']:6} {r['library'][:40]:40} {s_med:10.1f} GF/s {d_med:10.1f} GF/s {s_med/d_med:6.3f}   "
          f"{s_best:8.1f} GF/s {d_best:8.1f} GF/s {s_best/d_best:6.3f}")
print(f"worst median ratio: {worst:.3f}")
PY
