// The drill tests' common body: each named drill of the catalog run once against the real stack, on
// an address slot of its own, and its verdict (the invariants, the outcome, the audit of its
// window) checked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog, findDrill } from '../../drills/catalog.ts';
import { runDrill, type DrillSettings } from '../../drills/run.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { realStack } from '../../lab/stack.ts';

export interface DrillCase {
  name: string;
  /** Where the protocol decides the outcome alone; elsewhere the drill's own expectation holds. */
  outcome?: string;
  /** Its address slot: slots 24 and up (127.0.1.49 on) stay apart from a matrix run's first drills. */
  slot: number;
  /** Settings of this drill's own, over the matrix's defaults (drills/run.ts). */
  settings?: Partial<DrillSettings>;
}

export function drillTests(cases: DrillCase[]): void {
  const catalog = buildCatalog();
  const log = createLogger('drill-test', 'error');
  for (const { name, outcome, slot, settings } of cases) {
    test(`drills - ${name} ends ${outcome ?? 'as expected'} and the cluster settles clean`, async () => {
      const cfg = await realStack();
      const drill = findDrill(catalog, name);
      assert.ok(drill, `${name} is in the catalog`);
      const r = await runDrill(cfg, log, drill, { slot, ...(settings ? { settings } : {}) });
      assert.equal(r.why, undefined, `${name}: ${r.why}`);
      assert.equal(r.passed, true);
      if (outcome) assert.equal(r.outcome, outcome, `${name} ended ${r.outcome}`);
    });
  }
}
