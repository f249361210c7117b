// Document-processing worker on the official Temporal TypeScript SDK (plain CommonJS, no build
// step), the same shape as ../document_processing.py: workflow ProcessDocument, one activity.
//
//   node worker.js [TASK_QUEUE]        task queue from argv, else $TASK_QUEUE, else documents-ts
//
// The connection comes from Temporal's own environment configuration (@temporalio/envconfig):
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_*,
// TEMPORAL_GRPC_META_*, TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE. With TEMPORAL_DEPLOYMENT_NAME
// and TEMPORAL_WORKER_BUILD_ID (set by Temporal's Kubernetes worker controller) it polls as
// that worker-deployment version. The identity stays the SDK default, `<pid>@<hostname>`,
// which is what temporal-supervisor looks for in DescribeTaskQueue. The SDK's Runtime stops
// the worker gracefully on SIGTERM and SIGINT; the process then exits 0. None of this waits
// for Temporal: temporal-supervisor does.
'use strict';

// Until the worker runs, SIGTERM or SIGINT ends the process at once, exit code 0: there is
// nothing to drain yet, and the SDK would not stop a connection attempt. Loading the SDK alone
// takes most of a second, so this covers a stop that comes early. Once the worker runs, these
// handlers go and the SDK's Runtime handles the signals (graceful shutdown).
function stopEarly() {
  process.exit(0);
}
process.on('SIGTERM', stopEarly);
process.on('SIGINT', stopEarly);

const { DefaultLogger, NativeConnection, Runtime, Worker } = require('@temporalio/worker');
const { loadClientConnectConfig } = require('@temporalio/envconfig');
const { workflowBundleOption } = require('./bundle');

const activities = {
  async extractText(document) {
    return `text of ${document}`;
  },
};

function deploymentOptions() {
  const deploymentName = process.env.TEMPORAL_DEPLOYMENT_NAME;
  const buildId = process.env.TEMPORAL_WORKER_BUILD_ID;
  if (!deploymentName || !buildId) {
    return {};
  }
  return {
    workerDeploymentOptions: {
      version: { deploymentName, buildId },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    },
  };
}

async function main() {
  // The SDK's own log lines (worker state changes) at WARN and above only, like the Python
  // examples; stderr.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const taskQueue = process.argv[2] || process.env.TASK_QUEUE || 'documents-ts';
  const config = loadClientConnectConfig();
  const connection = await NativeConnection.connect(config.connectionOptions);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.namespace ?? 'default',
      taskQueue,
      ...workflowBundleOption(),
      activities,
      ...deploymentOptions(),
    });
    const running = worker.run();
    process.off('SIGTERM', stopEarly);
    process.off('SIGINT', stopEarly);
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
