#!/usr/bin/env bash
# scripts/slurm/slurm_down.sh - stop the daemons started by slurm_up.sh, by pid only
# (adapted from shared/slurm-lab/slurm_down.sh).
# A pid is signalled only if /proc/PID/comm matches the daemon we expect.
# PURGE=1 also deletes $BASE (state, DB, keys, logs).
set -uo pipefail
BASE=${SLURM_DIR:-${TMPDIR:-/tmp}/govhub-slurm-dev}

stop() {  # stop PIDFILE COMM
  local f=$1 comm=$2 p
  p=$(cat "$f" 2>/dev/null) || return 0
  if [ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = "$comm" ]; then
    kill -TERM "$p"
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$p" 2>/dev/null; then echo "$comm ($p) ignored SIGTERM; SIGKILL"; kill -KILL "$p"; fi
    echo "stopped $comm ($p)"
  fi
  rm -f "$f"
}

# Cancel jobs first so slurmstepd/job processes go away cleanly.
if [ -f "$BASE/etc/slurm.conf" ] && command -v scancel >/dev/null; then
  SLURM_CONF=$BASE/etc/slurm.conf timeout 10 scancel --user=root --full 2>/dev/null || true
  SLURM_CONF=$BASE/etc/slurm.conf timeout 10 scancel --user=slurm --full 2>/dev/null || true
  sleep 1
fi
stop "$BASE/run/slurmrestd-jwt.pid"   slurmrestd
stop "$BASE/run/slurmrestd-local.pid" slurmrestd
stop "$BASE/run/slurmd.pid"           slurmd
stop "$BASE/run/slurmctld.pid"        slurmctld
stop "$BASE/run/slurmdbd.pid"         slurmdbd
stop "$BASE/run/mariadbd.pid"         mariadbd
stop "$BASE/run/munged.pid"           munged
if [ "${PURGE:-0}" = 1 ]; then rm -rf "$BASE"; echo "purged $BASE"; fi
