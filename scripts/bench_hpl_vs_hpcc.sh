#!/usr/bin/env bash
# HPL back to back: Debian's hpcc (its HPL: one MPI rank per core, one OpenBLAS thread each,
# OpenBLAS's AVX-512 core selected) and suanli's `op: hpl` on the CPU backend (all cores, one
# process), at the same N on this machine. Prints both GFLOPS and their ratio.
#   scripts/bench_hpl_vs_hpcc.sh [N=10000] [hpcc NB=192] [suanli NB=256] [build dir=build]
# hpcc also runs its other tests (PTRANS, STREAM, FFT, ...) after HPL; only HPL is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
nb=${2:-192}
snb=${3:-256}
build=${4:-build}
command -v hpcc >/dev/null || { echo "bench: hpcc is not installed (apt-get install hpcc)" >&2; exit 2; }
cores=$(lscpu -p=CORE 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "$cores" -ge 1 ] || cores=$(nproc)
# A 1 x Q grid: with few ranks, row swaps stay local and only the panel broadcast crosses ranks.
p=1
q=$cores
core=SkylakeX
grep -q avx512_bf16 /proc/cpuinfo && core=Cooperlake
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/hpccinf.txt" <<EOF
HPLinpack benchmark input file
Innovative Computing Laboratory, University of Tennessee
HPL.out      output file name (if any)
8            device out (6=stdout,7=stderr,file)
1            # of problems sizes (N)
$n           Ns
1            # of NBs
$nb          NBs
0            PMAP process mapping (0=Row-,1=Column-major)
1            # of process grids (P x Q)
$p           Ps
$q           Qs
16.0         threshold
1            # of panel fact
2            PFACTs (0=left, 1=Crout, 2=Right)
1            # of recursive stopping criterium
4            NBMINs (>= 1)
1            # of panels in recursion
2            NDIVs
1            # of recursive panel fact.
1            RFACTs (0=left, 1=Crout, 2=Right)
1            # of broadcast
1            BCASTs (0=1rg,1=1rM,2=2rg,3=2rM,4=Lng,5=LnM)
1            # of lookahead depth
1            DEPTHs (>=0)
2            SWAP (0=bin-exch,1=long,2=mix)
64           swapping threshold
0            L1 in (0=transposed,1=no-transposed) form
0            U  in (0=transposed,1=no-transposed) form
1            Equilibration (0=no,1=yes)
8            memory alignment in double (> 0)
##### This line (no. 32) is ignored (it serves as a separator). ######
0                      		Number of additional problem sizes for PTRANS
1200 10000 30000        	values of N
0                       	number of additional blocking sizes for PTRANS
40 9 8 13 13 20 16 32 64       	values of NB
EOF
echo "bench: hpcc N=$n NB=$nb P=$p Q=$q, $cores ranks x 1 OpenBLAS thread (OPENBLAS_CORETYPE=$core)"
(cd "$work" && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=$core \
   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
   mpirun --oversubscribe -np "$cores" hpcc >/dev/null 2>&1) || true
hpcc_gflops=$(grep -m1 '^HPL_Tflops=' "$work/hpccoutf.txt" | cut -d= -f2 | awk '{printf "%.2f", $1 * 1000}')
hpcc_resid=$(grep -m1 'HPL_rnorm' "$work/hpccoutf.txt" || true)
echo "bench: hpcc HPL: ${hpcc_gflops} GFLOPS"
cat >"$work/suite.json" <<EOF
{"suanli_suite": 1, "name": "hpl-bench", "workloads": [{"op": "hpl", "n": $n, "nb": $snb}]}
EOF
echo "bench: suanli op hpl N=$n NB=$snb, one process, $cores threads (OPENBLAS_CORETYPE=$core)"
# The same OpenBLAS kernels for both (suanli respects OPENBLAS_CORETYPE set in the environment).
OPENBLAS_CORETYPE=$core "$build/suanli" run --suite "$work/suite.json" --backend cpu -q \
  -o "$work/suanli.json" || true
python3 - "$work/suanli.json" "$hpcc_gflops" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
g = r.get("flops_per_second", 0) / 1e9
print(f"bench: suanli HPL: {g:.2f} GFLOPS, status {r['status']}, scaled residual "
      f"{r.get('verification', {}).get('error')}")
h = float(sys.argv[2] or 0)
if h > 0:
    print(f"bench: suanli / hpcc = {g / h:.3f}")
EOF
