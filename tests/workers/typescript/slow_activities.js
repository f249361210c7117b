// A TypeScript SDK worker whose activities take a while, for what a stop does to work in flight
// (tests/it/drain_typescript.rs). Official TypeScript SDK, at its defaults: its Runtime handles
// SIGTERM and SIGINT itself, and the worker's shutdownGraceTime is 0, so a stop signal cancels
// the activities in flight (their attempts fail and are retried elsewhere).
//
//   node slow_activities.js TASK_QUEUE EXECUTIONS_FILE SECONDS
//
// It runs the example worker's workflow, ProcessDocument (from its bundle, see
// examples/workers/typescript/bundle.js), with an extractText activity of its own that sleeps
// SECONDS, cancellably as a well-written activity does (Context.sleep throws when the activity
// is cancelled), and appends a line to EXECUTIONS_FILE when it starts and when it returns, as
// tests/workers/slow_activities.py does:
//
//     start WORKFLOW_ID ATTEMPT PID
//     done WORKFLOW_ID ATTEMPT PID
//
// so an activity executed twice shows as two `start` lines, and one cancelled as a `start` with
// no `done`. The SDK and the bundle come from the example's node_modules (scripts/setup.sh). The
// connection comes from Temporal's environment configuration (TEMPORAL_ADDRESS, ...).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const EXAMPLE = path.join(__dirname, '..', '..', '..', 'examples', 'workers', 'typescript');
const sdk = createRequire(path.join(EXAMPLE, 'worker.js'));
const { Context } = sdk('@temporalio/activity');
const { loadClientConnectConfig } = sdk('@temporalio/envconfig');
const { DefaultLogger, NativeConnection, Runtime, Worker } = sdk('@temporalio/worker');
const { workflowBundleOption } = require(path.join(EXAMPLE, 'bundle'));

const [taskQueue, executions, seconds] = process.argv.slice(2);
if (!taskQueue || !executions || seconds === undefined) {
  console.error('usage: node slow_activities.js TASK_QUEUE EXECUTIONS_FILE SECONDS');
  process.exit(2);
}

function record(what) {
  const { info } = Context.current();
  const line = `${what} ${info.workflowExecution.workflowId} ${info.attempt} ${process.pid}\n`;
  fs.appendFileSync(executions, line);
}

const activities = {
  async extractText(document) {
    record('start');
    await Context.current().sleep(Number(seconds) * 1000);
    record('done');
    return `text of ${document}`;
  },
};

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const config = loadClientConnectConfig();
  const connection = await NativeConnection.connect(config.connectionOptions);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.namespace ?? 'default',
      taskQueue,
      ...workflowBundleOption(),
      activities,
    });
    const running = worker.run();
    console.log(`${taskQueue} worker ${process.pid} polling`);
    await running;
  } finally {
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
