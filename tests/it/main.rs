//! The integration tests: one test binary, one module per behaviour. Each drives the built
//! binary against real processes, real signals and real Temporal dev servers on free loopback
//! ports; where the real thing cannot run here, a stand-in of its observable behaviour is in
//! `common` and says so.

mod common;

mod bad_input;
mod blackhole;
mod bounded_files;
mod broken_log_pipe;
mod cloud_api_key;
mod commands_checked_first;
mod connection_handover;
mod drain;
mod drain_typescript;
mod endpoint;
mod environment_not_utf8;
mod example_workers;
mod exec;
mod fuzz_corpus;
mod health;
mod health_flood;
mod job_control;
mod late_namespace;
mod orphaned_worker;
mod outage;
mod pollers;
mod readiness;
mod rotation;
mod run_detection;
mod run_disconnect;
mod run_pid1;
mod run_restart;
mod run_stop;
mod sdk_workers;
mod several_workers;
mod signal_mask;
mod status_answer_bounded;
mod terminal;
mod tls;
mod unknown_options;
mod version;
mod watch;
mod watch_drain;
mod worker_versioning;
