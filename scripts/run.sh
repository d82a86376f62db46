#!/usr/bin/env bash
# Installs what is missing, builds (Release), runs the default suite on the CPU backend and prints the summary.
# Extra arguments go to `suanli run` (e.g. scripts/run.sh --suite quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/suanli run --backend cpu "$@"
