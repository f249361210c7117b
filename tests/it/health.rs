//! The health endpoints in each state, `/metrics` as parsed by the Prometheus client's own
//! parser, `status` exit codes, and a burst of requests that leaves memory and file
//! descriptors flat.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

fn endpoints(port: u16) -> [(u16, String); 3] {
    ["/livez", "/readyz", "/startupz"].map(|path| http_get(port, path))
}

fn codes(port: u16) -> [u16; 3] {
    endpoints(port).map(|(code, _)| code)
}

fn state_of(body: &str) -> String {
    body.split("\"state\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_string()
}

fn idle_worker() -> Vec<&'static str> {
    POLITE_WORKER.to_vec()
}

#[test]
fn endpoints_answer_for_each_state() {
    let mut server = DevServer::unstarted(free_port());
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--health-listen",
            &listen,
            "--probe-interval",
            "500ms",
            "--failure-threshold",
            "2",
            "--max-retries",
            "0",
        ],
        &idle_worker(),
    );
    // Waiting for Temporal: alive, not ready, not started.
    eventually("the health port", PATIENCE, || port_open(health));
    let [(live, body), (ready, _), (started, _)] = endpoints(health);
    assert_eq!([live, ready, started], [200, 503, 503], "{body}");
    assert_eq!(state_of(&body), "waiting-for-temporal", "{body}");
    assert!(body.contains("\"child_pid\":null"), "{body}");

    // Running.
    server.spawn();
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("/readyz 200", PATIENCE, || codes(health) == [200, 200, 200]);
    let (_, body) = http_get(health, "/readyz");
    assert_eq!(state_of(&body), "running");
    let pid = run.worker_pids()[0];
    assert!(body.contains(&format!("\"child_pid\":{pid}")), "{body}");
    assert!(body.contains("\"temporal_up\":true"), "{body}");

    // Temporal lost: the worker is kept, not ready, alive whatever Temporal does.
    server.kill();
    eventually("/readyz 503 after Temporal is lost", PATIENCE, || {
        codes(health) == [200, 503, 200]
    });
    run.wait_for_log("Temporal lost", 1, PATIENCE);
    let (_, body) = http_get(health, "/readyz");
    assert_eq!(state_of(&body), "temporal-lost", "{body}");
    assert!(body.contains("\"last_probe\":{\"ok\":false"), "{body}");
    assert!(body.contains("\"temporal_up\":false"), "{body}");
    assert!(
        body.contains("\"reason\":\"Temporal is not ready: "),
        "{body}"
    );
    assert!(body.contains(&format!("\"child_pid\":{pid}")), "{body}");
    let (_, metrics) = http_get(health, "/metrics");
    assert!(
        metrics.contains("temporal_supervisor_temporal_up 0"),
        "{metrics}"
    );

    // Back: the same worker, ready again, no restart counted.
    server.spawn();
    run.wait_for_log("Temporal is back", 1, PATIENCE);
    eventually("/readyz 200 again", PATIENCE, || {
        codes(health) == [200, 200, 200]
    });
    let (_, body) = http_get(health, "/readyz");
    assert!(body.contains("\"restarts_by_reason\":{}"), "{body}");
    assert!(body.contains("\"reason\":null"), "{body}");
    assert_eq!(run.worker_pids(), vec![pid]);

    let (code, metrics) = http_get(health, "/metrics");
    assert_eq!(code, 200);
    assert!(
        !metrics.contains("temporal_supervisor_child_restarts_total{"),
        "{metrics}"
    );
    assert!(
        metrics.contains("temporal_supervisor_temporal_up 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("temporal_supervisor_child_up{worker=\"worker\",replica=\"1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("temporal_supervisor_probe_failures_total{stage="),
        "{metrics}"
    );
    assert_parses_as_openmetrics(&metrics);
}

#[test]
fn endpoints_while_backing_off_after_a_crash() {
    let server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--health-listen",
            &listen,
            "--restart-delay",
            "30s",
        ],
        &["sh", "-c", "exit 4"],
    );
    run.wait_for_log("restart 1 in", 1, PATIENCE);
    let [(live, body), (ready, _), (started, _)] = endpoints(health);
    assert_eq!([live, ready, started], [200, 503, 200], "{body}");
    assert_eq!(state_of(&body), "backing-off", "{body}");
    assert!(
        body.contains("\"restarts_by_reason\":{\"exited\":1}"),
        "{body}"
    );
    assert!(body.contains("exited with code 4"), "{body}");
    let (_, metrics) = http_get(health, "/metrics");
    assert!(
        metrics.contains("temporal_supervisor_child_up{worker=\"worker\",replica=\"1\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("temporal_supervisor_child_restarts_total{worker=\"worker\",replica=\"1\",reason=\"exited\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("temporal_supervisor_wait_attempts_total 1"),
        "{metrics}"
    );
    assert_parses_as_openmetrics(&metrics);
    let (code, _) = http_get(health, "/nowhere");
    assert_eq!(code, 404);
}

/// Parses the exposition with the Prometheus client library's own OpenMetrics parser.
fn assert_parses_as_openmetrics(text: &str) {
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        names = [f.name for f in text_string_to_metric_families(sys.stdin.read())]\n\
        print(' '.join(sorted(names)))\n";
    let mut child = std::process::Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = wait_output(child, PATIENCE);
    assert!(
        out.status.success(),
        "not valid OpenMetrics: {}\n{text}",
        stderr(&out)
    );
    let names = String::from_utf8_lossy(&out.stdout);
    // The labelled families (probe failures, restarts) have samples only once something
    // happened; the callers check those.
    for metric in [
        "temporal_supervisor_temporal_up",
        "temporal_supervisor_probe_duration_seconds",
        "temporal_supervisor_wait_attempts",
        "temporal_supervisor_time_to_first_ready_seconds",
        "temporal_supervisor_child_up",
        "temporal_supervisor_pollers_seen",
    ] {
        assert!(
            names.split_whitespace().any(|n| n == metric),
            "{metric} missing from {names}"
        );
    }
}

#[test]
fn status_exit_codes() {
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let status = |listen: &str| {
        let (out, _) = run(
            supervisor().args(["status", "--health-listen", listen]),
            PATIENCE,
        );
        (code(out.status), stderr(&out))
    };
    let (rc, log) = status(&listen);
    assert_eq!(rc, 1, "nothing listens: {log}");

    let mut server = DevServer::unstarted(free_port());
    let supervised = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--health-listen",
            &listen,
            "--max-retries",
            "0",
        ],
        &idle_worker(),
    );
    eventually("the health port", PATIENCE, || port_open(health));
    let (rc, log) = status(&listen);
    assert_eq!(rc, 1, "waiting for Temporal: {log}");
    server.spawn();
    supervised.wait_for_log("worker started", 1, PATIENCE);
    eventually("status 0", PATIENCE, || status(&listen).0 == 0);
    // The address from the environment, and a wildcard listen address reached on loopback.
    let (out, _) = run(
        supervisor()
            .arg("status")
            .env("TEMPORAL_SUPERVISOR_HEALTH_LISTEN", format!(":{health}")),
        PATIENCE,
    );
    assert_eq!(code(out.status), 0, "{}", stderr(&out));

    let (out, _) = run(supervisor().arg("status"), PATIENCE);
    assert_eq!(code(out.status), 2, "no address: {}", stderr(&out));
    assert!(stderr(&out).contains("--health-listen"), "{}", stderr(&out));
}

#[test]
fn a_burst_of_requests_leaves_memory_and_descriptors_flat() {
    let server = DevServer::start();
    let health = free_port();
    let listen = format!("127.0.0.1:{health}");
    let run = Supervised::start(
        &[
            "run",
            "--address",
            &server.address(),
            "--health-listen",
            &listen,
        ],
        &idle_worker(),
    );
    run.wait_for_log("worker started", 1, PATIENCE);
    eventually("ready", PATIENCE, || http_get(health, "/readyz").0 == 200);
    let burst = |requests: usize| {
        let threads: Vec<_> = (0..16)
            .map(|t| {
                std::thread::spawn(move || {
                    let paths = ["/livez", "/readyz", "/startupz", "/metrics"];
                    for i in 0..requests / 16 {
                        let (code, _) = http_get(health, paths[(i + t) % 4]);
                        assert!(code == 200, "request failed with {code}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("burst thread");
        }
    };
    burst(400);
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = rss_kib(run.pid());
    let fds_before = run.fd_count();
    burst(4000);
    std::thread::sleep(Duration::from_millis(300));
    eventually(
        "file descriptors back to the baseline",
        Duration::from_secs(10),
        || run.fd_count() <= fds_before,
    );
    let rss_after = rss_kib(run.pid());
    assert!(
        rss_after <= rss_before + 2048,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 4000 requests"
    );
    assert_eq!(
        http_get(health, "/readyz").0,
        200,
        "still serving after the burst"
    );
}
