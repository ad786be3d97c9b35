# Process hygiene shared by the bench scripts (sourced): the servers and helpers a script starts
# are tracked in `pids` (each the leader of its process group) and stopped whole.

pids=()

# Stops every tracked process group: SIGTERM, a grace of $1 seconds (default 0.3), then SIGKILL.
kill_tracked() {
  local p
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] || continue
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  sleep "${1:-0.3}"
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] || continue
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
}

stop_server() { # pid port: the whole process group, then wait for the port to close
  kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
  for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 0.2 "http://127.0.0.1:$2/" || break; sleep 0.05; done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
