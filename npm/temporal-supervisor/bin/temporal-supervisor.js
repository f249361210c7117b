#!/usr/bin/env node
// temporal-supervisor for npm: runs the binary of this platform's package, an optional
// dependency that npm installs only where its `os`, `cpu` and `libc` match (nothing is
// downloaded at install time). Arguments, stdin, stdout, stderr and the environment pass
// through unchanged; the signals the supervisor acts on are passed on to it, and this process
// ends as the binary did: with its exit code, or killed by the same signal.
"use strict";

const { spawn } = require("node:child_process");
const { constants } = require("node:os");

// "<process.platform>-<process.arch>": the package holding that platform's binary.
const PACKAGES = {
  "linux-x64": "@temporal-supervisor/linux-x64",
  "linux-arm64": "@temporal-supervisor/linux-arm64",
};
// What the supervisor stops on (SIGTERM, SIGINT) or passes on to its workers.
const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"];

function fail(message) {
  process.stderr.write(`temporal-supervisor: ${message}\n`);
  process.exit(1);
}

// The platform as the packages are chosen by; only asked when something is wrong.
function platform() {
  const name = `${process.platform}-${process.arch}`;
  const glibc = process.platform === "linux" && process.report.getReport().header.glibcVersionRuntime;
  return process.platform === "linux" ? `${name} (${glibc ? `glibc ${glibc}` : "not glibc"})` : name;
}

function binaryPath() {
  const pkg = PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) {
    fail(
      `no binary for ${platform()} in the npm packages, only for ${Object.keys(PACKAGES).join(", ")} ` +
        "with glibc; build one with `cargo install` (see the project's README)",
    );
  }
  try {
    return require.resolve(`${pkg}/bin/temporal-supervisor`);
  } catch {
    return fail(
      `the package ${pkg}, which holds the binary, is not installed; npm installs it with this ` +
        `one where its os, cpu and libc match (this is ${platform()}), unless optional ` +
        "dependencies are omitted",
    );
  }
}

const binary = binaryPath();
// Listening before the binary starts, so that no signal meant for it can come first (and a
// SIGUSR1 would start Node's inspector instead). Listeners run only after this script, when
// `child` is set.
let child = null;
const forward = (signal) => child.kill(signal);
for (const signal of FORWARDED) process.on(signal, forward);
child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });

child.on("error", (error) => {
  if (child.pid === undefined) fail(`cannot run ${binary}: ${error.message}`);
  process.stderr.write(`temporal-supervisor: ${error.message}\n`); // a signal not passed on
});
child.on("exit", (code, signal) => {
  if (signal === null) process.exit(code);
  for (const s of FORWARDED) process.removeListener(s, forward);
  process.kill(process.pid, signal);
  // A signal that does not end a process by default (SIGWINCH): end as a shell reports it.
  setTimeout(() => process.exit(128 + constants.signals[signal]), 100);
});
