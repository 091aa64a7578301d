// A bench's name=value arguments: defaults, coercion, and one line naming the bench for an unknown
// name or a bad value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { parseBenchOptions } from '../../bench/options.ts';

const Schema = z.object({
  guests: z.coerce.number().int().min(1).default(50),
  only: z.string().min(1).optional(),
});

test('bench options - name=value pairs are coerced, the rest defaulted', () => {
  assert.deepEqual(parseBenchOptions('drain', Schema, ['guests=7', 'only=a=b']), { guests: 7, only: 'a=b' });
  assert.deepEqual(parseBenchOptions('drain', Schema, []), { guests: 50 });
});

test('bench options - an unknown name or a bad value is one line naming the bench', () => {
  assert.throws(() => parseBenchOptions('drain', Schema, ['hosts=3']), {
    message: 'drain: expected guests=…, only=…; got hosts=3',
  });
  assert.throws(() => parseBenchOptions('drain', Schema, ['guests']), /^Error: drain: expected/);
  assert.throws(() => parseBenchOptions('drain', Schema, ['guests=0']), /^Error: drain: guests: Too small/);
});
