#!/usr/bin/env bash
# Runs GEMM at one size through `suanli run` and through the libraries called directly
# (bench/direct_gemm.cpp: OpenBLAS; oneDNN with B row-major and with B in the layout oneDNN
# prefers, packed once before timing, as suanli does), back to back with the same OpenBLAS
# kernels and threads, and prints suanli's median against the best direct call of each dtype
# (and against the same library and layout). The harness must not be what limits a measurement:
# the ratio to the best direct call should be >= 0.97.
# A shared machine's clock and neighbours drift over a minute: the comparison runs ROUNDS rounds
# (suanli, then every direct call, per round) and reports each round's ratio and their median, so
# a drift between the two sides of one round does not decide the figure.
#   scripts/compare_direct.sh [SIZE=4096] [DTYPES=fp64,fp32] [BUILD_DIR=build] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-4096}
dtypes=${2:-fp64,fp32}
build=${3:-build}
rounds=${4:-3}
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
python3 - "$tmp" "$build/suanli" "$build/bench/suanli-direct-gemm" "$size" "$threads" "$rounds" <<'PY'
import json, os, statistics, subprocess, sys
tmp, suanli, direct, size, threads, rounds = sys.argv[1:7]
rounds = max(1, int(rounds))
print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE','(default)')}  threads={threads}  size={size}  rounds={rounds} (suanli, then the direct calls, per round)")
CANDIDATES = [("openblas", "plain"), ("onednn", "plain"), ("onednn", "packed")]
ratios = {}  # dtype -> [suanli / best direct, per round]
for rnd in range(1, rounds + 1):
    print(f"-- round {rnd}")
    out = f"{tmp}/report{rnd}.json"
    subprocess.run([suanli, "run", "--backend", "cpu", "--suite", f"{tmp}/suite.json", "--out", out,
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    rep = json.load(open(out))
    for r in rep["results"]:
        if r["status"] != "ok":
            print(f"{r['dtype']:6} {r['status']}: {r.get('reason','')}")
            continue
        lib = "onednn" if r["library"].startswith("onednn") else "openblas"
        layout = "packed" if "B packed" in r.get("implementation", "") else "plain"
        s_med, s_best = r["flops_per_second"] / 1e9, r["flops_per_second_best"] / 1e9
        print(f"{r['dtype']:6} suanli: {lib} B {layout:6} {s_med:10.1f} GF/s median {s_best:10.1f} best  ({r['implementation'][:90]})")
        best = None
        for dlib, dlayout in CANDIDATES:
            run = subprocess.run([direct, "--lib", dlib, "--dtype", r["dtype"], "--size", size,
                                  "--reps", "10", "--threads", threads, "--b-layout", dlayout],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"       direct {dlib:8} B {dlayout:6}  cannot: {run.stderr.strip()[:80]}")
                continue
            d = json.loads(run.stdout.strip().splitlines()[-1])
            same = " (same library and layout as suanli)" if (dlib, dlayout) == (lib, layout) else ""
            print(f"       direct {dlib:8} B {dlayout:6} {d['gflops_median']:10.1f} GF/s median {d['gflops_best']:10.1f} best  "
                  f"ratio {s_med / d['gflops_median']:6.3f} median, {s_best / d['gflops_best']:6.3f} best{same}")
            if best is None or d["gflops_median"] > best[0]:
                best = (d["gflops_median"], dlib, dlayout)
        if best:
            ratios.setdefault(r["dtype"], []).append(s_med / best[0])
            print(f"       suanli / best direct ({best[1]}, B {best[2]}): {s_med / best[0]:.3f}")
print("-- suanli / best direct call, median over the rounds (each round's ratio in brackets)")
worst = 1e9
for dt, rs in ratios.items():
    m = statistics.median(rs)
    worst = min(worst, m)
    print(f"{dt:6} {m:.3f}  [{', '.join(f'{x:.3f}' for x in rs)}]")
print(f"worst ratio to the best direct call: {worst:.3f}")
PY
