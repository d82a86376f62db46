#!/usr/bin/env bash
# Installs what is missing, builds (Release), runs the default suite on the CPU backend and prints the summary.
# Extra arguments go to `suanli run` (e.g. scripts/run.sh --suite quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
# An OPENBLAS_CORETYPE inherited from a shell profile (some images pin Haswell) would make
# OpenBLAS leave AVX-512 idle and the rating under-report the machine; left unset, the CPU
# backend picks the best kernels itself and reports its choice. Set SUANLI_KEEP_OPENBLAS_CORETYPE=1
# to keep yours.
[ -n "${SUANLI_KEEP_OPENBLAS_CORETYPE:-}" ] || unset OPENBLAS_CORETYPE
exec build/suanli run --backend cpu "$@"
