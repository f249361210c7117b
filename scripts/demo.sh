#!/usr/bin/env bash
# The main job, for real, on a local Temporal dev server:
#
#  1. the document-processing worker (official Python SDK) starts under `temporal-supervisor
#     run` before Temporal exists; the supervisor waits;
#  2. the dev server starts; the supervisor starts the worker and sees it poll;
#  3. a workflow runs through the worker;
#  4. the server is killed: the supervisor stops the worker; the server comes back on the same
#     port: a new worker starts and polls; another workflow runs through it.
#
# Everything it starts is stopped when it ends, also on Ctrl-C. Needs only Rust and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --quiet
bin=$PWD/target/debug/temporal-supervisor
temporal=$PWD/.venv/bin/temporal
# Ports from below the kernel's ephemeral range: the server's port stays free while it is down.
read -r port health < <(.venv/bin/python scripts/free_ports.py 2)
address=127.0.0.1:$port
work=$(mktemp -d)
log=$work/supervisor.log

server_pid=""
supervisor_pid=""
cleanup() {
  [[ -n $supervisor_pid ]] && kill -TERM "$supervisor_pid" 2>/dev/null && wait "$supervisor_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill -KILL -- "-$server_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "interrupted; stopping everything"; exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
readyz() { .venv/bin/python - "$health" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print("no answer")
PY
}
wait_log() { # wait_log TEXT COUNT
  for _ in $(seq 600); do
    [[ $(grep -c -- "$1" "$log" 2>/dev/null || true) -ge $2 ]] && return 0
    sleep 0.1
  done
  echo "demo: timed out waiting for '$1'; supervisor log:" >&2; cat "$log" >&2; exit 1
}
start_server() {
  setsid "$temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --log-level error >/dev/null 2>&1 &
  server_pid=$!
}
run_workflow() {
  "$temporal" workflow execute --address "$address" --task-queue documents \
    --type ProcessDocument --input "\"$1\"" | grep -E 'Status|Result '
}

say "1. worker first, Temporal not there yet (supervisor log: $log)"
TEMPORAL_ADDRESS=$address "$bin" run --task-queue documents --health-listen "127.0.0.1:$health" \
  --probe-interval 1s -- .venv/bin/python examples/workers/document_processing.py >"$log" 2>&1 &
supervisor_pid=$!
sleep 2
echo "supervisor: $(grep -c 'Temporal not ready' "$log") attempts so far, /readyz says $(readyz)"

say "2. starting the Temporal dev server on $address"
start_server
wait_log "worker is polling" 1
echo "the supervisor started the worker (pid $(grep -o 'worker started child_pid=[0-9]*' "$log" | tail -1 | cut -d= -f2)) and saw it poll; /readyz says $(readyz)"

say "3. a workflow through the worker"
run_workflow "invoice-42.pdf"

say "4. killing the Temporal server"
kill -KILL -- "-$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
wait_log "worker stopped" 1
echo "the supervisor lost Temporal and stopped the worker gracefully; /readyz says $(readyz)"
sleep 2
say "   ...and bringing it back on the same port"
start_server
wait_log "worker is polling" 2
echo "a new worker (pid $(grep -o 'worker started child_pid=[0-9]*' "$log" | tail -1 | cut -d= -f2)) started and polls; /readyz says $(readyz)"
run_workflow "report-43.pdf"

say "what the supervisor said"
grep -E 'worker started|worker is polling|Temporal lost|worker stopped|waiting for Temporal to come back|port is accepting' "$log" \
  | sed -E 's/^[0-9T:.-]+Z +//'
say "done: stopping the supervisor (it stops the worker) and the server"
