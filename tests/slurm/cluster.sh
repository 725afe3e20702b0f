#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the workflow's SLURM tests.
#
#   tests/slurm/cluster.sh install        apt packages (root)
#   tests/slurm/cluster.sh start STATE    munge, MariaDB, slurmdbd, slurmctld, slurmd
#   tests/slurm/cluster.sh stop STATE     stop every daemon started from STATE, remove its config
#
# Daemons run as root with their state, logs and pid files under STATE. SLURM reads its
# config from /etc/slurm (job steps strip SLURM_CONF, so it has to live there).
set -euo pipefail

cmd=${1:?usage: cluster.sh install|start|stop STATE}
state=${2:-/tmp/teachergrid-slurm}
host=$(hostname -s)
conf=/etc/slurm

log() { echo "cluster: $*" >&2; }

# The config files this script writes under /etc/slurm carry this line. `stop` removes them
# (and puts back any file of another SLURM setup that `start` had to move aside): a config left
# behind without its daemons makes every `scontrol` wait ~9 s for a controller, and the SLURM
# executor plugin runs `scontrol show config` whenever Snakemake starts.
MARK="# teachergrid test cluster (tests/slurm/cluster.sh): removed when the cluster stops"
FILES="slurm.conf slurmdbd.conf gres.conf"

set_aside() {  # a config of someone else's SLURM: kept under STATE until stop
  mkdir -p "$state/etc-slurm"
  for name in $FILES; do
    if [ -e "$conf/$name" ] && ! grep -qF "$MARK" "$conf/$name"; then
      mv "$conf/$name" "$state/etc-slurm/$name"
    fi
  done
}

restore() {
  for name in $FILES; do
    if [ -e "$conf/$name" ] && grep -qF "$MARK" "$conf/$name"; then
      rm -f "$conf/$name"
    fi
    if [ -e "$state/etc-slurm/$name" ]; then
      mv "$state/etc-slurm/$name" "$conf/$name"
    fi
  done
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2
  shift 2
  for _ in $(seq "$((limit * 5))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out waiting for $what"
  return 1
}

install() {
  if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null \
    && command -v munged >/dev/null && command -v mariadbd >/dev/null; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null
}

start() {
  mkdir -p "$state"/{ctld,d,log,run,mysql-data} "$conf"
  chmod 755 "$state"
  set_aside
  local mem_mb cpus gpus=2
  cpus=$(nproc)
  mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048))

  # munge
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --force
  wait_for 20 munged munge -n

  # MariaDB for slurmdbd (accounting: the executor plugin polls sacct)
  chown -R mysql:mysql "$state/mysql-data"
  if [ ! -d "$state/mysql-data/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$state/mysql-data" \
      --auth-root-authentication-method=socket >"$state/log/mariadb-install.log" 2>&1
  fi
  chmod 777 "$state/run"
  (mariadbd --user=mysql --datadir="$state/mysql-data" --socket="$state/run/mysql.sock" \
    --pid-file="$state/run/mariadbd.pid" --port=3307 --bind-address=127.0.0.1 \
    >"$state/log/mariadb.log" 2>&1 &)
  wait_for 60 mariadb mariadb --socket="$state/run/mysql.sock" -e "select 1"
  mariadb --socket="$state/run/mysql.sock" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmdbpass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    FLUSH PRIVILEGES;"

  cat >"$conf/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurmdbpass
StorageLoc=slurm_acct_db
PidFile=$state/run/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
EOF
  chmod 600 "$conf/slurmdbd.conf"

  cat >"$conf/slurm.conf" <<EOF
$MARK
ClusterName=teachergrid
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu,gres/gpu:tiny
GresTypes=gpu
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$mem_mb Gres=gpu:tiny:$gpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=study Nodes=ALL MaxTime=INFINITE State=UP
EOF
  # Stand-in GPUs of type "tiny" (two tty devices play the device files): jobs that ask for
  # `--gpus=tiny:N` are scheduled and accounted for as on a GPU cluster, and compute on the CPU.
  printf '%s\nNodeName=%s Name=gpu Type=tiny File=/dev/tty[0-%d]\n' "$MARK" "$host" "$((gpus - 1))" \
    >"$conf/gres.conf"

  /usr/sbin/slurmdbd
  wait_for 60 slurmdbd sacctmgr -n show cluster
  sacctmgr -i add cluster teachergrid >/dev/null 2>&1 || true
  sacctmgr -i add account teachergrid Cluster=teachergrid >/dev/null 2>&1 || true
  sacctmgr -i add user root Account=teachergrid Cluster=teachergrid >/dev/null 2>&1 || true
  # a QOS for the site-profile test (jobs must name it: it is not the default)
  sacctmgr -i add qos sweep >/dev/null 2>&1 || true
  sacctmgr -i modify user root set qos+=sweep >/dev/null 2>&1 || true
  /usr/sbin/slurmctld
  wait_for 60 slurmctld scontrol ping
  /usr/sbin/slurmd
  wait_for 60 "node $host" sh -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"
  wait_for 60 sacct sacct -n -X
  log "up: node $host, $cpus CPUs, $gpus counted GPUs, ${mem_mb} MB; state in $state"
}

stop() {
  for pidfile in "$state/run/slurmd.pid" "$state/run/slurmctld.pid" "$state/run/slurmdbd.pid" \
    "$state/run/mariadbd.pid" /run/munge/munged.pid; do
    if [ -s "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  # wait until they are gone (killed daemons can linger for a few seconds)
  for pidfile in "$state/run/slurmd.pid" "$state/run/slurmctld.pid" "$state/run/slurmdbd.pid" \
    "$state/run/mariadbd.pid" /run/munge/munged.pid; do
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  restore
  log "stopped"
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: cluster.sh install|start|stop STATE" >&2; exit 2 ;;
esac
