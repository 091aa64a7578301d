// The workflow bundle, made once per version of the workflow code and shared by every worker.
// Bundling with webpack took 6-14 s per worker start (every agent, every controller, every
// audit's replayer); now the first worker after a change to the workflows (or to what they import)
// bundles and writes `.build/workflows/<key>.js`, and the rest load that file. The key comes from
// the build manifest: a hash of the content of every module workflows/index.ts reaches and the
// SDK's version (infra/build/compiled.mjs), so a stale bundle can never be picked up.
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, type Logger as TemporalLogger } from '@temporalio/worker';
import { BUILDS, currentBuild, ROOT } from '../build/compiled.mjs';

export const WORKFLOWS_ENTRY = join(ROOT, 'workflows', 'index.ts');

/** The path of the current workflow bundle (for Worker.create's `workflowBundle`), made if missing. */
export async function workflowBundle(logger?: TemporalLogger): Promise<{ codePath: string }> {
  const { workflowKey } = await currentBuild();
  const dir = join(BUILDS, 'workflows');
  const codePath = join(dir, `${workflowKey}.js`);
  if (exists(codePath)) return { codePath };
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_ENTRY,
    ...(logger ? { logger } : {}),
  });
  mkdirSync(dir, { recursive: true });
  // Written under a name of its own and renamed, so a worker starting at the same moment reads
  // either no bundle (and makes one too) or a whole one.
  const tmp = join(dir, `tmp-${process.pid}-${Date.now()}.js`);
  try {
    writeFileSync(tmp, code);
    renameSync(tmp, codePath);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { codePath };
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
