#!/usr/bin/env bash
# Stop what oar-setup.sh started (its record, /run/dask-mpi-ts-oar.started), by pid file, and
# nothing else: a PostgreSQL or sshd that was running before it is left alone.
set -uo pipefail
STARTED=/run/dask-mpi-ts-oar.started
[[ -s $STARTED ]] || { echo "[oar-teardown] nothing started by oar-setup.sh"; exit 0; }
source "$(dirname "$0")/stop-by-pidfile.sh"
if grep -qx oar-server "$STARTED"; then
  jobs=$(oarstat 2>/dev/null | awk '/^[0-9]+ / { print $1 }')
  [[ -n $jobs ]] && oardel $jobs >/dev/null 2>&1
  stop oar-teardown oar-server /var/run/oar-server.pid
fi
grep -qx sshd "$STARTED" && stop oar-teardown "the OAR node's sshd" /run/oar-node_sshd.pid
pg=$(awk '$1 == "postgresql" { print $2 }' "$STARTED" | tail -1)
[[ -n $pg ]] && pg_ctlcluster "$pg" main stop && echo "[oar-teardown] PostgreSQL $pg stopped"
rm -f "$STARTED"
exit 0
