#!/usr/bin/env bash
# The main job, for real, on a local Temporal dev server: the seed's five workers (official
# Python SDK: documents, chat, S3 and Azure Blob listeners, webhooks) under one
# `temporal-supervisor run --config examples/workers/supervisor.toml`:
#
#  1. the supervisor starts before Temporal exists, and waits;
#  2. the dev server starts: all five workers start and poll their task queues;
#  3. a workflow runs through each of them;
#  4. one worker crashes (SIGKILL): it alone is restarted, the other four keep running;
#  5. a scanned document is being processed (an 8 s activity) when the server is killed:
#     every worker is kept (their SDKs reconnect); the server comes back on the same port
#     and database: all five poll again with their pids unchanged, the document's workflow
#     completes with its activity executed once, and workflows run through all five again;
#  6. a rollout: SIGTERM to the supervisor while another scan is processed: each worker is
#     drained through its local endpoint (no new work, the scan finished, then the stop
#     signal) and the supervisor exits 0; the next supervisor finishes the workflow, the
#     scan's activity executed once.
#
# Everything it starts is stopped when it ends, also on Ctrl-C. Needs only Rust, Python 3 and
# Node.js (the set-up installs the rest into the project).
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
out=$work/workers.out

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
readyz() { "$bin" status --health-listen "127.0.0.1:$health" >/dev/null 2>&1 && echo "ready" || echo "not ready"; }
wait_log() { # wait_log TEXT COUNT
  for _ in $(seq 900); do
    [[ $(grep -c -- "$1" "$log" 2>/dev/null || true) -ge $2 ]] && return 0
    sleep 0.1
  done
  echo "demo: timed out waiting for '$1'; supervisor log:" >&2; cat "$log" >&2; exit 1
}
pid_of() { grep -o "worker started worker=$1 child_pid=[0-9]*" "$log" | tail -1 | cut -d= -f3; }
start_server() { # state in a database file, as a real cluster keeps it: it survives a kill;
  # open polls completed on a worker's shutdown, as a cluster can be configured to
  setsid "$temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --log-level error \
    --db-filename "$work/temporal.db" \
    --dynamic-config-value frontend.enableCancelWorkerPollsOnShutdown=true >/dev/null 2>&1 &
  server_pid=$!
}
start_supervisor() {
  # `python3` in the file is the project's virtualenv's, as it would be yours.
  PATH=$PWD/.venv/bin:$PATH TEMPORAL_ADDRESS=$address "$bin" run --config examples/workers/supervisor.toml \
    --health-listen "127.0.0.1:$health" >>"$out" 2>>"$log" &
  supervisor_pid=$!
}
run_workflow() { # run_workflow QUEUE TYPE INPUT
  "$temporal" workflow execute --address "$address" --task-queue "$1" --type "$2" --input "\"$3\"" \
    | sed -n 's/^ *Result  *\(".*"\)$/\1/p' | sed "s/^/  $1: /"
}
all_workflows() {
  run_workflow documents ProcessDocument "invoice-$1.pdf"
  run_workflow chat-sessions ChatTurn "hello $1"
  run_workflow s3-events HandleS3Event "bucket/key-$1"
  run_workflow azure-blobs HandleBlobEvent "blob-$1"
  run_workflow webhooks HandleWebhook "{}"
}
workers=(documents chat s3 azure webhooks)

say "1. five workers first, Temporal not there yet (log: $log, workers' output: $out)"
start_supervisor
sleep 2
echo "supervisor: $(grep -c 'Temporal not ready' "$log") attempts so far, no worker started, /readyz says $(readyz)"

say "2. starting the Temporal dev server on $address"
start_server
wait_log "worker is polling" 5
for w in "${workers[@]}"; do echo "  $w: pid $(pid_of "$w"), polling"; done
echo "/readyz says $(readyz); the workers' own lines, prefixed with their names:"
sed 's/^/  /' "$out"

say "3. a workflow through each worker"
all_workflows 1

say "4. the chat worker crashes (SIGKILL)"
before=$(for w in documents s3 azure webhooks; do pid_of "$w"; done | tr '\n' ' ')
kill -KILL "$(pid_of chat)"
wait_log "worker is polling worker=chat" 2
after=$(for w in documents s3 azure webhooks; do pid_of "$w"; done | tr '\n' ' ')
grep -E "worker=chat" "$log" | grep -E "exited by itself|restart 1 in" | sed -E 's/^[0-9T:.-]+Z +/  /'
echo "  chat was restarted alone (new pid $(pid_of chat)); the other four kept their pids: $([[ $before == "$after" ]] && echo yes || echo NO)"

say "5. a scanned document in processing (OCR takes 8 s) when the Temporal server is killed"
"$temporal" workflow start --address "$address" --task-queue documents --type ProcessDocument \
  --workflow-id scan-1 --input '"scan-1.pdf"' >/dev/null
for _ in $(seq 300); do grep -q "extracting text from scan-1.pdf" "$out" && break; sleep 0.1; done
before=$(for w in "${workers[@]}"; do pid_of "$w"; done | tr '\n' ' ')
kill -KILL -- "-$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
wait_log "Temporal lost" 1
echo "Temporal lost: every worker kept running (their SDKs reconnect); /readyz says $(readyz)"
sleep 3
say "   ...and bringing it back on the same port and database"
start_server
wait_log "worker is polling again" 5
after=$(for w in "${workers[@]}"; do pid_of "$w"; done | tr '\n' ' ')
echo "  all five poll again; same pids as before the outage: $([[ $before == "$after" ]] && echo yes || echo NO)"
result=$("$temporal" workflow result --address "$address" --workflow-id scan-1 | sed -n 's/^ *Result  *\(".*"\)$/\1/p')
echo "  the scan's workflow completed through the outage: $result"
echo "  its activity ran $(grep -c "extracting text from scan-1.pdf" "$out") time(s)"
all_workflows 2

say "6. a rollout: SIGTERM to the supervisor while another scan is processed"
"$temporal" workflow start --address "$address" --task-queue documents --type ProcessDocument \
  --workflow-id scan-2 --input '"scan-2.pdf"' >/dev/null
for _ in $(seq 300); do grep -q "extracting text from scan-2.pdf" "$out" && break; sleep 0.1; done
kill -TERM "$supervisor_pid"
code=0; wait "$supervisor_pid" || code=$?; supervisor_pid=""
grep -E "draining:|drain completed" "$log" | grep "worker=documents" | sed -E 's/^[0-9T:.-]+Z +/  /' | cut -c1-150
echo "  the supervisor exited $code: each worker drained (no new work, the scan finished), then stopped"
say "   ...and the next supervisor (the new pod) takes over"
start_supervisor
result=$("$temporal" workflow result --address "$address" --workflow-id scan-2 | sed -n 's/^ *Result  *\(".*"\)$/\1/p')
echo "  the scan's workflow completed on the new supervisor's workers: $result"
echo "  its activity ran $(grep -c "extracting text from scan-2.pdf" "$out") time(s)"

say "what the supervisor said"
grep -E 'running; watching Temporal|worker started|Temporal lost|Temporal is back|polling again|port is accepting|drain completed' "$log" \
  | sed -E 's/^[0-9T:.-]+Z +//' | cut -c1-150
say "done: stopping the supervisor (it stops the workers) and the server"
