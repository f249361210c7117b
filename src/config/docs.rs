//! docs/configuration.md, rendered from the settings table: a test fails when the committed
//! file differs from what the table gives (`TS_WRITE_DOCS=1 cargo test --lib` writes it).

use crate::config::table::{ALL, Section};

/// The reference, as Markdown.
pub fn configuration() -> String {
    let mut out = String::from(HEAD);
    let mut sections: Vec<_> = ALL.iter().map(|d| d.section).collect();
    sections.dedup();
    for section in sections.into_iter().filter(|s| *s != Section::WORKER) {
        out.push_str(&format!("\n## {}\n\n", section.0));
        out.push_str("| flag | environment | file key | default | takes | meaning |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for def in ALL.iter().filter(|d| d.section == section) {
            let key = match (def.in_file, def.worker_key) {
                (false, _) => "-".to_string(),
                (true, Some(w)) if w != def.key => format!("`{}` (worker: `{w}`)", def.key),
                (true, Some(_)) => format!("`{}` (also per worker)", def.key),
                (true, None) => format!("`{}`", def.key),
            };
            out.push_str(&format!(
                "| `{}` | `{}` | {key} | {} | {} | {}{} |\n",
                def.flag(),
                def.env,
                def.shown_default(),
                def.takes(),
                def.help,
                if def.secret {
                    " (a secret: never shown)"
                } else {
                    ""
                }
            ));
        }
    }
    out.push_str(WORKERS);
    for (key, takes, meaning) in WORKER_KEYS {
        out.push_str(&format!("| `{key}` | - | {takes} | {meaning} |\n"));
    }
    for def in ALL.iter().filter(|d| d.section == Section::WORKER) {
        let (key, default, takes) = (def.key, def.shown_default(), def.takes());
        out.push_str(&format!(
            "| `{key}` | {default} | {takes} | {} |\n",
            def.help
        ));
    }
    out
}

const HEAD: &str = "# Configuration

<!-- Generated from src/config/table.rs by src/config/docs.rs; a test keeps it so. -->

Every setting is a flag, an environment variable and (but `--config`) a key of our TOML file;
the first source that has it wins: flag > environment variable > our file (`--config FILE` or
`TEMPORAL_SUPERVISOR_CONFIG`; for a worker's settings, its `[workers.NAME]` table before the
top level) > Temporal's profile file (connection settings only) > default. Empty environment
variables count as unset. Options may be given before or after the command.
`temporal-supervisor config` prints every value with where it came from, secrets redacted.
An annotated file with every key: [`config/temporal-supervisor.toml`](../config/temporal-supervisor.toml).

Connection settings use Temporal's own names and its environment configuration: the profile
file is `TEMPORAL_CONFIG_FILE`, else `~/.config/temporalio/temporal.toml`, read by the Temporal
Rust client's envconfig loader, with the profile from `--profile` / `TEMPORAL_PROFILE`;
`TEMPORAL_GRPC_META_*` variables add gRPC headers. TLS turns on with `--tls`, any TLS path, an
`https://` address, or an API key; `--tls=false` turns it off. An API key over plain text is
warned about in the log.

Durations accept `500ms`, `2s`, `1m30s`, `1h`, or bare seconds such as `1.5`. The n-th delay
of a backoff is `min(max_delay, initial_delay × backoff_factor^(n-1))`, shortened by a random
fraction of at most `jitter`: with the defaults 1, 2, 4, 8, 16, 32, 60, 60, 60 s between ten
attempts, about four minutes in all; jitter only shortens, so `max_delay` is a true bound.
A worker's restarts back off the same way from `restart_delay` to `restart_max_delay`.
";

/// The keys of a `[workers.NAME]` table that are neither settings nor in the table (the
/// table's [`Section::WORKER`] keys follow them), and what they mean.
const WORKER_KEYS: &[(&str, &str, &str)] = &[
    (
        "command",
        "a list, such as [\"python\", \"worker.py\"]",
        "The program and its arguments (required)",
    ),
    (
        "env",
        "a table of strings",
        "Variables added to its environment",
    ),
];

const WORKERS: &str = "
## A worker's own keys

In a `[workers.NAME]` table (`NAME`: letters, digits, `-` and `_`), besides the settings marked
\"per worker\" above:

| key | default | takes | meaning |
|---|---|---|---|
";

#[cfg(test)]
mod tests {
    /// The keys the reference lists by hand are keys of a worker's table.
    #[test]
    fn the_reference_lists_keys_a_workers_table_takes() {
        for (key, _, _) in super::WORKER_KEYS {
            let value = if *key == "env" { "{}" } else { "[\"x\"]" };
            let file = format!("[workers.a]\n{key} = {value}\n");
            assert!(crate::config::file::parse(&file).is_ok(), "{key}");
        }
        let unknown = crate::config::file::parse("[workers.a]\nunknown_key = 1\n");
        assert!(
            unknown
                .unwrap_err()
                .contains("key workers.a.unknown_key: unknown key")
        );
    }

    #[test]
    fn the_committed_reference_is_what_the_table_gives() {
        let rendered = super::configuration();
        if std::env::var_os("TS_WRITE_DOCS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
            std::fs::write(path, &rendered).unwrap();
            return;
        }
        // The file as it was when the tests were built.
        let committed = include_str!("../../docs/configuration.md");
        assert!(
            committed == rendered,
            "docs/configuration.md differs from the settings table: run \
             TS_WRITE_DOCS=1 cargo test --lib config::docs"
        );
    }
}
