#!/usr/bin/env bash
# Installs the Debian packages suanli builds against, only those that are missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3 ccache
  libbenchmark-dev libgtest-dev
  nlohmann-json3-dev libvalijson-dev libcli11-dev libfmt-dev
  libopenblas-dev libdnnl-dev libsodium-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clpeak
  clang-14 libclang-rt-14-dev
  openmpi-bin libopenmpi-dev
  # the distributed HPL's cross-check (pdgesv)
  libscalapack-openmpi-dev
  slurm-wlm slurmctld slurmd slurm-client munge
  # man pages from --help; the export tests (promtool; Google Benchmark's compare.py, which
  # imports scipy); the Python reader's plots
  help2man prometheus libbenchmark-tools python3-scipy python3-matplotlib
  # HPL compared with Debian's hpcc (scripts/bench_hpl_vs_hpcc.sh)
  hpcc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
