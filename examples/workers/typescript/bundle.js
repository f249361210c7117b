// The worker's workflow code, bundled once ahead of time (scripts/setup.sh runs `node bundle.js`).
//
// Without a bundle, Worker.create runs webpack over workflows.js at every start, which costs
// seconds; with one, the worker loads a ready file. The bundle lives in node_modules/.cache (so
// it is git-ignored and goes away with node_modules) beside a key: the SHA-256 of workflows.js
// and package-lock.json. A worker whose key does not match (workflows.js edited, SDK changed,
// bundle missing) does not trust the file and bundles at start instead, so it never runs stale
// workflow code.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const WORKFLOWS = path.join(__dirname, 'workflows.js');
const DIR = path.join(__dirname, 'node_modules', '.cache', 'temporal-supervisor');
const CODE = path.join(DIR, 'workflow-bundle.js');
const KEY = path.join(DIR, 'workflow-bundle.key');

function sourceKey() {
  const hash = crypto.createHash('sha256');
  for (const file of [WORKFLOWS, path.join(__dirname, 'package-lock.json')]) {
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

function bundleIsCurrent() {
  try {
    return fs.readFileSync(KEY, 'utf8') === sourceKey() && fs.statSync(CODE).isFile();
  } catch {
    return false;
  }
}

// The Worker.create option that loads the workflow code: the bundle when it is current, else
// the source (bundled in memory at start).
function workflowBundleOption() {
  if (bundleIsCurrent()) {
    return { workflowBundle: { codePath: CODE } };
  }
  console.error(`no current workflow bundle (run: node ${path.relative(process.cwd(), __filename)}); bundling at start`);
  return { workflowsPath: WORKFLOWS };
}

async function writeBundle() {
  if (bundleIsCurrent()) {
    return false;
  }
  const { bundleWorkflowCode, DefaultLogger } = require('@temporalio/worker');
  const key = sourceKey();
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: new DefaultLogger('WARN') });
  fs.mkdirSync(DIR, { recursive: true });
  // Write then rename, so a worker starting meanwhile never reads half a file; the key last.
  for (const [file, data] of [[CODE, code], [KEY, key]]) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  }
  return true;
}

module.exports = { workflowBundleOption };

if (require.main === module) {
  writeBundle().then(
    (wrote) => {
      if (wrote) console.log(`wrote ${path.relative(process.cwd(), CODE)}`);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
