#!/usr/bin/env bash
# scripts/slurm/slurm_up.sh - govhub's own single-node Slurm 22.05 cluster for tests,
# benchmarks and local development: Debian bookworm packages, loopback only, as root, without
# systemd. Adapted from shared/slurm-lab/slurm_up.sh (the comments there recorded every trap;
# they are kept here). The test suite starts it from tests/dispatch/conftest.py and stops it by
# pid at the end (scripts/slurm/slurm_down.sh).
#
# Differences from the lab script: ports are configurable (the tests use their own, so a lab or
# developer cluster on the default ports is never touched), WITH_DBD defaults to 0 (~1 s start;
# usage comes from squeue / sacct -c and GPU telemetry, not slurmdbd), KILL_WAIT defaults to 2 s
# (a job that ignores SIGTERM would otherwise outlive its cancel by 30 s), and env.sh also names
# the JWT key so govhub can mint its own tokens (HS256, claim "sun").
#
#   munged      unix socket  $BASE/munge-run/munge.socket
#   slurmctld   127.0.0.1:$CTLD_PORT (6817)   slurmd 127.0.0.1:$SLURMD_PORT (6818) (NodeName=localhost)
#   slurmdbd    127.0.0.1:$DBD_PORT (6819)    mariadbd 127.0.0.1:$MYSQL_PORT (WITH_DBD=1; MYSQL_PORT defaults to 3307 so it does not collide with a MariaDB already on 3306)
#   slurmrestd  127.0.0.1:$REST_PORT (6820)   rest_auth/jwt, API /slurm/v0.0.38 (+ /slurmdb/v0.0.38)
#   slurmrestd  unix:$BASE/rest/slurmrestd.sock  rest_auth/local (REST_UNIX=1, runs as user slurm)
#
# Fake GPUs: 4 x gres/gpu backed by character devices made with mknod under
# $BASE/fakedev (major 195 like /dev/nvidia*); falls back to /dev/tty[0-3].
#
# Usage:  bash slurm_up.sh            # no accounting DB (default): accounting_storage/none,
#                                     # sacct only via `sacct -c` (jobcomp/filetxt)
#         WITH_DBD=1 bash slurm_up.sh # full stack (with slurmdbd + MariaDB, GPU TRES in sacct)
# Then:   source $BASE/env.sh         # exports SLURM_CONF, SLURMRESTD_URL
# Re-running is safe: running daemons (checked by pid file + /proc/PID/comm) are left alone.
# Changing WITH_DBD between runs needs slurm_down.sh first (config differs).
set -euo pipefail

BASE=${SLURM_DIR:-${TMPDIR:-/tmp}/govhub-slurm-dev}
WITH_DBD=${WITH_DBD:-0}
REST_JWT=${REST_JWT:-1}
REST_UNIX=${REST_UNIX:-0}
CTLD_PORT=${CTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
DBD_PORT=${DBD_PORT:-6819}
REST_PORT=${REST_PORT:-6820}
NGPU=${NGPU:-4}
KILL_WAIT=${KILL_WAIT:-2}    # SIGTERM -> SIGKILL grace on cancel (Slurm's default is 30 s)
MYSQL_PORT=${MYSQL_PORT:-3307} # our own MariaDB for slurmdbd; 3306 may already be taken
# pgid: kills the whole process group; job stays COMPLETING ~3.7 s after cancel.
# linuxproc: CANCELLED in ~0.06 s, but once leaked an orphaned child (reparented to pid 1).
PROCTRACK=${PROCTRACK:-pgid}
export SLURM_CONF=$BASE/etc/slurm.conf
T_START=$(date +%s.%N)

log() { printf '[slurm_up %(%H:%M:%S)T] %s\n' -1 "$*"; }
elapsed() { python3 -c "import sys;print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}s')" "$1" "$(date +%s.%N)"; }

# ---------------------------------------------------------------- packages
PKGS=(munge slurm-wlm slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin)
[ "$WITH_DBD" = 1 ] && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt-get update -qq
  # policy-rc.d in this sandbox stops the packages from starting services.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- layout
mkdir -p "$BASE"/{etc,munge,munge-run,jwt,spool/ctld,spool/d,run,log,jobs,rest,fakedev}
chmod 700 "$BASE/munge" "$BASE/jwt"
chmod 755 "$BASE/munge-run"          # munged wants o+x on the socket dir
chmod 1777 "$BASE/jobs"              # job output dir for root and non-root REST users
chown slurm:slurm "$BASE/rest"       # rest_auth/local slurmrestd runs as user slurm
[ -s "$BASE/munge/munge.key" ] || { dd if=/dev/urandom of="$BASE/munge/munge.key" bs=1 count=1024 status=none; chmod 400 "$BASE/munge/munge.key"; }
[ -s "$BASE/jwt/jwt_hs256.key" ] || { dd if=/dev/urandom of="$BASE/jwt/jwt_hs256.key" bs=32 count=1 status=none; chmod 600 "$BASE/jwt/jwt_hs256.key"; }

# Fake GPU device files: Slurm only counts a gpu GRES that has File=, and warns
# unless File is a character/block device.
GPU_FILES=""
last=$((NGPU-1))
if ( for i in $(seq 0 $last); do [ -c "$BASE/fakedev/nvidia$i" ] || mknod "$BASE/fakedev/nvidia$i" c 195 "$i" 2>/dev/null || exit 1; done ); then
  GPU_FILES="$BASE/fakedev/nvidia[0-$last]"
else
  GPU_FILES="/dev/tty[0-$last]"
fi

# Node shape from the hardware (avoids "reconfigured socket/core boundaries").
read -r BOARDS SOCKETS CORES THREADS < <(slurmd -C | sed -n 1p | tr ' ' '\n' | awk -F= '
  /^Boards=/{b=$2} /^SocketsPerBoard=/{s=$2} /^CoresPerSocket=/{c=$2} /^ThreadsPerCore=/{t=$2}
  END{print b, s, c, t}')
CPUS=$((BOARDS*SOCKETS*CORES*THREADS))

if [ "$WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# slurmctld->slurmdbd uses munge too; this names our non-default munge socket
AccountingStoragePass=$BASE/munge-run/munge.socket
AccountingStorageEnforce=associations,limits,qos,safe
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux"
else
  ACCT="AccountingStorageType=accounting_storage/none
# AccountingStorageTRES=gres/gpu is fatal without slurmdbd
JobAcctGatherType=jobacct_gather/none"
fi

cat > "$BASE/etc/slurm.conf.new" <<EOF
ClusterName=localcluster
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# bind slurmctld/slurmd to 127.0.0.1 instead of 0.0.0.0
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge-run/munge.socket
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$BASE/jwt/jwt_hs256.key
StateSaveLocation=$BASE/spool/ctld
SlurmdSpoolDir=$BASE/spool/d
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/$PROCTRACK
TaskPlugin=task/none
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
SchedulerType=sched/backfill
# default batch_sched_delay=3 made submit->RUNNING 0.2-2.8 s; with 0 it is ~0.75 s
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=$KILL_WAIT
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=2048 Gres=gpu:$NGPU State=UNKNOWN
PartitionName=gpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$BASE/etc/gres.conf.new" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu File=$GPU_FILES
EOF
cat > "$BASE/etc/slurmdbd.conf.new" <<EOF
AuthType=auth/munge
AuthInfo=socket=$BASE/munge-run/munge.socket
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$BASE/jwt/jwt_hs256.key
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
CommunicationParameters=NoInAddrAny
SlurmUser=root
DebugLevel=info
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=slurmdbpass
StorageLoc=slurm_acct_db
EOF
CONF_CHANGED=0
for f in slurm.conf gres.conf slurmdbd.conf; do
  if ! cmp -s "$BASE/etc/$f.new" "$BASE/etc/$f"; then mv "$BASE/etc/$f.new" "$BASE/etc/$f"; CONF_CHANGED=1; else rm -f "$BASE/etc/$f.new"; fi
done
chmod 600 "$BASE/etc/slurmdbd.conf"      # slurmdbd refuses a world-readable file

# ---------------------------------------------------------------- helpers
# alive PIDFILE COMM -> true if the pid in PIDFILE is running and is COMM
alive() { local p; p=$(cat "$1" 2>/dev/null) || return 1; [ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = "$2" ]; }
# waitfor SECONDS CMD... -> poll CMD every 0.2 s, bounded
waitfor() { local n=$(( $1 * 5 )); shift; for _ in $(seq 1 $n); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

# ---------------------------------------------------------------- munged
t=$(date +%s.%N)
if ! alive "$BASE/run/munged.pid" munged; then
  munged --key-file="$BASE/munge/munge.key" --socket="$BASE/munge-run/munge.socket" \
         --pid-file="$BASE/run/munged.pid" --log-file="$BASE/log/munged.log" \
         --seed-file="$BASE/munge/munged.seed"
  waitfor 10 sh -c "munge -n -S '$BASE/munge-run/munge.socket' | unmunge -S '$BASE/munge-run/munge.socket'" \
    || { log "munged failed"; tail "$BASE/log/munged.log"; exit 1; }
  log "munged up ($(elapsed "$t"))"
fi

# ---------------------------------------------------------------- mariadb + slurmdbd
if [ "$WITH_DBD" = 1 ]; then
  MYSOCK=$BASE/mysql/mysqld.sock
  if [ ! -d "$BASE/mysql/data/mysql" ]; then
    mkdir -p "$BASE/mysql"
    mariadb-install-db --no-defaults --datadir="$BASE/mysql/data" --user=root \
      --auth-root-authentication-method=normal --skip-test-db >"$BASE/log/mariadb-install.log" 2>&1
  fi
  t=$(date +%s.%N)
  if ! alive "$BASE/run/mariadbd.pid" mariadbd; then
    setsid mariadbd --no-defaults --datadir="$BASE/mysql/data" --socket="$MYSOCK" \
      --port="$MYSQL_PORT" --bind-address=127.0.0.1 --user=root --pid-file="$BASE/run/mariadbd.pid" \
      --log-error="$BASE/log/mariadbd.err" --innodb-buffer-pool-size=256M \
      --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    waitfor 30 mariadb --no-defaults -S "$MYSOCK" -uroot -e 'select 1' \
      || { log "mariadbd failed"; tail "$BASE/log/mariadbd.err"; exit 1; }
    mariadb --no-defaults -S "$MYSOCK" -uroot -e "
      CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmdbpass';
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    log "mariadbd up ($(elapsed "$t"))"
  fi
  t=$(date +%s.%N)
  if ! alive "$BASE/run/slurmdbd.pid" slurmdbd; then
    slurmdbd
    waitfor 30 sacctmgr -n show cluster \
      || { log "slurmdbd failed"; tail "$BASE/log/slurmdbd.log"; exit 1; }
    log "slurmdbd up ($(elapsed "$t"))"
  fi
  # Cluster + one account; root and slurm get associations (enforce=associations).
  if [ -z "$(sacctmgr -n -P show cluster localcluster format=cluster)" ]; then
    sacctmgr -i add cluster localcluster >/dev/null
  fi
  if [ -z "$(sacctmgr -n -P show account research format=account)" ]; then
    sacctmgr -i add account research Description=research Organization=lab >/dev/null
    sacctmgr -i add user root account=research >/dev/null
    sacctmgr -i add user slurm account=research DefaultAccount=research >/dev/null
  fi
fi

# ---------------------------------------------------------------- slurmctld + slurmd
t=$(date +%s.%N)
if ! alive "$BASE/run/slurmctld.pid" slurmctld; then
  slurmctld
  waitfor 30 scontrol ping || { log "slurmctld failed"; grep -v pmix "$BASE/log/slurmctld.log" | tail; exit 1; }
  log "slurmctld up ($(elapsed "$t"))"
elif [ "$CONF_CHANGED" = 1 ]; then
  scontrol reconfigure
fi
t=$(date +%s.%N)
if ! alive "$BASE/run/slurmd.pid" slurmd; then
  slurmd -N localhost
fi
node_ok() { sinfo -h -n localhost -o '%T' | grep -qE '^(idle|mixed|allocated)'; }
node_bad() { sinfo -h -n localhost -o '%T' | grep -qE 'drain|inval'; }
for _ in $(seq 1 100); do
  node_ok && break
  if node_bad; then scontrol update nodename=localhost state=resume 2>/dev/null || true; fi
  sleep 0.2
done
node_ok || { log "node not usable"; sinfo -N -o '%N %T %E'; exit 1; }
log "slurmd registered ($(elapsed "$t"))"

# ---------------------------------------------------------------- slurmrestd
OPENAPI=openapi/v0.0.38
[ "$WITH_DBD" = 1 ] && OPENAPI=openapi/v0.0.38,openapi/dbv0.0.38   # dbv* plugins are fatal without slurmdbd
if [ "$REST_JWT" = 1 ] && ! alive "$BASE/run/slurmrestd-jwt.pid" slurmrestd; then
  t=$(date +%s.%N)
  # SLURM_JWT=daemon: forward the caller's token (without it every token -> 401
  #   "Rejecting thread config token").
  # disable_user_check: allow slurmrestd to run as root (sandbox only).
  SLURM_JWT=daemon SLURMRESTD_SECURITY=disable_user_check \
    setsid slurmrestd -a rest_auth/jwt -s "$OPENAPI" "127.0.0.1:$REST_PORT" \
      </dev/null >"$BASE/log/slurmrestd-jwt.log" 2>&1 &
  echo $! > "$BASE/run/slurmrestd-jwt.pid"
  # any HTTP answer (401 without a token) means it is listening
  waitfor 15 curl -s -o /dev/null "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping" \
    || { log "slurmrestd(jwt) failed"; tail "$BASE/log/slurmrestd-jwt.log"; kill "$(cat "$BASE/run/slurmrestd-jwt.pid")"; exit 1; }
  log "slurmrestd jwt on 127.0.0.1:$REST_PORT ($(elapsed "$t"))"
fi
if [ "$REST_UNIX" = 1 ] && ! alive "$BASE/run/slurmrestd-local.pid" slurmrestd; then
  t=$(date +%s.%N)
  rm -f "$BASE/rest/slurmrestd.sock"
  # rest_auth/local refuses root: -u drops to user slurm after start-up;
  # jobs submitted this way run as user slurm.
  setsid slurmrestd -a rest_auth/local -s "$OPENAPI" -u slurm "unix:$BASE/rest/slurmrestd.sock" \
    </dev/null >"$BASE/log/slurmrestd-local.log" 2>&1 &
  echo $! > "$BASE/run/slurmrestd-local.pid"
  waitfor 15 curl -sf -o /dev/null --unix-socket "$BASE/rest/slurmrestd.sock" http://localhost/slurm/v0.0.38/ping \
    || { log "slurmrestd(local) failed"; tail "$BASE/log/slurmrestd-local.log"; kill "$(cat "$BASE/run/slurmrestd-local.pid")"; exit 1; }
  log "slurmrestd local on unix:$BASE/rest/slurmrestd.sock ($(elapsed "$t"))"
fi

cat > "$BASE/env.sh" <<EOF
export SLURM_CONF=$BASE/etc/slurm.conf
export SLURMRESTD_URL=http://127.0.0.1:$REST_PORT
export SLURM_JWT_KEY=$BASE/jwt/jwt_hs256.key
# token for the REST API:  eval \$(scontrol token username=root lifespan=3600)
# curl -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: \$SLURM_JWT" \$SLURMRESTD_URL/slurm/v0.0.38/ping
EOF
log "cluster ready in $(elapsed "$T_START"); source $BASE/env.sh"
sinfo -N -o '%N %P %T %G'
