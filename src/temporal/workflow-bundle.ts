// The task workflows prebuilt as one bundle, which `npm run build` writes next to the compiled code
// (`node dist/src/temporal/workflow-bundle.js`). A worker given the bundle does not run webpack when
// it starts: bundling there left ~22 MB on the process's heap for good (measured after a full GC:
// 80.6 → 58.4 MB), heap that every full collection marks again on the thread that answers the
// gateways. Run from the TypeScript sources (the tests), there is no bundle and the worker bundles
// at start, as before.
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkerOptions } from '@temporalio/worker';

const WORKFLOWS = require.resolve('../../workflows');

/** Where the build puts the bundle: `dist/workflow-bundle.js`. */
export const WORKFLOW_BUNDLE = path.resolve(__dirname, '../../workflow-bundle.js');

/** The worker's workflow code: the prebuilt bundle when asked for and there is one, else the workflows to bundle. */
export function workflowCode({ prebuilt = true, bundle = WORKFLOW_BUNDLE } = {}): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  return prebuilt && fs.existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS };
}

/** Bundles the workflows into `to`; returns its size in bytes. */
export async function writeWorkflowBundle(to = WORKFLOW_BUNDLE): Promise<number> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: new DefaultLogger('WARN') });
  fs.writeFileSync(to, code);
  return Buffer.byteLength(code);
}

if (require.main === module) {
  writeWorkflowBundle().then(
    (bytes) => console.log(`workflow bundle: ${path.relative(process.cwd(), WORKFLOW_BUNDLE)} (${(bytes / 1024 / 1024).toFixed(2)} MiB)`),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
