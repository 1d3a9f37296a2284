#!/usr/bin/env bash
# A real single-node Slurm on this machine for tests/cluster/ (Debian's slurm-wlm and munge):
# one partition "debug" on this host, jobs run as the submitting user, requeue allowed.
# Safe to rerun: daemons already up are left alone. Prints nothing unless something fails.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in slurm-wlm munge; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
$SUDO mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
$SUDO tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=search-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits this long before it may start again (its old credential is revoked
# until then); Slurm's default is 120 s.
AuthInfo=cred_expire=20
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
ReturnToService=2
JobRequeue=1
MinJobAge=300
KillWait=10
MessageTimeout=20
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MpiDefault=none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
$SUDO rm -f /etc/slurm/cgroup.conf  # cgroup plugin auto-detected; no limits enforced

if ! pgrep -x munged >/dev/null; then
  [ -s /etc/munge/munge.key ] || $SUDO mungekey --create --force
  $SUDO chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  $SUDO runuser -u munge -- /usr/sbin/munged
fi
running() { [ -s "/run/$1.pid" ] && $SUDO kill -0 "$(cat "/run/$1.pid")" 2>/dev/null; }
running slurmctld || $SUDO slurmctld
running slurmd || $SUDO slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then exit 0; fi
  $SUDO scontrol update NodeName="${host}" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
