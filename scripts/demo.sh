#!/usr/bin/env bash
# The main job, on a local Temporal dev server: a worker command gated on Temporal being ready.
#
# 1. `temporal-supervisor exec` starts first and waits: nothing listens yet.
# 2. Three seconds later the dev server starts; the supervisor notices the port opening and
#    checks health and namespace, then replaces itself with the worker command (same PID).
# Everything this script starts is stopped when it ends, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --quiet
bin=target/debug/temporal-supervisor
temporal=.venv/bin/temporal
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
address=127.0.0.1:$port

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting the worker first, gated by temporal-supervisor (nothing listens on $address yet)"
setsid "$bin" exec --address "$address" -- \
  sh -c "echo \"worker (pid \$\$): Temporal is ready, starting work\"; $temporal operator cluster health --address $address" &
pids+=($!)
gate_pid=$!

sleep 3
say "starting the Temporal dev server on $address"
setsid "$temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --log-level error >/dev/null 2>&1 &
pids+=($!)

if wait "$gate_pid"; then
  say "done: the worker ran as soon as Temporal was ready, in the supervisor's own process (pid $gate_pid)"
else
  rc=$?
  say "the gate exited with $rc"
  exit "$rc"
fi
