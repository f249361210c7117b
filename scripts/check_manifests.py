"""Checks the Kubernetes examples, and writes what kubernetes-validate is to check into a folder
(every document of Kubernetes' own kinds; for a WorkerDeployment, the Deployment the worker
controller makes of its pod template). The checks:

- each --stop-timeout ends before the kubelet's SIGKILL (terminationGracePeriodSeconds);
- each `watch` sidecar serves --health-listen on a port it declares, watches task queues and
  starts nothing; the other containers of its pod (the workers) have their startup and
  readiness probes on that port (/startupz, /readyz); no liveness probe asks /readyz or
  /startupz (liveness is the worker's own process's), and the sidecar's own one asks /livez;
- a sidecar with an endpoint (--endpoint-listen) has its workers connect to it
  (TEMPORAL_ADDRESS=localhost:PORT, in their env or, under the worker controller, whose
  variables win over the template's, in an `env` wrapper of their command) with no API key of
  their own, drained by a preStop httpGet on /drain of its health port, and its stop timeout
  (the default 25s too) under the pod's terminationGracePeriodSeconds;
- a native sidecar (an init container with restartPolicy: Always) holds the workers with a
  startup probe on /startupz and is given TEMPORAL_ADDRESS itself (an init container gets no
  one's environment);
- under the worker controller, the sidecar is a regular container after the worker (the
  controller sets TEMPORAL_* in spec.containers only, and names the build ID after the first
  container's image), and no container sets a variable the controller sets;
- the controller's custom resources have the fields their CRDs (temporal.io/v1alpha1,
  temporal-worker-controller v1.7) require;
- credentials given to `run` as files (--api-key-file, --tls-*-path) come from Secret volumes
  mounted without subPath (the kubelet never updates a subPath mount, so a rotation would not
  be seen), and every cert-manager Certificate has the fields its CRD (cert-manager.io/v1)
  requires and is mounted by such a container.
"""
import os
import re
import sys

import yaml

out, paths = sys.argv[1], sys.argv[2:]
# Each of these files has one watch sidecar of this kind: the checks cannot pass by its loss.
SIDECARS = {"native-sidecar.yaml": "native", "worker-controller-sidecar.yaml": "controller"}
# ...and serves its worker an endpoint: the endpoint's checks cannot pass by its loss either.
# What the worker controller sets in every container of spec.containers.
CONTROLLER_ENV = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_DEPLOYMENT_NAME",
                  "TEMPORAL_WORKER_BUILD_ID", "TEMPORAL_TLS", "TEMPORAL_TLS_SERVER_NAME",
                  "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
                  "TEMPORAL_API_KEY"}
errors = []
# Secrets of cert-manager Certificates, and the Secrets mounted for `run`'s credential files.
certificates, mounted = {}, set()
CREDENTIAL_FILES = ("--api-key-file", "--tls-ca-path", "--tls-cert-path", "--tls-key-path")


def seconds(text):
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|s|m|h)?", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}[unit]
    return total


def get(doc, dotted):
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def argv(c):
    return c.get("command", []) + c.get("args", [])


def option(args, name):
    """The value of `--name VALUE` or `--name=VALUE`, else None."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def worker_address(c, controller):
    """The TEMPORAL_ADDRESS a container's program gets: its env's last, unless the worker
    controller's (appended after the template's) wins, unless its command is an `env` wrapper
    that sets one."""
    address = None
    for e in c.get("env", []):
        if e["name"] == "TEMPORAL_ADDRESS":
            address = e.get("value", "(from valueFrom)")
    if controller:
        address = "(the worker controller's Connection)"
    args = argv(c)
    if args and os.path.basename(args[0]) == "env":
        i = 1
        while i < len(args) and (args[i] == "-u" or "=" in args[i]):
            if args[i].startswith("TEMPORAL_ADDRESS="):
                address = args[i].split("=", 1)[1]
            i += 2 if args[i] == "-u" else 1
    return address


def unsets(c):
    """What an `env` wrapper of a container's command unsets (`-u NAME`)."""
    args = argv(c)
    if not args or os.path.basename(args[0]) != "env":
        return set()
    return {args[i + 1] for i, a in enumerate(args[:-1]) if a == "-u"}


def probe(c, which):
    """(path without query, port) of a container's HTTP probe; a port name is looked up in
    that container's own ports, as the kubelet does."""
    path = (get(c, f"{which}.httpGet.path") or "").split("?")[0] or None
    port = get(c, f"{which}.httpGet.port")
    if isinstance(port, str) and not port.isdigit():
        named = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == port]
        port = named[0] if named else f"{port} (no such port in {c['name']})"
    elif port is not None:
        port = int(port)
    return path, port


def check_custom_resource(where, doc):
    kind, spec = doc["kind"], doc.get("spec") or {}
    if kind == "Connection":
        if not re.fullmatch(r"[a-zA-Z0-9.-]+:[0-9]+", str(spec.get("hostPort", ""))):
            errors.append(f"{where}: spec.hostPort must be host:port")
        return
    for field in ("workerOptions.connectionRef.name", "workerOptions.temporalNamespace",
                  "rollout.strategy", "template.spec.containers"):
        if not get(spec, field):
            errors.append(f"{where}: spec.{field} is required")
    if "sunset" not in spec:
        errors.append(f"{where}: spec.sunset is required")
    strategy = get(spec, "rollout.strategy")
    if strategy not in ("Manual", "AllAtOnce", "Progressive"):
        errors.append(f"{where}: spec.rollout.strategy {strategy!r} is not Manual, AllAtOnce or Progressive")
    steps = get(spec, "rollout.steps") or []
    if strategy == "Progressive" and not steps:
        errors.append(f"{where}: a Progressive rollout needs spec.rollout.steps")
    ramps = [s.get("rampPercentage", 0) for s in steps]
    if ramps != sorted(set(ramps)) or any(not 1 <= r <= 99 for r in ramps):
        errors.append(f"{where}: rampPercentage must rise from step to step, within 1..99")
    if any(seconds(str(s.get("pauseDuration", "0"))) < 30 for s in steps):
        errors.append(f"{where}: a step's pauseDuration must be at least 30s")


def check_certificate(where, doc):
    for field in ("secretName", "issuerRef.name"):
        if not get(doc.get("spec") or {}, field):
            errors.append(f"{where}: spec.{field} is required")
    certificates[get(doc, "spec.secretName")] = where


def check_credential_files(where, pod, c):
    """Each credential file of `run` lives on a Secret volume the kubelet keeps up to date."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for name in CREDENTIAL_FILES:
        path = option(argv(c), name)
        if path is None:
            continue
        mounts = [m for m in c.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mounts:
            errors.append(f"{where}: {c['name']}: {name} {path} is on no volume")
            continue
        mount = mounts[0]
        secret = get(volumes.get(mount["name"], {}), "secret.secretName")
        if secret is None:
            errors.append(f"{where}: {c['name']}: {name} {path} is not on a Secret volume")
        elif "subPath" in mount:
            errors.append(f"{where}: {c['name']}: {name} {path} is mounted with subPath, which the kubelet never updates")
        else:
            mounted.add(secret)


def check_sidecar(where, pod, sidecar, native, controller):
    name = f"{where}: {sidecar['name']}"
    args = argv(sidecar)
    listen = option(args, "--health-listen")
    if not (listen and re.search(r":\d+$", listen)):
        errors.append(f"{name}: watch needs --health-listen HOST:PORT or :PORT, has {listen!r}")
        return
    port = int(listen.rsplit(":", 1)[1])
    if not option(args, "--task-queue"):
        errors.append(f"{name}: watch proves the workers by their task queues: give --task-queue")
    if "--" in args:
        errors.append(f"{name}: watch starts nothing: no command after --")
    if port not in [p.get("containerPort") for p in sidecar.get("ports", [])]:
        errors.append(f"{name}: does not declare its health port {port} in ports")
    if get(sidecar, "livenessProbe") and probe(sidecar, "livenessProbe") != ("/livez", port):
        errors.append(f"{name}: its liveness probe asks /livez on port {port}")
    if native:
        if probe(sidecar, "startupProbe") != ("/startupz", port):
            errors.append(f"{name}: a native sidecar holds the workers with a startup probe on /startupz, port {port}")
        if "TEMPORAL_ADDRESS" not in {e["name"] for e in sidecar.get("env", [])} and not sidecar.get("envFrom"):
            errors.append(f"{name}: an init container gets no one's environment: give it TEMPORAL_ADDRESS")
    workers = [c for c in pod.get("containers", []) if c is not sidecar]
    if not workers:
        errors.append(f"{where}: no worker container beside the sidecar")
    endpoint = option(args, "--endpoint-listen")
    # A --stop-timeout given is checked with every container's; the default is checked here.
    if endpoint and not option(args, "--stop-timeout"):
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= 25:
            errors.append(f"{name}: its default stop timeout, 25s (the drain, then the worker's stop), "
                          f"is not under terminationGracePeriodSeconds {grace}")
    for c in workers:
        for which, path in (("startupProbe", "/startupz"), ("readinessProbe", "/readyz")):
            if probe(c, which) != (path, port):
                errors.append(f"{where}: {c['name']}: its {which} must ask the sidecar's {path} on port {port}, "
                              f"asks {probe(c, which)}")
        if not endpoint:
            continue
        wanted = {f"localhost:{endpoint.rsplit(':', 1)[1]}", f"127.0.0.1:{endpoint.rsplit(':', 1)[1]}"}
        address = worker_address(c, controller)
        if address not in wanted:
            errors.append(f"{where}: {c['name']}: connects to {address}, not to the sidecar's endpoint "
                          f"({' or '.join(sorted(wanted))})")
        keyed = any(e["name"] == "TEMPORAL_API_KEY" for e in c.get("env", [])) or controller
        if keyed and "TEMPORAL_API_KEY" not in unsets(c):
            errors.append(f"{where}: {c['name']}: an API key turns TLS on toward the plaintext endpoint: "
                          "the sidecar holds the credentials")
        if probe(c, "lifecycle.preStop") != ("/drain", port):
            errors.append(f"{where}: {c['name']}: its preStop hook must ask the sidecar's /drain on port {port}, "
                          f"asks {probe(c, 'lifecycle.preStop')}")
    if controller:
        if not any(c is sidecar for c in pod.get("containers", [])):
            errors.append(f"{name}: the worker controller sets TEMPORAL_* in spec.containers only: put the sidecar there")
        elif pod["containers"][0] is sidecar:
            errors.append(f"{name}: the worker comes first (the controller names the build ID after the first image)")
        for c in pod.get("containers", []):
            for e in c.get("env", []):
                if e["name"] in CONTROLLER_ENV:
                    errors.append(f"{where}: {c['name']}: {e['name']} is the worker controller's to set")


for path in paths:
    base = os.path.basename(path)
    sidecars = 0
    for n, doc in enumerate(d for d in yaml.safe_load_all(open(path)) if d):
        kind, name = doc.get("kind"), get(doc, "metadata.name")
        where = f"{path}: {kind} {name}"
        controller = doc.get("apiVersion") == "temporal.io/v1alpha1"
        if doc.get("apiVersion") == "cert-manager.io/v1":
            if kind != "Certificate":
                errors.append(f"{where}: no check for {kind} of cert-manager.io/v1")
            else:
                check_certificate(where, doc)
            continue
        validated = doc
        if controller:
            if kind not in ("Connection", "WorkerDeployment"):
                errors.append(f"{where}: no check for {kind} of temporal.io/v1alpha1")
                continue
            check_custom_resource(where, doc)
            if kind == "Connection":
                continue
            template = dict(doc["spec"]["template"])
            template["metadata"] = {"labels": {"app": name}}
            validated = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                         "spec": {"replicas": doc["spec"].get("replicas", 1),
                                  "selector": {"matchLabels": {"app": name}}, "template": template}}
        with open(os.path.join(out, f"{base[:-5]}.{n}.{kind}.yaml"), "w") as f:
            yaml.safe_dump(validated, f)
        pod = get(doc, "spec.template.spec")
        if pod is None:
            continue
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            args = argv(c)
            if "--stop-timeout" in args:
                stop = seconds(args[args.index("--stop-timeout") + 1])
                if stop >= grace:
                    errors.append(f"{path}: {c['name']}: --stop-timeout {stop:g}s is not under "
                                  f"terminationGracePeriodSeconds {grace}")
            if "run" in args[:2]:
                check_credential_files(where, pod, c)
            asked, _ = probe(c, "livenessProbe")
            if asked in ("/readyz", "/startupz"):
                errors.append(f"{where}: {c['name']}: a liveness probe on {asked} restarts the "
                              "worker whenever Temporal is away")
            if "watch" not in args[:2]:
                continue
            sidecars += 1
            init = any(c is i for i in pod.get("initContainers", []))
            native = init and c.get("restartPolicy") == "Always"
            if init and not native:
                errors.append(f"{where}: {c['name']}: watch never ends: as an init container it needs restartPolicy: Always")
            check_sidecar(where, pod, c, native, controller)
            found = "controller" if controller else "native" if native else "regular"
            if base in SIDECARS and found != SIDECARS[base]:
                errors.append(f"{where}: {c['name']}: expected a {SIDECARS[base]} sidecar, found a {found} one")
            if base in SIDECARS and not option(args, "--endpoint-listen"):
                errors.append(f"{where}: {c['name']}: expected --endpoint-listen (the worker's endpoint, drained on /drain)")
    if base in SIDECARS and sidecars != 1:
        errors.append(f"{path}: expected one watch sidecar, found {sidecars}")
for secret, where in certificates.items():
    if secret not in mounted:
        errors.append(f"{where}: its Secret {secret} is mounted for no run's credential files")
if errors:
    sys.exit("\n".join(errors))
print("stop timeouts fit the grace periods; the watch sidecars' ports, probes and places hold; "
      "credential files rotate from Secret volumes")
