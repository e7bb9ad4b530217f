# Sourced by the *-teardown.sh scripts: stop a daemon by its pid file only (never by name).
# stop TAG NAME PIDFILE: SIGTERM, up to 10 s for it to end, then SIGKILL; the pid file goes.
stop() {
  local tag=$1 name=$2 pf=$3 pid
  [[ -n "$pf" && -s "$pf" ]] || { echo "[$tag] $name: no pid file"; return 0; }
  pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    echo "[$tag] $name (pid $pid) stopped"
  else
    echo "[$tag] $name (pid $pid) not running"
  fi
  rm -f "$pf"
}
