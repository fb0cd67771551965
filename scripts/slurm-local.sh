#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (Debian's slurm-wlm and munge), to run `nin sweep` under a real
# scheduler and for the test that does (test/sweep/sweep.test.ts). Run as root: it installs packages, writes
# /etc/slurm/slurm.conf and starts system daemons.
#   start   installs what is missing, starts munged, slurmctld and slurmd, waits until the node is idle
#   stop    stops the daemons this script started (by the pids it recorded), nothing else
#   status  prints up or down (exit 1)
set -euo pipefail
STATE=/var/spool/nin-slurm
cmd="${1:-start}"

status() { sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$STATE/$name.pid" ]; then
      kill "$(cat "$STATE/$name.pid")" 2>/dev/null || true
      rm -f "$STATE/$name.pid"
    fi
  done
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm-local: run as root (it installs and starts system daemons)" >&2; exit 2; }
  if status; then echo "slurm-local: already up"; return; fi
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi
  mkdir -p "$STATE/ctld" "$STATE/d" /run/munge /etc/munge /var/log/slurm /etc/slurm
  [ -s /etc/munge/munge.key ] || head -c 1024 /dev/urandom >/etc/munge/munge.key
  chown -R munge:munge /etc/munge /run/munge
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=/run/munge/munged.pid"
    cp /run/munge/munged.pid "$STATE/munged.pid"
  fi
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  # 80% of the memory available now: Slurm refuses a node that reports less than its RealMemory.
  mem=$(($(free -m | awk '/^Mem:/ {print $7}') * 8 / 10))
  cat >/etc/slurm/slurm.conf <<CONF
ClusterName=nin-local
SlurmctldHost=$host
SlurmUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld
  slurmd
  for _ in $(seq 1 100); do
    if status; then echo "slurm-local: node $host up ($cpus CPUs)"; return; fi
    sleep 0.2
  done
  echo "slurm-local: Slurm did not come up in 20 s; see /var/log/slurm/" >&2
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) if status; then echo up; else echo down; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
