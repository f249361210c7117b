//! The five example workers used by the Compose and Kubernetes examples: each runs under
//! `temporal-supervisor run`, polls its task queue, and completes its workflow.

use std::path::PathBuf;

use crate::common::*;

#[test]
fn every_example_worker_polls_and_completes_its_workflow() {
    let server = DevServer::start();
    let workers = [
        (
            "document_processing",
            "documents",
            "ProcessDocument",
            "scan.pdf",
            "scan.pdf: 16 characters",
        ),
        (
            "chat_sessions",
            "chat-sessions",
            "ChatTurn",
            "hello",
            "echo: hello",
        ),
        (
            "s3_listener",
            "s3-events",
            "HandleS3Event",
            "bucket/key",
            "s3://bucket/key: 10 bytes",
        ),
        (
            "azure_blob_listener",
            "azure-blobs",
            "HandleBlobEvent",
            "blob-1",
            "blob blob-1: 6 bytes",
        ),
        (
            "webhook_listener",
            "webhooks",
            "HandleWebhook",
            "{}",
            "accepted",
        ),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/workers");
    for (module, queue, workflow, input, expected) in workers {
        let script = dir.join(format!("{module}.py"));
        let python = python();
        let mut cmd = supervisor();
        cmd.env("TEMPORAL_ADDRESS", server.address()).args([
            "run",
            "--task-queue",
            queue,
            "--probe-interval",
            "1s",
        ]);
        let mut run = Supervised::start_with(
            cmd,
            &[],
            &[python.to_str().unwrap(), script.to_str().unwrap()],
        );
        run.wait_for_log("worker is polling", 1, PATIENCE);
        let text = server.execute(queue, workflow, input);
        assert!(text.contains(expected), "{module}: {text}");
        run.signal(nix::sys::signal::Signal::SIGTERM);
        let (code, log) = run.wait_exit(PATIENCE);
        assert_eq!(code, 0, "{module} stops cleanly on SIGTERM; log:\n{log}");
    }
}
