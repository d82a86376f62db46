#!/usr/bin/env bash
# Starts a one-host Slurm cluster from Debian's packages (munge, slurmctld, slurmd) under a
# temporary directory, runs a command in it, and stops the daemons again, whatever happens.
#   scripts/slurm/one_host_cluster.sh COMMAND...   (as root; e.g. srun --mpi=pmix -n 2 suanli ...)
# The command sees SLURM_CONF; its exit status is this script's.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "one_host_cluster: needs root (munged and slurmd)" >&2; exit 2; }
for b in munged mungekey slurmctld slurmd srun; do
  command -v "$b" >/dev/null || { echo "one_host_cluster: $b not found (scripts/setup.sh installs Slurm and munge)" >&2; exit 2; }
done
dir=$(mktemp -d /tmp/suanli-slurm-XXXXXX)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap stop EXIT
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 755 "$dir/munge"
mungekey -c -k "$dir/munge/munge.key" >/dev/null 2>&1 || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$dir/munge/munge.key"
munged --force -S "$dir/munge/munge.sock" --key-file "$dir/munge/munge.key" \
  --pid-file "$dir/munge/munged.pid" --log-file "$dir/munge/munged.log" --seed-file "$dir/munge/seed" -F \
  >"$dir/munged.out" 2>&1 &
pids+=($!)
cat > "$dir/slurm.conf" <<CONF
ClusterName=suanli-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$dir/slurm.conf
for _ in $(seq 50); do [ -S "$dir/munge/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)' && break
  sleep 0.2
done
if ! sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then
  echo "one_host_cluster: the node did not come up; logs:" >&2
  tail -5 "$dir"/*.log "$dir"/*.out >&2 || true
  exit 1
fi
set +e
"$@"
rc=$?
set -e
exit $rc
