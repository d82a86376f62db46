#!/usr/bin/env bash
# Writes what suanli makes of the checked-in example files (ratings in every format, exports,
# compare, diagnose) into a folder, one file per command, so that a change of structure can be
# shown to change no output: run it with the old and the new binary and diff the two folders.
#   scripts/golden_outputs.sh BUILD_DIR OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: golden_outputs.sh BUILD_DIR OUT_DIR}
out=${2:?usage: golden_outputs.sh BUILD_DIR OUT_DIR}
suanli="$build/suanli"
mkdir -p "$out"
ex=reports/examples
run() {  # NAME COMMAND...: stdout, stderr and exit status of one command
  local name=$1; shift
  "$@" >"$out/$name.out" 2>"$out/$name.err"
  echo "rc=$?" >>"$out/$name.out"
}
run rate_text "$suanli" rate $ex/report-cpu-quick.json
run rate_claims "$suanli" rate $ex/report-cpu-quick.json --claims $ex/claims-h100-sxm.json
for fmt in text json md csv html; do
  run "fleet_$fmt" "$suanli" rate --inventory $ex/inventory-cpu-cluster.json --total nominal \
    --format "$fmt"
  run "fleet_factors_$fmt" "$suanli" rate --inventory $ex/inventory-cpu-cluster.json \
    --total "factors:$ex/factors-example.json" --target 1PFLOPS:fp32 --format "$fmt"
done
run fleet_marked "$suanli" rate --inventory $ex/inventory-cpu-cluster.json --include-marked
for fmt in csv md openmetrics gbench-json; do
  run "export_$fmt" "$suanli" export $ex/report-cpu-quick.json --format "$fmt"
done
run compare_self "$suanli" compare $ex/report-cpu-quick.json $ex/report-cpu-quick.json
for f in tests/data/*.json; do
  run "diagnose_$(basename "$f" .json)" "$suanli" diagnose "$f"
  run "rate_$(basename "$f" .json)" "$suanli" rate "$f"
done
# Times, dates and the build revision that a rating stamps on itself are not structure: blank them.
sed -i -E 's/20[0-9]{2}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+Z?/<time>/g' "$out"/*
sed -i -E "s/suanli ([0-9.]+) \\([0-9a-f]{40}[^)]*\\)/suanli \\1 (<revision>)/g" "$out"/*
echo "golden outputs in $out ($(ls "$out" | wc -l) files)"
