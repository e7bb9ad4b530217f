#!/usr/bin/env bash
# Single-node OAR 2.5 (Debian 12 "oar-*" packages, PostgreSQL) for tests, as root, without
# systemd. Idempotent: re-running with the daemons up only re-checks them. oar-teardown.sh
# stops what it started.
#   OAR_CORES   resources (cores) of the node   [2]
#   OAR_WAIT_S  readiness timeout (s)           [60]
# What it changes outside its own files, and why:
# - /etc/oar/oar.conf: the database passwords (empty by default, which OAR's own clients then
#   cannot use) and no cpuset management (a container has no cpuset/cgroup to give OAR);
# - admission rule #2 (refuses root's jobs) disabled: the tests submit as root;
# - ~oar/.batch_job_bashrc (written by the package's postinst, not a packaged file): OAR sets
#   BASH_ENV to it, so every bash of a job sources it and, through it, the user's ~/.bashrc; a
#   ~/.bashrc that starts shells itself (root's here runs `pyenv init`) then forks without end.
#   It gets a guard: once per job. Root's own ~/.bashrc is not touched.
set -euo pipefail
CORES=${OAR_CORES:-2}
WAIT_S=${OAR_WAIT_S:-60}
CONF=/etc/oar/oar.conf
log() { echo "[oar-setup] $*" >&2; }
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# what this script started, a line each, for oar-teardown.sh (which stops only those)
STARTED=/run/dask-mpi-ts-oar.started
started() { echo "$*" >> "$STARTED"; }

# ---- 1. install ---------------------------------------------------------------------
if ! command -v oarsub >/dev/null || [[ ! -x /usr/sbin/oar-server ]] || [[ ! -f /etc/oar/sshd_config ]]; then
  log "installing oar-server, oar-node, oar-user (PostgreSQL backend)"
  export DEBIAN_FRONTEND=noninteractive
  inst() { apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 oar-server oar-server-pgsql oar-node oar-user oar-user-pgsql postgresql; }
  inst || { apt-get update -o DPkg::Lock::Timeout=600 && inst; }
fi

# ---- 2. PostgreSQL and the OAR database ------------------------------------------------
PGVER=$(ls /etc/postgresql | sort -n | tail -1)
pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main"' | grep online >/dev/null || { pg_ctlcluster "$PGVER" main start; started postgresql "$PGVER"; }
sed -i -e 's/^DB_BASE_PASSWD=""/DB_BASE_PASSWD="oar"/' -e 's/^DB_BASE_PASSWD_RO=""/DB_BASE_PASSWD_RO="oar_ro"/' \
  -e 's/^JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD=/#JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD=/' "$CONF"
if ! oar-database --check >/dev/null 2>&1; then
  log "creating the OAR database"
  oar-database --create --db-is-local -y >/dev/null
fi

# ---- 3. the job shells' guard (see above) ---------------------------------------------
cat > /var/lib/oar/.batch_job_bashrc <<'RC'
#
# OAR bash environnement file for only the batch job users
#
# Guard (written by dask-mpi-ts .ci/oar-setup.sh): OAR sets BASH_ENV to this file, so every
# bash a job starts sources it; a ~/.bashrc that starts shells itself (pyenv init) would then
# source it again without end. Once per job.
[ -n "$OAR_BATCH_JOB_BASHRC" ] && return
export OAR_BATCH_JOB_BASHRC=1
source ~/.bashrc
RC
chown root:oar /var/lib/oar/.batch_job_bashrc

# ---- 4. the node's sshd (OAR reaches its nodes as user oar on port 6667) ----------------
install -d -m 0755 /run/sshd
SSHD_PID=/run/oar-node_sshd.pid
alive "$SSHD_PID" || { log "starting the OAR node's sshd"; /usr/sbin/sshd -f /etc/oar/sshd_config -o PidFile="$SSHD_PID"; started sshd; }
for _ in $(seq 50); do runuser -u oar -- ssh -p 6667 -o BatchMode=yes -o StrictHostKeyChecking=no localhost true 2>/dev/null && break; sleep 0.2; done
runuser -u oar -- ssh -p 6667 -o BatchMode=yes -o StrictHostKeyChecking=no localhost true

# ---- 5. the server (Almighty) -----------------------------------------------------------
alive /var/run/oar-server.pid || { log "starting oar-server"; /usr/sbin/oar-server; started oar-server; }

# ---- 6. resources and admission rules -----------------------------------------------------
for p in cpu core; do oarproperty -l | grep -x "$p" >/dev/null || oarproperty -a "$p" >/dev/null; done
have=$(oarnodes -s 2>/dev/null | grep -c ' : ' || true)
for ((i = have; i < CORES; i++)); do oarnodesetting -a -h localhost -p cpu=0 -p core="$i" >/dev/null; done
# (disabling it again is harmless)
if oaradmissionrules -s 2 -f 2>/dev/null | grep 'root and oar users are not allowed' >/dev/null; then oaradmissionrules -m 2 -N >/dev/null; fi

# ---- 7. wait until the resources are Alive -------------------------------------------------
deadline=$(( SECONDS + WAIT_S ))
until [[ "$(oarnodes -s 2>/dev/null | grep -c ': Alive')" -ge "$CORES" ]]; do
  (( SECONDS < deadline )) || { log "resources not Alive after ${WAIT_S}s"; oarnodes -s || true; exit 1; }
  oarnodesetting -s Alive -h localhost >/dev/null 2>&1 || true
  sleep 0.5
done
log "OAR ready: $(oarnodes -s | grep -c ': Alive') Alive resources"
