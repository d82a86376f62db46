#!/usr/bin/env bash
# First run on an NVIDIA GPU machine: builds with the CUDA backend, shows `suanli info`, runs the
# quick suite on --backend cuda and keeps the report under reports/examples/.
# Usage: scripts/gpu_smoke.sh [BUILD_DIR] [extra `suanli run` arguments, e.g. --suite standard]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-gpu}
shift || true
command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "note: nvidia-smi not found"
scripts/build.sh "$dir" -DSUANLI_WITH_CUDA=ON
if [ ! -f "$dir/backends/libsuanli_backend_cuda.so" ]; then
  echo "error: the CUDA backend was not built (is the CUDA toolkit at /usr/local/cuda or in CUDAToolkit_ROOT?)" >&2
  exit 1
fi
"$dir/suanli" info
"$dir/suanli" info --json >"$dir/info.json"
gpu=$("$dir/suanli" info --json | python3 -c 'import json,sys
j=json.load(sys.stdin)
names=[d["name"] for b in j["backends"] if b["name"]=="cuda" for d in b.get("devices",[])]
print(names[0] if names else "")' 2>/dev/null || true)
if [ -z "$gpu" ]; then
  echo "error: the cuda backend found no device (see the note above)" >&2
  exit 1
fi
slug=$(echo "$gpu" | tr -cs 'A-Za-z0-9' '-' | sed 's/^-//; s/-$//' | tr 'A-Z' 'a-z')
mkdir -p reports/examples
out="reports/examples/quick-cuda-$slug.json"
# Exit status 1 means some result failed verification: keep the report and show it anyway.
set +e
"$dir/suanli" run --suite quick --backend cuda -o "$out" "$@"
rc=$?
set -e
echo "report: $out (suanli run exit status $rc)"
exit $rc
