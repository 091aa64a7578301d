// The layering rule can fail: ESLint with the project's own config (eslint.config.js, as `npm run
// check` runs it) lints small made-up sources placed in a layer's folder and must report each
// arrow that runs up, naming both folders and the declared order, and must pass those that run down.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = join(import.meta.dirname, '..', '..');
// The project's config with only this rule, and without type information (the rule needs none; the
// TypeScript project would cost most of the test's time).
const eslint = new ESLint({
  cwd: ROOT,
  ruleFilter: ({ ruleId }) => ruleId === 'layers/one-way',
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
});

/** The layer rule's messages for `code` as if it were the file at `path`. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  assert.ok(result, `eslint linted ${path}`);
  return result.messages.filter((m) => m.ruleId === 'layers/one-way').map((m) => m.message);
}

test('layers - a host module importing an activity is an error that names the rule and the order', async () => {
  const errors = await layerErrors(
    'hosts/agent/digest.ts',
    "import { createHostActivities } from '../../activities/host.ts';\nexport const f = createHostActivities;\n",
  );
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(
    errors[0] ?? '',
    /^hosts may not import activities \(\.\.\/\.\.\/activities\/host\.ts\): layers run errors → infra → protocol → hosts → activities → /,
  );
});

test('layers - a dynamic import() or a re-export that runs up is an error too', async () => {
  const errors = await layerErrors(
    'infra/config.ts',
    "export * from '../protocol/phases.ts';\nexport const load = () => import('../workers/agent/agent.ts');\n",
  );
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0] ?? '', /^infra may not import protocol /);
  assert.match(errors[1] ?? '', /^infra may not import workers /);
});

test('layers - shipped code importing test/ is an error, even a type', async () => {
  const errors = await layerErrors(
    'drills/seed.ts',
    "import type { X } from '../test/support/drills.ts';\nexport type Y = X;\n",
  );
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0] ?? '', /^drills may not import test /);
});

test('layers - a workflow imports what runs below it only as types, protocol values excepted', async () => {
  const value = await layerErrors(
    'workflows/index.ts',
    "import { createHostActivities } from '../activities/host.ts';\nexport const f = createHostActivities;\n",
  );
  assert.equal(value.length, 1, value.join('\n'));
  assert.match(value[0] ?? '', /^workflows may import activities only as types \(`import type`/);
  const typeOnly = await layerErrors(
    'workflows/index.ts',
    "import type { HostActivities } from '../activities/host.ts';\nimport { PHASES } from '../protocol/phases.ts';\nexport type H = HostActivities;\nexport const p = PHASES;\n",
  );
  assert.deepEqual(typeOnly, []);
});

test('layers - imports that run down, or stay in their layer, pass', async () => {
  const errors = await layerErrors(
    'activities/host.ts',
    "import { GuestManager } from '../hosts/agent/guests.ts';\nimport { FerryError } from '../errors/ferry-error.ts';\nimport { recordPhase } from './migration/phase-event.ts';\nexport const all = [GuestManager, FerryError, recordPhase];\n",
  );
  assert.deepEqual(errors, []);
});
