// Golden cookies, as libvirt tests its cookie XML against in/out files: each case must format to
// the committed .cookie byte for byte and parse to the committed .json. The files are the truth;
// after a deliberate change to the format, regenerate them with
//   UPDATE_GOLDEN=1 node --import tsx --test test/unit/cookie-golden.test.ts
// and review the diff.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as prettier from 'prettier';
import { formatCookie, isKnownFeature, parseCookie, type Cookie } from '../../protocol/cookie/index.ts';
import { GOLDEN_CASES, TEST_SECRET, readerOf } from '../fixtures/cookies/cases.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'cookies');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

async function writeGolden(name: string, wire: string, parsed: Cookie): Promise<void> {
  const jsonPath = join(DIR, `${name}.json`);
  // Formatted as prettier would, so `npm run check` accepts the regenerated files.
  const options = { ...(await prettier.resolveConfig(jsonPath)), filepath: jsonPath };
  writeFileSync(jsonPath, await prettier.format(JSON.stringify(parsed), options));
  writeFileSync(join(DIR, `${name}.cookie`), `${wire}\n`);
}

function decodedPayload(wire: string): Record<string, unknown> {
  const [payload = ''] = wire.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

for (const c of GOLDEN_CASES) {
  test(`cookie golden - ${c.name} formats to its .cookie and parses to its .json`, async () => {
    if (UPDATE) {
      const wire = formatCookie(c.input, TEST_SECRET, c.opts);
      await writeGolden(c.name, wire, parseCookie(wire, TEST_SECRET, readerOf(c)));
    }
    const goldenWire = readFileSync(join(DIR, `${c.name}.cookie`), 'utf8').trim();
    const goldenJson: unknown = JSON.parse(readFileSync(join(DIR, `${c.name}.json`), 'utf8'));

    assert.equal(formatCookie(c.input, TEST_SECRET, c.opts), goldenWire);
    assert.deepEqual(parseCookie(goldenWire, TEST_SECRET, readerOf(c)), goldenJson);

    // The wire carries the parsed cookie and, besides it, only the data of unknown features.
    const payload = decodedPayload(goldenWire);
    const unknown = (payload.features as string[]).filter((name) => !isKnownFeature(name));
    for (const name of unknown) delete payload[name];
    assert.deepEqual(payload, goldenJson);
  });
}

test('cookie golden - an unknown optional feature is on the wire but not in the parsed cookie', () => {
  const wire = readFileSync(join(DIR, 'perform-unknown-optional-feature.cookie'), 'utf8').trim();
  assert.deepEqual(decodedPayload(wire).graphics, { port: 5901, tls: true });
  const c = GOLDEN_CASES.find((g) => g.name === 'perform-unknown-optional-feature');
  assert.ok(c);
  const parsed = parseCookie(wire, TEST_SECRET, readerOf(c));
  assert.deepEqual(parsed.features, ['lockstate', 'graphics']);
  assert.ok(!('graphics' in parsed));
});

test('cookie golden - every golden file belongs to a case', () => {
  const names = new Set(GOLDEN_CASES.map((c) => c.name));
  const files = readdirSync(DIR).filter((f) => f.endsWith('.cookie') || f.endsWith('.json'));
  assert.equal(files.length, names.size * 2);
  for (const file of files) assert.ok(names.has(file.replace(/\.(cookie|json)$/, '')), `${file} has no case`);
});
