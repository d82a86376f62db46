#!/usr/bin/env bash
# The SIGKILL/resume bar of `suanli run`: start a suite, kill the harness with SIGKILL once its
# journal holds about half of the results, `run --resume` the journal, then check that the final
# report has every workload exactly once and that the results journaled before the kill were
# kept as recorded (same finish time, same samples: not measured again) while the others were
# measured after the resume began.
#
#   scripts/resume_check.sh [SUITE] [--suanli PATH] [--backend NAME] [--dir DIR] [-- RUN-OPTIONS]
#
# SUITE: built-in name or path (default standard). PATH: the suanli binary (default build/suanli).
# NAME: the backend to run on (default cpu). DIR: where the report, journal and logs go (default
# a new temporary directory, kept). Options after `--` go to both `suanli run` calls.
# Prints the kill and resume times, the counts and each result's finish time; exit 0 when the
# bar holds, 1 when it does not, 2 for bad usage.
set -euo pipefail

suite=standard
suanli=build/suanli
backend=cpu
dir=
extra=()
while (($#)); do
  case "$1" in
    --suanli) suanli=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "resume_check: unknown option $1" >&2; exit 2 ;;
    *) suite=$1; shift ;;
  esac
done
command -v python3 >/dev/null || { echo "resume_check: needs python3" >&2; exit 2; }
[[ -x $suanli ]] || { echo "resume_check: $suanli is not an executable" >&2; exit 2; }
suanli=$(realpath "$suanli")
[[ -n $dir ]] || dir=$(mktemp -d /tmp/suanli-resume.XXXXXX)
mkdir -p "$dir"
report=$dir/report.json
journal=$report.journal
rm -f "$report" "$journal"

workloads=$("$suanli" list workloads --suite "$suite" | sed -n 's/^\([0-9][0-9]*\) workloads in suite .*/\1/p')
[[ -n $workloads ]] || { echo "resume_check: suanli list workloads gave no count" >&2; exit 2; }
devices=$("$suanli" info --backend "$backend" 2>/dev/null | grep -Ec '^  device [0-9]+:' || true)
((devices > 0)) || { echo "resume_check: backend $backend has no device" >&2; exit 2; }
jobs=$((workloads * devices))
half=$(((jobs + 1) / 2))
echo "suite $suite: $workloads workloads x $devices devices = $jobs results; kill after $half"

utc() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# Results of the suite journaled so far (peak probe lines, {"peak_probe": ...}, not counted).
recorded() { if [[ -f $journal ]]; then grep -c '^{"result"' "$journal" || true; else echo 0; fi; }

start=$(utc)
"$suanli" run --suite "$suite" --backend "$backend" -o "$report" -q "${extra[@]}" \
  >"$dir/run1.out" 2>"$dir/run1.err" &
pid=$!
while kill -0 "$pid" 2>/dev/null && (($(recorded) < half)); do sleep 0.2; done
kill -KILL "$pid" 2>/dev/null || { echo "resume_check: the run ended before the kill" >&2; exit 1; }
wait "$pid" 2>/dev/null || true
killed=$(utc)
cp "$journal" "$dir/journal-at-kill.jsonl"
kept=$(recorded)
echo "started $start, killed (SIGKILL) $killed with $kept of $jobs results journaled"
[[ ! -e $report ]] || { echo "resume_check: a report exists after the kill" >&2; exit 1; }

sleep 1  # the resumed results finish in a later second than anything before the kill
resumed=$(utc)
set +e
"$suanli" run --resume "$journal" -q "${extra[@]}" >"$dir/run2.out" 2>"$dir/run2.err"
rc=$?
set -e
finished=$(utc)
echo "resumed $resumed, finished $finished (exit $rc); logs and report in $dir"
((rc == 0 || rc == 1)) || { cat "$dir/run2.err" >&2; exit 1; }

python3 - "$report" "$dir/journal-at-kill.jsonl" "$jobs" "$killed" "$resumed" <<'EOF'
import json, sys
report_path, journal_path, jobs, killed, resumed = sys.argv[1:]
report = json.load(open(report_path))
results = report["results"]
keys = [(r["backend"], r["device"], r["workload"]) for r in results]
journaled = {}
for line in open(journal_path).read().splitlines()[1:]:
    try:
        entry = json.loads(line)
    except ValueError:
        continue  # a line torn by the kill: that workload ran again
    if "result" not in entry:
        continue  # a peak probe's line (report["peak_probes"]), not a result of the suite
    r = entry["result"]
    journaled[(r["backend"], r["device"], r["workload"])] = r
bad = []
if len(keys) != int(jobs):
    bad.append(f"{len(keys)} results in the report, expected {jobs}")
dups = sorted({k for k in keys if keys.count(k) > 1})
if dups:
    bad.append(f"results present more than once: {dups}")
print(f"{'workload':<48} {'finished_utc':<21} source")
for r in results:
    k = (r["backend"], r["device"], r["workload"])
    t = r.get("finished_utc", "")
    if k in journaled:
        j = journaled[k]
        src = "journal (before the kill)"
        if r != j:  # kept as recorded: same finish time, same samples, same everything
            bad.append(f"{k[2]}: journaled before the kill but measured again")
        if not t or t > killed:
            bad.append(f"{k[2]}: journaled result finished at {t}, after the kill at {killed}")
    else:
        src = "resumed run"
        if not t or t < resumed:
            bad.append(f"{k[2]}: resumed result finished at {t}, before the resume at {resumed}")
    print(f"{k[2]:<48} {t:<21} {src}")
missing = set(journaled) - set(keys)
if missing:
    bad.append(f"journaled results missing from the report: {sorted(missing)}")
print(f"{len(journaled)} kept from the journal, {len(keys) - len(journaled)} run after the "
      f"resume, {len(keys)} in the report")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
echo "resume_check: OK"
