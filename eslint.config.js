// Lint: type-aware rules everywhere (no floating promises); one-way layers (LAYERS below, enforced by
// lint/layers.js); and in workflows/ a ban on Node built-ins and I/O clients, because workflow code
// must replay deterministically in Temporal's sandbox.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './lint/layers.js';

/**
 * ferry's layers, from the ground up. A file may import from its own layer and from those below
 * it, never from one above (lint/layers.js enforces it, naming this order in its message). Why this
 * order: errors and infra (stores, services, processes, logging, config) know nothing of migration;
 * protocol is the migration protocol's vocabulary and decisions (phases, cookie, event schema);
 * hosts run guests and carry the stream; activities are the protocol's steps on a host; workflows
 * orchestrate activities (only their types, and protocol's pure vocabulary, may enter the workflow
 * bundle); workers wire activities and the bundle into Temporal workers and processes; events reads
 * the log back (projection, audit, replay); cli, drills, bench and lab (the harness they and the
 * tests share) sit on top; and nothing shipped imports test/.
 */
export const LAYERS = [
  { name: 'errors', folders: ['errors'] },
  { name: 'infra', folders: ['infra'] },
  { name: 'protocol', folders: ['protocol'] },
  { name: 'hosts', folders: ['hosts'] },
  { name: 'activities', folders: ['activities'] },
  { name: 'workflows', folders: ['workflows'], typesOnlyBelow: true, valuesFrom: ['protocol'] },
  { name: 'workers', folders: ['workers'] },
  { name: 'events', folders: ['events'] },
  { name: 'apps', folders: ['cli', 'drills', 'bench', 'lab'] },
  { name: 'tests', folders: ['test'] },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            'eslint.config.js',
            'lint/layers.js',
            'cli/bin.mjs',
            'infra/build/compiled.mjs',
          ],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { layers },
    rules: {
      'layers/one-way': ['error', { root: import.meta.dirname, layers: LAYERS }],
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    // What workflow code may import from ferry's own layers (types only, protocol's values) is the
    // layer rule's; this bans what no layer provides: Node's built-ins and the I/O clients.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*'],
              message: 'Workflow code must not use Node built-ins (no I/O in workflows).',
            },
            {
              group: [
                'kafkajs',
                'ioredis',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              message: 'Workflow code must not do I/O; call an activity instead.',
            },
          ],
        },
      ],
    },
  },
);
