#!/usr/bin/env bash
# Stop the test Slurm that start.sh started: by its PID files, never by process name.
set -uo pipefail
STATE=${EGFRMET_SLURM_STATE:-/tmp/egfrmet-slurm}
for pidfile in "$STATE/run/slurmd.pid" "$STATE/run/slurmctld.pid" "$STATE/run/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$pidfile"
done
for name in slurm.conf gres.conf; do
    [ "$(readlink "/etc/slurm/$name" 2>/dev/null)" = "$STATE/etc/$name" ] && rm -f "/etc/slurm/$name"
done
exit 0
