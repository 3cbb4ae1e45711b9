#!/usr/bin/env bash
# Start a single-node Slurm on localhost for the tests: munged, slurmctld, slurmd -N localhost.
# As root, without systemd; idempotent (a running daemon is left alone). Everything it writes
# lives under $STATE; stop.sh stops the daemons by their PID files.
#   eval "$(tests/workflow/slurm/start.sh)"     # prints the SLURM_CONF export for the caller
set -euo pipefail
STATE=${EGFRMET_SLURM_STATE:-/tmp/egfrmet-slurm}
GPUS=2  # fake cards: character devices, so that slurmd accepts them and sets CUDA_VISIBLE_DEVICES

if [ "$(id -u)" != 0 ]; then
    echo "start.sh: needs root (it installs slurm-wlm and munge and runs their daemons)" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurm-wlm and munge" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >&2
fi

mkdir -p "$STATE"/{etc,run,log,spool/ctld,spool/d,dev}
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: the package made a key; its daemon runs as the munge user
install -d -o munge -g munge -m 0755 "$STATE/run/munge" "$STATE/log/munge"
if ! running "$STATE/run/munge/munged.pid"; then
    [ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    rm -f "$STATE/run/munge/munge.socket.2"
    runuser -u munge -- munged --socket="$STATE/run/munge/munge.socket.2" \
        --pid-file="$STATE/run/munge/munged.pid" --log-file="$STATE/log/munge/munged.log"
fi

for i in $(seq 0 $((GPUS - 1))); do
    [ -c "$STATE/dev/nvidia$i" ] || mknod "$STATE/dev/nvidia$i" c 195 "$i"
done

node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*/NodeName=localhost/')
cat > "$STATE/etc/slurm.conf" <<CONF
ClusterName=egfrmet-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/run/munge/munge.socket.2
CryptoType=crypto/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
GresTypes=gpu
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished jobs stay visible to squeue this long: the tests read them, the plugin polls them
MinJobAge=600
$node Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
: > "$STATE/etc/gres.conf"
for i in $(seq 0 $((GPUS - 1))); do
    echo "NodeName=localhost Name=gpu File=$STATE/dev/nvidia$i" >> "$STATE/etc/gres.conf"
done
# The config must also sit where Slurm looks without SLURM_CONF: the jobstep plugin drops all
# SLURM_* variables for its nested srun. Link it there, never over someone else's.
mkdir -p /etc/slurm
for name in slurm.conf gres.conf; do
    target=/etc/slurm/$name
    if [ -e "$target" ] && [ "$(readlink "$target")" != "$STATE/etc/$name" ]; then
        echo "start.sh: $target exists and is not ours; not starting a test Slurm over it" >&2
        exit 1
    fi
    ln -sfn "$STATE/etc/$name" "$target"
done
export SLURM_CONF="$STATE/etc/slurm.conf"

running "$STATE/run/slurmctld.pid" || slurmctld
running "$STATE/run/slurmd.pid" || slurmd -N localhost

for _ in $(seq 1 30); do
    if sinfo -h -o "%T" 2>/dev/null | grep -qE "^idle|^mixed|^allocated"; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "start.sh: the node did not come up; see $STATE/log" >&2
sinfo >&2 || true
exit 1
