// Workflow code of the TypeScript-SDK worker. It runs inside the SDK's deterministic sandbox,
// so it may require only '@temporalio/workflow' (and other workflow-safe modules).
'use strict';

const { proxyActivities } = require('@temporalio/workflow');

const { extractText } = proxyActivities({ startToCloseTimeout: '30 seconds' });

// The workflow type is the exported function's name: ProcessDocument.
async function ProcessDocument(document) {
  const text = await extractText(document);
  return `${document}: ${text.length} characters`;
}

module.exports = { ProcessDocument };
