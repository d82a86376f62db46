#!/usr/bin/env bash
# A one-host Slurm cluster from Debian's packages runs `srun --mpi=pmix -n 2 suanli run` on the
# tiny cluster suite (quick takes ~30 s per rank on 2 shared cores; the path is the same): one
# cluster report, launcher srun, 2 nodes ok. The daemons are stopped at the end.
#   tests/slurm_test.sh SUANLI_BINARY SOURCE_DIR
set -euo pipefail
suanli=$1 src=$2
out=$(mktemp -d /tmp/suanli-slurm-test-XXXXXX)
trap 'rm -rf "$out"' EXIT
"$src/scripts/slurm/one_host_cluster.sh" srun --mpi=pmix -n 2 "$suanli" run --backend cpu --threads 1 -q \
  --suite "$src/tests/data/cluster_tiny.json" --out "$out/slurm.json"
# diagnose checks the report's schema and hash (2 nodes: no peer comparison, nothing flagged).
"$suanli" diagnose "$out/slurm.json"
python3 - "$out/slurm.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mpi"]["launcher"] == "srun", d["mpi"]
assert [n["rank"] for n in d["nodes"]] == [0, 1], d["nodes"]
assert all(n["status"] == "ok" and len(n["results"]) == 4 for n in d["nodes"])
assert all(r["verification"]["passed"] for n in d["nodes"] for r in n["results"])
print("slurm_test: 2 ranks through srun --mpi=pmix, report ok")
PY
