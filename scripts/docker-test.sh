#!/usr/bin/env bash
# The container story, run for real in a Docker engine of its own (issue 11):
#
#  - installs Debian's docker.io, docker-compose (v1) and debootstrap when missing;
#  - starts its own containerd and dockerd on their own sockets, whatever else runs: no bridge,
#    no iptables, no IP forwarding; every container uses the host's network and every address
#    is on loopback (free ports); no network is ever created (checked);
#  - makes the images it needs from the project's own files: a local Debian base (debootstrap +
#    docker import: no image registry can be reached), the project's Dockerfile's runtime stage
#    with the host's debug binary, the example worker image from examples/compose/ (the
#    supervisor installed with pip from the release wheel of scripts/package.sh, no Rust in
#    it), and a Temporal dev-server image; the images are cached by content between runs;
#  - runs a worker container and a `temporal-supervisor watch` container that share a hostname,
#    as the containers of a pod do (the Kubernetes sidecar examples), beside a worker of another
#    hostname on the same task queue: the worker's healthcheck asks the sidecar and turns healthy
#    once the worker polls (the other one's pollers do not count); after the worker is killed,
#    the sidecar, still running and having started no process, turns not ready within the
#    poller age window (90 s; that wait runs in the background, beside the scenarios below);
#  - runs the example Compose stack (examples/compose/docker-compose.yml + the override
#    tests/docker/compose.test.yml) with Debian's docker-compose:
#      1. the five workers first, Temporal late: no crash, every healthcheck turns healthy, a
#         workflow completes on each task queue;
#      2. the Temporal container is killed while a document's 8 s activity runs, and started
#         again on its database (a volume): each supervisor keeps its worker (no container
#         restarts, no new worker), every worker polls again, the document's workflow
#         completes with its activity executed once, and workflows complete again;
#      3. `docker-compose stop`: each worker gets SIGTERM through its supervisor (PID 1), stops
#         within the grace period, and the container exits with the worker's code;
#      4. the same stack without the supervisor (the seed's way; tests/docker/compose.seed.yml),
#         Temporal late again: crashes, container restarts and time to the first workflow;
#  - prints the figures of 1 and 4 side by side and those of the sidecar, and stops everything
#    it started (containers, dockerd, containerd), also on failure and Ctrl-C.
#
# Run alone as root: ./scripts/docker-test.sh (scripts/test.sh runs it last). Images live in
# /var/cache/temporal-supervisor (a warm run skips debootstrap and pip). DOCKER_TEST_ONLY=watch
# runs the images' checks and the sidecar's scenario only (under 2 minutes when warm).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

NAME='temporal-supervisor-docker-test'
RUN_DIR=/run/$NAME                       # sockets, pid files, dockerd's exec root, logs
CACHE=/var/cache/temporal-supervisor     # containerd's and dockerd's data roots: images stay
SOCKET=/run/$NAME.sock
TEMPORAL_LATE=${TEMPORAL_LATE:-30}       # seconds the workers run before Temporal starts (auto-
                                         # setup + PostgreSQL take about that on a first start)
NAMESPACE_DELAY=${NAMESPACE_DELAY:-5}    # seconds from SERVING to the namespace's registration
DOCKER=/usr/bin/docker                   # Debian's client, for Debian's daemon (a newer one may
                                         # come first on PATH)
export DOCKER_HOST=unix://$SOCKET
export DOCKER_CONFIG=$RUN_DIR/client     # no credential helpers or settings from ~/.docker
export COMPOSE_DOCKER_CLI_BUILD=0        # Compose builds through the API (legacy builder)
export TS_NAMESPACE_DELAY=$NAMESPACE_DELAY
ONLY=${DOCKER_TEST_ONLY:-}
case $ONLY in
  "" | watch) ;;
  *) echo "docker-test: DOCKER_TEST_ONLY is '$ONLY'; it can be empty (everything) or watch" >&2; exit 2 ;;
esac

started=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
sleep_until() { sleep "$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')"; }
say() { printf '\n\033[1m== [%ss] %s\033[0m\n' "$(secs "$started" "$(now)")" "$*"; }
note() { printf '   %s\n' "$*"; }
docker() { "$DOCKER" "$@"; }   # (xargs needs "$DOCKER" itself)

if [[ $(id -u) -ne 0 ]]; then
  echo "docker-test: needs root (apt-get, its own dockerd)" >&2
  exit 1
fi
# One run at a time: a second one would stop the first one's daemons.
exec 9>"/run/$NAME.lock"
if ! flock -n 9; then
  echo "docker-test: another run holds /run/$NAME.lock; waiting for it (at most 20 minutes)" >&2
  flock -w 1200 9 || { echo "docker-test: gave up waiting for the other run" >&2; exit 1; }
fi

# --- stopping everything, also on failure and Ctrl-C ------------------------------------------

project=""          # the Compose project of the scenario under way, for the logs on failure
containers=()       # or the containers of a scenario without Compose
bg_pids=()          # workflow runs in the background
sidecar_job=""      # the sidecar scenario's end, in the background
policy_rc_d=""      # set when this script made /usr/sbin/policy-rc.d for the apt install

stop_pid() { # stop_pid NAME PID SECONDS: SIGTERM, then SIGKILL after SECONDS
  local name=$1 pid=$2 limit=$3
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0   # a stale pid file
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "docker-test: $name (pid $pid) did not stop in ${limit}s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

stop_daemons() {
  if [[ -S $SOCKET ]] && docker version >/dev/null 2>&1; then
    docker ps -aq | xargs -r "$DOCKER" rm -f >/dev/null 2>&1
    docker volume prune -f >/dev/null 2>&1
  fi
  stop_pid dockerd "$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null || true)" 30
  stop_pid containerd "$(cat "$RUN_DIR/containerd.pid" 2>/dev/null || true)" 15
  # Container shims outlive a killed containerd: they are ours when they name our socket.
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "-address $RUN_DIR/containerd.sock "; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  rm -f "$SOCKET"
  if [[ -d $RUN_DIR ]]; then
    findmnt -rn -o TARGET | grep -F "$RUN_DIR/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$RUN_DIR"
  fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for p in "${bg_pids[@]}" $sidecar_job; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  if [[ -n $policy_rc_d ]]; then rm -f /usr/sbin/policy-rc.d; fi
  echo
  echo "docker-test: stopping the containers, dockerd and containerd it started"
  stop_daemons
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "docker-test: interrupted"; exit 130' INT TERM

# The containers of the scenario under way: its Compose project's, or those it names.
scenario_containers() {
  if [[ -n $project ]]; then
    docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}}'
  fi
  local c
  for c in "${containers[@]}"; do
    docker inspect "$c" >/dev/null 2>&1 && echo "$c"
  done
}

# With DOCKER_TEST_LOGS=DIR, every container's log is kept there (before `down`).
save_logs() {
  [[ -n ${DOCKER_TEST_LOGS:-} ]] || return 0
  mkdir -p "$DOCKER_TEST_LOGS"
  local c
  for c in $(scenario_containers); do
    docker logs -t "$c" >"$DOCKER_TEST_LOGS/$c.log" 2>&1
  done
}

# Everything about the scenario's containers, then fail.
fail() {
  printf '\n\033[1;31mdocker-test: FAILED: %s\033[0m\n' "$*" >&2
  if [[ -n $project || ${#containers[@]} -gt 0 ]] && docker version >/dev/null 2>&1; then
    local c
    save_logs
    for c in $(scenario_containers); do
      echo "--- $c: $(docker inspect -f 'status={{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}} started={{.State.StartedAt}} health={{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")" >&2
      docker logs --tail 40 "$c" 2>&1 | sed 's/^/    /' >&2
    done
  fi
  exit 1
}

quietly() { # quietly WHAT COMMAND...: runs COMMAND, shows its output only when it fails
  local out=$RUN_DIR/command.log
  "${@:2}" >"$out" 2>&1 || { sed 's/^/    /' "$out" >&2; fail "$1"; }
}

wait_until() { # wait_until SECONDS WHAT COMMAND...: poll every 0.5 s
  local limit=$1 what=$2
  shift 2
  local deadline
  deadline=$(awk -v n="$(now)" -v l="$limit" 'BEGIN { printf "%.3f", n + l }')
  until "$@"; do
    if awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
      fail "timed out after ${limit}s waiting for $what"
    fi
    sleep 0.5
  done
}

# --- 1. packages ------------------------------------------------------------------------------

say "packages: docker.io, docker-compose, debootstrap"
missing=()
for pair in dockerd:docker.io containerd:containerd runc:runc docker-compose:docker-compose \
            debootstrap:debootstrap; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[[ -x $DOCKER ]] || missing+=(docker.io)
if [[ ${#missing[@]} -gt 0 ]]; then
  note "installing ${missing[*]} with apt"
  # Installing docker.io must not start the system's Docker daemon (it would make the docker0
  # bridge): policy-rc.d says no to service starts during the install.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc_d=made
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io docker-compose debootstrap containerd runc >/dev/null
  if [[ -n $policy_rc_d ]]; then rm -f /usr/sbin/policy-rc.d; policy_rc_d=""; fi
fi
note "$(dockerd --version); $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

# The Temporal CLI (dev server) and the supervisor's binary.
./scripts/setup.sh
temporal=$PWD/.venv/bin/temporal
python=$PWD/.venv/bin/python
helpers() { "$python" tests/docker/helpers.py "$@"; }
binary=target/debug/temporal-supervisor
if [[ ! -x $binary ]]; then   # scripts/test.sh has just built it with `cargo test`
  note "building $binary (cargo build --locked)"
  cargo build --locked --quiet
elif [[ -n $(find src Cargo.toml Cargo.lock -newer "$binary" -print -quit) ]]; then
  note "warning: $binary is older than the sources; run cargo build to test the current code"
fi

links_before=$(ip -o link show | awk -F': ' '{ print $2 }' | sort)

# --- 2. our own containerd and dockerd --------------------------------------------------------

say "daemons: containerd and dockerd of our own ($SOCKET)"
stop_daemons   # what a killed earlier run may have left
mkdir -p "$RUN_DIR" "$DOCKER_CONFIG" "$CACHE"
cat >"$RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$CACHE/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN_DIR/containerd.sock"
[ttrpc]
  address = "$RUN_DIR/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
setsid containerd --config "$RUN_DIR/containerd.toml" >"$RUN_DIR/containerd.log" 2>&1 9>&- &
echo $! >"$RUN_DIR/containerd.pid"
wait_until 30 "containerd's socket ($RUN_DIR/containerd.sock; log $RUN_DIR/containerd.log)" \
  test -S "$RUN_DIR/containerd.sock"
setsid dockerd \
  --host "unix://$SOCKET" \
  --containerd "$RUN_DIR/containerd.sock" \
  --exec-root "$RUN_DIR/exec" \
  --pidfile "$RUN_DIR/dockerd.pid" \
  --data-root "$CACHE/docker" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --log-level=warn >"$RUN_DIR/dockerd.log" 2>&1 9>&- &
dockerd_pid=$!
daemon_up() {
  kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$RUN_DIR/dockerd.log" >&2; fail "dockerd exited"; }
  docker version >/dev/null 2>&1
}
wait_until 60 "dockerd on $SOCKET (log $RUN_DIR/dockerd.log)" daemon_up
# Containers of an earlier run that was killed would come back with their restart policies.
docker ps -aq | xargs -r "$DOCKER" rm -f >/dev/null
docker volume prune -f >/dev/null

networks_ok() { # only Docker's built-in host and none: no bridge, no Compose network
  local names
  names=$(docker network ls --format '{{.Name}}' | sort | tr '\n' ' ')
  [[ $names == "host none " ]] || fail "unexpected Docker networks: $names"
}
networks_ok
note "dockerd $(docker version -f '{{.Server.Version}}'), storage $(docker info -f '{{.Driver}}'), networks: $(docker network ls --format '{{.Name}}' | tr '\n' ' ')"

# --- 3. images --------------------------------------------------------------------------------

hash_of() { sha256sum "$@" | sha256sum | cut -c1-12; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
keep_only() { # keep_only REPO TAG: remove the other tags of our own repositories
  docker image ls "$1" --format '{{.Repository}}:{{.Tag}}' | grep -vFx "$1:$2" \
    | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
}

say "images"
# The local Debian base, keyed by its recipe, the archive and the host's extra CA certificates.
read -r mirror keyring < <(helpers apt-source bookworm)
base_key=$( { cat tests/docker/base-image.sh; echo "$mirror"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-12)
base=temporal-supervisor-test/debian-python:$base_key
if have_image "$base"; then
  note "base: $base (cached)"
else
  DOCKER=$DOCKER tests/docker/base-image.sh "$base" "$mirror" "$keyring"
fi
keep_only temporal-supervisor-test/debian-python "$base_key"

# The supervisor binary: the host's debug build, stripped of debug information (it is a glibc
# build: the base has glibc, distroless/static would not).
ctx=$RUN_DIR/context
mkdir -p "$ctx/binary" "$ctx/temporal"
strip --strip-debug -o "$ctx/binary/temporal-supervisor" "$binary" 2>/dev/null \
  || cp "$binary" "$ctx/binary/temporal-supervisor"
binary_key=$(hash_of "$ctx/binary/temporal-supervisor")
binary_image=temporal-supervisor-test/binary:$binary_key
if ! have_image "$binary_image"; then
  tar --owner=0 --group=0 -C "$ctx/binary" -c temporal-supervisor | docker import - "$binary_image" >/dev/null
fi
keep_only temporal-supervisor-test/binary "$binary_key"
note "binary: $binary_image ($(du -h "$ctx/binary/temporal-supervisor" | cut -f1), from $binary)"

# The project's Dockerfile, as `docker build -t temporal-supervisor .`, but with its runtime
# base and the binary's stage replaced (BuildKit builds only the stages the target needs, so the
# rust:alpine build stage is skipped).
DOCKER_BUILDKIT=1 docker build --quiet --network host \
  --build-arg RUNTIME_IMAGE="$base" --build-arg BINARY_STAGE="$binary_image" \
  -t temporal-supervisor . >/dev/null || fail "building the project's Dockerfile (runtime stage)"
docker builder prune -af >/dev/null 2>&1 || true
note "supervisor: temporal-supervisor (the project's Dockerfile, runtime stage)"

# The Temporal dev server, keyed by its Dockerfile, the CLI and the base.
cp tests/docker/Dockerfile.temporal "$ctx/temporal/Dockerfile"
cp "$temporal" "$ctx/temporal/temporal"
temporal_key=$( { hash_of "$ctx/temporal/Dockerfile" "$ctx/temporal/temporal"; echo "$base"; } | sha256sum | cut -c1-12)
temporal_image=temporal-supervisor-test/temporal:$temporal_key
if have_image "$temporal_image"; then
  note "dev server: $temporal_image (cached)"
else
  docker build --quiet --network host --build-arg BASE_IMAGE="$base" -t "$temporal_image" \
    "$ctx/temporal" >/dev/null || fail "building the dev-server image"
  note "dev server: $temporal_image ($("$temporal" --version | head -1))"
fi
keep_only temporal-supervisor-test/temporal "$temporal_key"
rm -rf "$ctx"

# Ports: the dev server's three and one health port per supervisor; the sidecar scenario's dev
# server's three and the sidecar's.
read -r TS_TEMPORAL_PORT TS_TEMPORAL_HTTP_PORT TS_TEMPORAL_METRICS_PORT \
  TS_HEALTH_DOCUMENT TS_HEALTH_CHAT TS_HEALTH_S3 TS_HEALTH_AZURE TS_HEALTH_WEBHOOK \
  watch_port watch_http_port watch_metrics_port watch_health \
  < <("$python" scripts/free_ports.py 12)
export TS_TEMPORAL_PORT TS_TEMPORAL_HTTP_PORT TS_TEMPORAL_METRICS_PORT \
  TS_HEALTH_DOCUMENT TS_HEALTH_CHAT TS_HEALTH_S3 TS_HEALTH_AZURE TS_HEALTH_WEBHOOK
export TS_PYTHON_IMAGE=$base TS_TEMPORAL_IMAGE=$temporal_image
address=127.0.0.1:$TS_TEMPORAL_PORT

compose_files=(-f examples/compose/docker-compose.yml -f tests/docker/compose.test.yml)
compose() { docker-compose -p "$project" "${compose_files[@]}" "$@"; }

# The worker image, from examples/compose/Dockerfile.worker as the example's Compose file
# builds it: the supervisor installed with pip from the wheel in dist/ (scripts/test.sh has
# just built and tested it with scripts/package-test.sh; built here when missing or older
# than the sources).
wheel=$(find dist -maxdepth 1 -name 'temporal_supervisor-*_x86_64.whl' 2>/dev/null | head -1 || true)   # (no dist/ yet: none)
if [[ -z $wheel || -n $(find src build.rs Cargo.toml Cargo.lock pyproject.toml -newer "$wheel" -print -quit) ]]; then
  note "building the wheel (scripts/package.sh: a release build, minutes when cold)"
  quietly "building the wheel" ./scripts/package.sh
  wheel=$(find dist -maxdepth 1 -name 'temporal_supervisor-*_x86_64.whl' | head -1)
fi
project=tsbuild
quietly "building the worker image" compose build document-worker
project=""
docker image prune -f >/dev/null
worker_image='temporal-supervisor-example-worker:local'
in_worker() { docker run --rm --network host --entrypoint sh "$worker_image" -c "$1"; }
wheel_binary_sha=$("$python" - "$wheel" <<'PY'
import hashlib, sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
[binary] = [n for n in wheel.namelist() if n.endswith(".data/scripts/temporal-supervisor")]
print(hashlib.sha256(wheel.read(binary)).hexdigest())
PY
)
# shellcheck disable=SC2016 # (expanded in the container)
read -r pip_version image_binary_sha _ < <(in_worker \
  'pip show temporal-supervisor 2>/dev/null | sed -n "s/^Version: //p" | tr "\n" " "; sha256sum "$(command -v temporal-supervisor)"')
[[ $pip_version == [0-9]* && $image_binary_sha == "$wheel_binary_sha" ]] \
  || fail "the worker image's temporal-supervisor is not the wheel's binary installed by pip (pip: $pip_version, sha256 $image_binary_sha)"
in_worker '! command -v cargo && ! command -v rustc && ! ls -d /usr/local/cargo /root/.cargo /root/.rustup' >/dev/null 2>&1 \
  || fail "the worker image has a Rust toolchain"
note "worker: $worker_image (examples/compose/Dockerfile.worker): temporal-supervisor $pip_version installed by pip from $(basename "$wheel"), the wheel's binary; no Rust"

# --- 4. the project's Dockerfile: what can be checked without its build stage -----------------

say "the project's Dockerfile: runtime stage"
check_eq() { [[ $2 == "$3" ]] || fail "$1: expected $3, got $2"; }
check_eq "the image's user" "$(docker image inspect -f '{{.Config.User}}' temporal-supervisor)" "65532:65532"
check_eq "the image's entrypoint" "$(docker image inspect -f '{{json .Config.Entrypoint}}' temporal-supervisor)" '["/usr/local/bin/temporal-supervisor"]'
check_eq "the image's command" "$(docker image inspect -f '{{json .Config.Cmd}}' temporal-supervisor)" '["--help"]'
docker run --rm --network host temporal-supervisor >/dev/null || fail "the image's default command (--help) failed"
version=$(docker run --rm --network host temporal-supervisor --version) || fail "--version failed in the image"
# `wait` from the image, before the server exists, as a non-root process; then the server.
docker run -d --name ts-image-wait --network host temporal-supervisor \
  wait --address "$address" --max-retries 0 >/dev/null
pid=$(docker inspect -f '{{.State.Pid}}' ts-image-wait)
uid=$(awk '/^Uid:/ { print $2 "/" $3 }' "/proc/$pid/status")
check_eq "the uid/euid of temporal-supervisor in the image" "$uid" "65532/65532"
docker run -d --name ts-image-temporal --network host "$temporal_image" server start-dev --headless \
  --ip 127.0.0.1 --port "$TS_TEMPORAL_PORT" --http-port "$TS_TEMPORAL_HTTP_PORT" \
  --metrics-port "$TS_TEMPORAL_METRICS_PORT" --log-level error >/dev/null
code=$(timeout 90 "$DOCKER" wait ts-image-wait) || { docker logs ts-image-wait; fail "the image's wait did not end within 90 s"; }
[[ $code == 0 ]] || { docker logs ts-image-wait; fail "the image's wait exited $code"; }
docker rm -f ts-image-wait ts-image-temporal >/dev/null
worker_user=$(docker image inspect -f '{{.Config.User}}' temporal-supervisor-example-worker:local)
worker_health=$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' temporal-supervisor-example-worker:local)
check_eq "the worker image's user" "$worker_user" "10001"
check_eq "the worker image's healthcheck" "$worker_health" '["CMD","temporal-supervisor","status"]'
note "$version at /usr/local/bin/temporal-supervisor, user 65532:65532 (ran as uid 65532), entrypoint and --help ok;"
note "\`wait\` from the image waited for a dev server started after it, and exited 0"

# Last: no network, bridge or interface appeared; the figures of what ran.
finish() {
  say "networks"
  networks_ok
  if ip link show docker0 >/dev/null 2>&1; then fail "a docker0 bridge exists"; fi
  links_after=$(ip -o link show | awk -F': ' '{ print $2 }' | sort)
  [[ $links_before == "$links_after" ]] || fail "network interfaces changed: $(diff <(echo "$links_before") <(echo "$links_after") | tr '\n' ' ')"
  note "no docker0, no new interface, Docker networks: host and none only"

  if [[ -z $ONLY ]]; then
    say "figures: the five workers started ${TEMPORAL_LATE}s before Temporal; namespace registered ${NAMESPACE_DELAY}s after SERVING"
    echo "   (times from Temporal's start)"
    printf '\n| five workers, Temporal %ss late | worker crashes | container restarts | namespace registered | first workflow completed | all five completed |\n' "$TEMPORAL_LATE"
    printf '|---|---|---|---|---|---|\n'
    printf '| with temporal-supervisor | %s | %s | %s s | %s s | %s s |\n' "$s1_crashes" "$s1_restarts" "$s1_ns" "$s1_first" "$s1_last"
    printf '| without (worker as command, restart: on-failure) | %s | %s | %s s | %s s | %s s |\n' "$s4_crashes" "$s4_restarts" "$s4_ns" "$s4_first" "$s4_last"
  fi
  say "figures: a worker and its \`watch\` sidecar sharing a hostname (another pod's worker on the same queue)"
  printf '\n| worker container healthy after its start | sidecar not ready after the worker was killed | sidecar stopped by SIGTERM |\n'
  printf '|---|---|---|\n'
  printf '| %s s | %s s | %s s, exit %s |\n' "$sw_healthy" "$sw_unready" "$sw_stop" "$sw_stop_code"
  say "docker-test: all scenarios passed in $(secs "$started" "$(now)")s"
}

# --- the watch sidecar --------------------------------------------------------------------------

say "sidecar: a worker and a \`watch\` container sharing a hostname, as the containers of a pod"
# A pod's containers share its hostname, and `watch` counts the pollers whose identity names
# this host (PID@HOST, any pid). With the host's network Docker gives every container the host's
# hostname unless told otherwise. Docker 20.10 (Debian's docker.io) takes --hostname together
# with --network host (each container gets a UTS namespace of its own with that name; --uts host
# shares the host's and refuses --hostname; no container can join another's UTS namespace, and
# --network container:X, which copies X's hostname, would make the sidecar start after the
# worker): so the worker and its sidecar get one name, and a worker of another pod on the same
# task queue another one. Its own dev server: no Compose, no namespace delay.
pod_host=ts-watch-pod other_host=ts-watch-other-pod
sidecar=ts-watch-sidecar worker=ts-watch-worker other_worker=ts-watch-other-worker
watch_temporal=ts-watch-temporal
containers=("$sidecar" "$watch_temporal" "$other_worker" "$worker")
[[ $(hostname) != "$pod_host" && $(hostname) != "$other_host" ]] || fail "the host is named $(hostname)"
watch_address=127.0.0.1:$watch_port
sidecar_says() { helpers readyz "$watch_health" "$@"; }
sidecar_ready() { "$binary" status --health-listen "127.0.0.1:$watch_health" >/dev/null 2>&1; }
sidecar_log() { docker logs "$sidecar" 2>&1; }
pollers_of() { # pollers_of HOST: the poller identities on `documents` whose host part is HOST
  "$temporal" task-queue describe --address "$watch_address" --task-queue documents -o json 2>/dev/null \
    | helpers identities | grep -E "^[0-9]+@$1(@|\$)" || true
}

# The sidecar first, as a native sidecar starts before the worker: it waits for Temporal.
docker run -d --name "$sidecar" --network host --hostname "$pod_host" temporal-supervisor \
  watch --address "$watch_address" --health-listen "127.0.0.1:$watch_health" \
  --task-queue documents --log-format json >/dev/null
sidecar_waits() { [[ $(sidecar_says state) == waiting-for-temporal ]]; }
wait_until 30 "the sidecar to answer while it waits for Temporal" sidecar_waits
[[ $(helpers code "$watch_health" /startupz) == 503 ]] || fail "the sidecar's /startupz is not 503 before Temporal exists"
identity=$(sidecar_log | helpers log-values "watching the worker's pollers; starting nothing" identity)
[[ $identity == "PID@$pod_host or PID@$pod_host@*" ]] || fail "the sidecar counts pollers of '$identity', not of its hostname $pod_host"
docker run -d --name "$watch_temporal" --network host "$temporal_image" server start-dev --headless \
  --ip 127.0.0.1 --port "$watch_port" --http-port "$watch_http_port" \
  --metrics-port "$watch_metrics_port" --log-level error >/dev/null
started_up() { [[ $(helpers code "$watch_health" /startupz) == 200 ]]; }
wait_until 60 "the sidecar's /startupz to answer 200 once Temporal is ready" started_up
note "the sidecar ($pod_host) waited for Temporal (/startupz 503), then /startupz 200; it counts $identity"

# A worker of another pod on the same queue: its pollers do not make this pod ready.
worker_args=(--network host -e "TEMPORAL_ADDRESS=$watch_address" -e TEMPORAL_NAMESPACE=default
  --entrypoint python)
docker run -d --name "$other_worker" --hostname "$other_host" --no-healthcheck "${worker_args[@]}" \
  "$worker_image" document_processing.py >/dev/null
other_seen() { sidecar_says poller_findings | grep -qE "polled by [0-9]+@$other_host"; }
wait_until 60 "the sidecar to see the other pod's poller ($other_host) and not count it" other_seen
sidecar_ready && fail "the sidecar is ready on another pod's poller: $(sidecar_says reason)"
note "another pod's worker ($other_host) polls documents: the sidecar sees it and stays not ready"

# This pod's worker, its healthcheck asking the sidecar.
t_worker=$(now)
docker run -d --name "$worker" --hostname "$pod_host" "${worker_args[@]}" \
  --health-cmd "temporal-supervisor status --health-listen 127.0.0.1:$watch_health" \
  --health-interval 2s --health-timeout 5s --health-retries 3 \
  "$worker_image" document_processing.py >/dev/null
worker_healthy() { [[ $(docker inspect -f '{{.State.Health.Status}}' "$worker") == healthy ]]; }
wait_until 120 "the worker's container to turn healthy" worker_healthy
t_worker_healthy=$(now)
docker logs "$worker" 2>&1 | grep -qE '^documents worker [0-9]+ polling$' || fail "the worker never said it polls"
[[ -n $(pollers_of "$pod_host") ]] || fail "healthy, but Temporal lists no poller of $pod_host on documents"
[[ $(sidecar_says polling) == True ]] || fail "healthy, but the sidecar does not report the worker polling"
failed_checks=$(docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{end}}' "$worker" | tr ' ' '\n' | grep -c '^1$' || true)
sw_healthy=$(secs "$t_worker" "$t_worker_healthy")
note "the worker's container turned healthy $sw_healthy s after its start ($failed_checks checks said not ready first), its poller $(pollers_of "$pod_host" | head -1) listed"

# The worker dies; the sidecar goes on, and turns not ready once its poller ages out (about
# 90 s): that wait runs in the background while the other scenarios run, its output and
# figures kept for the end.
sidecar_after_kill() {
  sidecar_started=$(docker inspect -f '{{.State.StartedAt}}' "$sidecar")
  t_kill_worker=$(now)
  docker kill "$worker" >/dev/null
  # shellcheck disable=SC2317  # called through wait_until
  not_ready() { ! sidecar_ready; }
  wait_until 150 "\`status\` against the sidecar to turn non-zero after the worker's kill" not_ready
  t_not_ready=$(now)
  sw_unready=$(secs "$t_kill_worker" "$t_not_ready")
  reason=$(sidecar_says reason)
  [[ $reason == *"no poller of this worker"*"polled by "*"@$other_host"* ]] \
    || fail "the sidecar is not ready for another reason: $reason"
  [[ -n $(pollers_of "$other_host") ]] || fail "the other pod's worker no longer polls"
  [[ $(docker inspect -f '{{.State.Running}} {{.RestartCount}} {{.State.StartedAt}}' "$sidecar") == "true 0 $sidecar_started" ]] \
    || fail "the sidecar did not keep running: $(docker inspect -f '{{.State.Status}} restarts={{.RestartCount}}' "$sidecar")"
  [[ $(sidecar_log | helpers log-values "worker not polling" worker | wc -l) == 1 ]] \
    || fail "the sidecar did not log once that the worker stopped polling"
  note "after the kill, \`status\` against the sidecar turned non-zero in $sw_unready s (the other pod's worker still polls)"

  # The sidecar started nothing: one process in its container, without children.
  mapfile -t procs < <(docker top "$sidecar" -o pid,comm | awk 'NR > 1 { print $1 ":" $2 }')
  sidecar_pid=$(docker inspect -f '{{.State.Pid}}' "$sidecar")
  [[ ${#procs[@]} == 1 && ${procs[0]} == "$sidecar_pid:temporal-superv"* ]] \
    || fail "the sidecar's container has other processes: ${procs[*]}"
  [[ -z $(cat /proc/"$sidecar_pid"/task/*/children) ]] || fail "the sidecar has children: $(cat /proc/"$sidecar_pid"/task/*/children)"
  t_stop_sidecar=$(now)
  docker stop -t 10 "$sidecar" >/dev/null
  sw_stop=$(secs "$t_stop_sidecar" "$(now)")
  sw_stop_code=$(docker inspect -f '{{.State.ExitCode}}' "$sidecar")
  [[ $sw_stop_code == 0 ]] || fail "the sidecar exited $sw_stop_code on SIGTERM"
  [[ $(sidecar_log | helpers log-count "SIGTERM received; exiting") == 1 ]] || fail "the sidecar did not log SIGTERM"
  note "the sidecar's container had one process (temporal-supervisor, pid $sidecar_pid on the host, no children); SIGTERM ended it in $sw_stop s with 0"
  save_logs
  docker rm -f "${containers[@]}" >/dev/null
  printf 'sw_unready=%s sw_stop=%s sw_stop_code=%s\n' "$sw_unready" "$sw_stop" "$sw_stop_code" >"$RUN_DIR/sidecar.vars"
}
sidecar_after_kill >"$RUN_DIR/sidecar.out" 2>&1 &
sidecar_job=$!
containers=()

# The sidecar's end: its output, then its figures (or its failure).
sidecar_done() {
  local rc=0
  wait "$sidecar_job" || rc=$?
  sidecar_job=""
  cat "$RUN_DIR/sidecar.out"
  [[ $rc == 0 ]] || fail "the sidecar scenario failed (its output above)"
  # shellcheck disable=SC1091
  source "$RUN_DIR/sidecar.vars"
}

if [[ $ONLY == watch ]]; then
  sidecar_done
  finish
  exit 0
fi

# --- the scenarios' helpers -------------------------------------------------------------------

workers=(document-worker chat-worker s3-listener azure-blob-listener webhook-listener)
declare -A queue=([document-worker]=documents [chat-worker]=chat-sessions [s3-listener]=s3-events
  [azure-blob-listener]=azure-blobs [webhook-listener]=webhooks)
declare -A wftype=([document-worker]=ProcessDocument [chat-worker]=ChatTurn
  [s3-listener]=HandleS3Event [azure-blob-listener]=HandleBlobEvent [webhook-listener]=HandleWebhook)
declare -A health=([document-worker]=$TS_HEALTH_DOCUMENT [chat-worker]=$TS_HEALTH_CHAT
  [s3-listener]=$TS_HEALTH_S3 [azure-blob-listener]=$TS_HEALTH_AZURE [webhook-listener]=$TS_HEALTH_WEBHOOK)

container() { echo "${project}_$1_1"; }   # Compose v1's container names
inspect() { docker inspect -f "$2" "$(container "$1")"; }
logs() { docker logs "$(container "$1")" 2>&1; }
readyz() { helpers readyz "${health[$1]}" "${@:2}"; }
log_count() { logs "$1" | helpers log-count "$2"; }
all() { local s; for s in "${workers[@]}"; do "$@" "$s" || return 1; done; }

is_healthy() { [[ $(inspect "$1" '{{.State.Health.Status}}') == healthy ]]; }
is_waiting() { [[ $(readyz "$1" state child_pid | tr '\n' ' ') == "waiting-for-temporal none " ]]; }

# Starts one workflow per task queue in the background; finish_workflows waits for them. A
# failed start (namespace not yet known to the frontend, connection refused) is tried again
# with the same workflow id.
start_workflows() { # start_workflows LABEL SECONDS
  local label=$1 limit=$2 s
  bg_pids=()
  for s in "${workers[@]}"; do
    (
      trap - EXIT INT TERM
      end=$(awk -v n="$(now)" -v l="$limit" 'BEGIN { printf "%d", n + l }')
      out=$RUN_DIR/wf-$label-$s.out
      while (( $(date +%s) < end )); do
        if timeout $((end - $(date +%s) + 1)) "$temporal" workflow execute --address "$address" \
             --namespace workers --task-queue "${queue[$s]}" --type "${wftype[$s]}" \
             --workflow-id "$label-$s" --id-conflict-policy UseExisting \
             --input "\"$label-$s\"" >"$out" 2>&1 && grep -q COMPLETED "$out"; then
          now >"$RUN_DIR/wf-$label-$s.done"
          exit 0
        fi
        sleep 0.5
      done
    ) &
    bg_pids+=($!)
  done
}
finish_workflows() { # finish_workflows LABEL: every workflow completed, or fail
  local label=$1 s
  wait "${bg_pids[@]}" 2>/dev/null || true
  bg_pids=()
  for s in "${workers[@]}"; do
    [[ -f $RUN_DIR/wf-$label-$s.done ]] || {
      sed 's/^/    /' "$RUN_DIR/wf-$label-$s.out" >&2
      fail "no workflow completed on task queue ${queue[$s]} (${wftype[$s]}, served by $s)"
    }
  done
}
first_done() { cat "$RUN_DIR"/wf-"$1"-*.done | sort -n | head -1; }
last_done() { cat "$RUN_DIR"/wf-"$1"-*.done | sort -n | tail -1; }

# Container restarts: Docker's restart counts. Worker crashes: worker processes that ended
# without being asked to. Under the supervisor, those it restarted itself ("exited") plus those
# that took the container down; without it, every end of the worker is its container's end:
# the container's restarts, plus one if it is down now.
restarts() { local s n=0; for s in "${workers[@]}"; do n=$((n + $(inspect "$s" '{{.RestartCount}}'))); done; echo $n; }
crashes_supervised() {
  local s n x
  n=$(restarts)
  for s in "${workers[@]}"; do
    x=$(readyz "$s" restarts_by_reason.exited)
    [[ $x =~ ^[0-9]+$ ]] && n=$((n + x))
  done
  echo "$n"
}
crashes_unsupervised() {
  local s n
  n=$(restarts)
  for s in "${workers[@]}"; do
    [[ $(inspect "$s" '{{.State.Running}}') == true ]] || n=$((n + 1))
  done
  echo "$n"
}

# Workers first; Temporal TEMPORAL_LATE seconds later, its namespace NAMESPACE_DELAY seconds
# after it is SERVING; then one workflow per queue. Sets t_up, t_temporal, t_namespace.
late_temporal_start() { # late_temporal_start LABEL
  t_up=$(now)
  quietly "starting the workers" compose up -d --no-deps --no-build "${workers[@]}"
  networks_ok
  note "workers started; Temporal starts in ${TEMPORAL_LATE}s"
  sleep_until "$(awk -v t="$t_up" -v l="$TEMPORAL_LATE" 'BEGIN { printf "%.3f", t + l - 8 }')"
  before_temporal_checks
  sleep_until "$(awk -v t="$t_up" -v l="$TEMPORAL_LATE" 'BEGIN { printf "%.3f", t + l }')"
  t_temporal=$(now)
  quietly "starting Temporal" compose up -d --no-deps temporal-dev-server temporal-namespace
  networks_ok
  code=$(timeout 180 "$DOCKER" wait "$(container temporal-namespace)") \
    || fail "the namespace was not registered within 180 s"
  [[ $code == 0 ]] || fail "registering the namespace failed (exit $code)"
  t_namespace=$(now)
  after_namespace
  note "Temporal started at +$(secs "$t_up" "$t_temporal")s, namespace registered at +$(secs "$t_up" "$t_namespace")s; running a workflow on each queue"
  start_workflows "$1" 300
}

# --- scenario 1 -------------------------------------------------------------------------------

say "scenario 1: the five workers first, Temporal ${TEMPORAL_LATE}s late"
project=tsdocker
before_temporal_checks() {
  local s
  for s in "${workers[@]}"; do
    [[ $(inspect "$s" '{{.State.Status}} {{.RestartCount}}') == "running 0" ]] \
      || fail "$s is not running with 0 restarts before Temporal exists"
    [[ $(inspect "$s" '{{.State.Health.Status}}') == starting ]] \
      || fail "$s's healthcheck is $(inspect "$s" '{{.State.Health.Status}}') before Temporal exists"
    is_waiting "$s" || fail "$s's supervisor is not waiting for Temporal: $(readyz "$s" state child_pid | tr '\n' ' ')"
  done
  note "each supervisor waits (state waiting-for-temporal, no worker), containers running, health: starting"
}
after_namespace() { :; }
late_temporal_start s1
wait_until 180 "every worker's healthcheck to turn healthy" all is_healthy
t_healthy=$(now)
finish_workflows s1
for s in "${workers[@]}"; do
  [[ $(inspect "$s" '{{.RestartCount}}') == 0 ]] || fail "$s's container restarted"
  [[ $(readyz "$s" restarts) == 0 ]] || fail "$s's supervisor restarted its worker: $(readyz "$s" restarts_by_reason)"
  [[ $(log_count "$s" "worker started") == 1 ]] || fail "$s: the worker was started more than once"
  [[ $(logs "$s" | grep -c '^Traceback' || true) == 0 ]] || fail "$s: a worker crashed (traceback in its log)"
  [[ $(logs "$s" | helpers log-values "Temporal not ready" stage | grep -c namespace || true) -gt 0 ]] \
    || fail "$s: the supervisor never saw the namespace missing (it should have, for ${NAMESPACE_DELAY}s)"
  # The supervisor is PID 1 of its container; the worker is its child.
  pid=$(inspect "$s" '{{.State.Pid}}')
  [[ $(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status") == 1 ]] || fail "$s: the supervisor is not PID 1"
  [[ $(cat "/proc/$pid/comm") == temporal-superv* ]] || fail "$s: PID 1 is $(cat "/proc/$pid/comm")"
  child=$(awk '{ print $1 }' "/proc/$pid/task/$pid/children")
  [[ -n $child && $(cat "/proc/$child/comm") == python* ]] || fail "$s: the worker is not the supervisor's child"
  [[ $(awk '/^Uid:/ { print $2 }' "/proc/$child/status") == 10001 ]] || fail "$s: the worker does not run as 10001"
done
s1_crashes=$(crashes_supervised) s1_restarts=$(restarts)
s1_first=$(secs "$t_temporal" "$(first_done s1)") s1_last=$(secs "$t_temporal" "$(last_done s1)")
s1_ns=$(secs "$t_temporal" "$t_namespace")
note "every supervisor saw 'namespace does not exist' first, then started its worker once"
note "all five healthy at +$(secs "$t_temporal" "$t_healthy")s after Temporal's start; workflows completed on all five queues"
note "no crash, no container restart; each supervisor is PID 1, its worker (uid 10001) its child"

# --- scenario 2 -------------------------------------------------------------------------------

say "scenario 2: the Temporal container is killed while an activity runs, then started again"
declare -A started_at old_pid
for s in "${workers[@]}"; do
  started_at[$s]=$(inspect "$s" '{{.State.StartedAt}}')
  old_pid[$s]=$(readyz "$s" child_pid)
done
# A scanned document: its text extraction (OCR) takes 8 s, and the server dies meanwhile.
"$temporal" workflow start --address "$address" --namespace workers --task-queue documents \
  --type ProcessDocument --workflow-id s2-scan --input '"scan-s2.pdf"' >/dev/null \
  || fail "starting the scanned document's workflow"
scan_runs() { logs document-worker | grep -c "extracting text from scan-s2.pdf" || true; }
in_flight() { [[ $(scan_runs) == 1 ]]; }
wait_until 60 "the scanned document's activity to start" in_flight
t_kill=$(now)
docker kill "$(container temporal-dev-server)" >/dev/null
kept_through_loss() {
  [[ $(readyz "$1" state child_pid | tr '\n' ' ') == "temporal-lost ${old_pid[$1]} " ]]
}
wait_until 90 "every supervisor to lose Temporal and keep its worker" all kept_through_loss
t_all_lost=$(now)
note "every supervisor lost Temporal $(secs "$t_kill" "$t_all_lost")s after the kill and kept its worker (/readyz 503, state temporal-lost)"
sleep 3
t_restart=$(now)
docker start "$(container temporal-dev-server)" >/dev/null
polling_again() {
  [[ $(readyz "$1" status) == ok && $(readyz "$1" child_pid) == "${old_pid[$1]}" ]]
}
wait_until 120 "every worker to poll again" all polling_again
t_all_back=$(now)
scan=$(timeout 120 "$temporal" workflow result --address "$address" --namespace workers \
  --workflow-id s2-scan 2>&1) || fail "the scanned document's workflow: $scan"
grep -q 'scan-s2.pdf: 19 characters' <<<"$scan" || fail "the scanned document's workflow: $scan"
t_scan=$(now)
executions=$(scan_runs)
[[ $executions == 1 ]] || fail "the scanned document's activity ran $executions times"
start_workflows s2 180
finish_workflows s2
for s in "${workers[@]}"; do
  [[ $(inspect "$s" '{{.State.Status}} {{.RestartCount}}') == "running 0" ]] || fail "$s's container restarted"
  [[ $(inspect "$s" '{{.State.StartedAt}}') == "${started_at[$s]}" ]] || fail "$s's container was started again"
  [[ $(log_count "$s" "Temporal lost;") == 1 ]] || fail "$s: expected one 'Temporal lost;'"
  [[ $(log_count "$s" "worker started") == 1 ]] || fail "$s: the worker was started again"
  [[ $(log_count "$s" "worker is polling again") == 1 ]] || fail "$s: the worker was not seen polling again"
  [[ $(readyz "$s" restarts) == 0 ]] || fail "$s's supervisor restarted its worker: $(readyz "$s" restarts_by_reason)"
done
note "all five polling again $(secs "$t_restart" "$t_all_back")s after the server's start, same worker processes"
note "the scanned document's workflow completed $(secs "$t_kill" "$t_scan")s after the kill, its activity executed once"
note "no container restarted (restart counts 0, start times unchanged), no worker restarted; workflows completed again"

# --- scenario 3 -------------------------------------------------------------------------------

say "scenario 3: docker-compose stop"
t_stop=$(now)
quietly "docker-compose stop" compose stop
t_stopped=$(now)
grace=25   # the workers' --stop-timeout (stop_grace_period is 30 s)
for s in "${workers[@]}"; do
  exit_code=$(inspect "$s" '{{.State.ExitCode}}')
  finished=$(date -d "$(inspect "$s" '{{.State.FinishedAt}}')" +%s.%N)
  took=$(secs "$t_stop" "$finished")
  [[ $(log_count "$s" "SIGTERM received: sent SIGTERM to the worker's process group") == 1 ]] \
    || fail "$s: the supervisor did not pass SIGTERM to its worker"
  worker_code=$(logs "$s" | helpers log-values "worker exited" code | tail -1)
  [[ $exit_code == "$worker_code" ]] || fail "$s: the container exited $exit_code, the worker $worker_code"
  [[ $exit_code == 0 ]] || fail "$s: the worker's clean stop exited $exit_code"
  awk -v t="$took" -v g="$grace" 'BEGIN { exit !(t < g) }' || fail "$s took ${took}s to stop (grace ${grace}s)"
  note "$s: SIGTERM passed on, worker exited $worker_code, container exit $exit_code, stopped in ${took}s"
done
note "docker-compose stop took $(secs "$t_stop" "$t_stopped")s in all"
save_logs
quietly "docker-compose down" compose down -v

# --- scenario 4 -------------------------------------------------------------------------------

say "scenario 4: the same stack without the supervisor (the seed's way), Temporal ${TEMPORAL_LATE}s late"
project=tsseed
compose_files+=(-f tests/docker/compose.seed.yml)
before_temporal_checks() {
  note "before Temporal (${TEMPORAL_LATE}s): $(crashes_unsupervised) crashes, $(restarts) container restarts so far"
}
after_namespace() {
  note "until the namespace existed: $(crashes_unsupervised) crashes, $(restarts) container restarts"
}
late_temporal_start s4
finish_workflows s4
s4_crashes=$(crashes_unsupervised) s4_restarts=$(restarts)
s4_first=$(secs "$t_temporal" "$(first_done s4)") s4_last=$(secs "$t_temporal" "$(last_done s4)")
s4_ns=$(secs "$t_temporal" "$t_namespace")
for s in "${workers[@]}"; do
  note "$s: $(inspect "$s" '{{.RestartCount}}') container restarts, workflow done at +$(secs "$t_temporal" "$(cat "$RUN_DIR/wf-s4-$s.done")")s"
done
save_logs
quietly "docker-compose down" compose down -v
project=""

# --- networks, and the figures ----------------------------------------------------------------

sidecar_done
finish
