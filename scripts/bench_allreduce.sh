#!/usr/bin/env bash
# The fabric suite's allreduce (fp32, 64 MiB, 2 ranks) against a minimal program that times
# MPI_Allreduce directly (bench/direct_allreduce.cpp), alternating, same machine, same run.
#   scripts/bench_allreduce.sh [BUILD_DIR] [ROUNDS]
# Prints each measurement and the ratio of the medians (suanli / direct); the bar is >= 0.9.
set -euo pipefail
build=${1:-build} rounds=${2:-5}
bytes=$((64 << 20)) iters=20
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --bind-to none -np 2)
dir=$(mktemp -d /tmp/suanli-bench-allreduce-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/suite.json" <<JSON
{"suanli_fabric_suite": 1, "name": "allreduce64m",
 "settings": {"min_bytes": $bytes, "max_bytes": $bytes, "min_iterations": $iters, "max_iterations": $iters, "warmup": 2},
 "tests": [{"op": "allreduce", "dtype": ["fp32"]}]}
JSON
s=() d=()
for i in $(seq "$rounds"); do
  "${mpirun[@]}" "$build/suanli" run -q --suite "$dir/suite.json" --out "$dir/f$i.json" >/dev/null
  s+=("$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['fabric']['results'][0]; assert r['status']=='ok', r; print(r['algbw_bytes_per_second'])" "$dir/f$i.json")")
  d+=("$("${mpirun[@]}" "$build/bench/suanli-direct-allreduce" "$bytes" "$iters" | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); assert r['verified']; print(r['algbw_bytes_per_second'])")")
  python3 -c "import sys; print(f'round {sys.argv[1]}: suanli fabric allreduce {float(sys.argv[2])/1e9:.3f} GB/s (verified)   direct MPI_Allreduce {float(sys.argv[3])/1e9:.3f} GB/s')" "$i" "${s[-1]}" "${d[-1]}"
done
python3 - "${s[*]}" "${d[*]}" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
d = [float(x) for x in sys.argv[2].split()]
ms, md = statistics.median(s), statistics.median(d)
print(f"median algbw: suanli {ms/1e9:.3f} GB/s, direct {md/1e9:.3f} GB/s, ratio {ms/md:.3f} (bar: >= 0.9)")
PY
