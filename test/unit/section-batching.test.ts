// A tunnel's savevm sections become events in batches (hosts/agent/section-batcher.ts): counted,
// bounded in number whatever a peer sends, and never starving the agent's heartbeat.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FOLDED_IDSTR,
  SECTION_BATCH_KEYS,
  SECTION_BATCH_MAX,
  SECTION_BATCH_MS,
  SectionBatcher,
  type SectionData,
} from '../../hosts/agent/section-batcher.ts';
import { tunnelEventRecorder } from '../../hosts/agent/tunnel-events.ts';
import { Outbox } from '../../hosts/outbox/outbox.ts';
import { TunnelTap } from '../../hosts/tunnel/tap.ts';
import type { InspectSummary } from '../../hosts/savevm/summary.ts';
import type { FerryEvent } from '../../protocol/events.ts';
import { written } from './savevm-helpers.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const part = (offset: number, idstr = 'ram', kind: SectionData['kind'] = 'part'): SectionData => ({
  side: 'source',
  kind,
  idstr,
  offset,
  bytes: 18,
  normalPages: 1,
  zeroPages: 2,
});

test('section batching - sections of a kind and device are counted into one event with their sums, the EOF last', () => {
  const out: SectionData[] = [];
  const b = new SectionBatcher((d) => out.push(d));
  for (let i = 0; i < 2500; i++) b.add(part(100 + i * 18));
  b.add(part(50_000, 'timer', 'full'));
  b.add({ ...part(60_000, '', 'eof'), bytes: 1, normalPages: 0, zeroPages: 0 });
  assert.deepEqual(
    out.map((d) => [d.kind, d.idstr, d.count, d.offset]),
    [
      ['part', 'ram', SECTION_BATCH_MAX, 100],
      ['part', 'ram', SECTION_BATCH_MAX, 100 + SECTION_BATCH_MAX * 18],
      ['part', 'ram', 500, 100 + 2 * SECTION_BATCH_MAX * 18],
      ['full', 'timer', 1, 50_000],
      ['eof', '', 1, 60_000],
    ],
  );
  const ram = out.filter((d) => d.idstr === 'ram');
  assert.equal(
    ram.reduce((s, d) => s + d.bytes, 0),
    2500 * 18,
  );
  assert.equal(
    ram.reduce((s, d) => s + d.normalPages + d.zeroPages, 0),
    2500 * 3,
  );
});

test('section batching - a peer inventing a device name per section gets the surplus counted under one name', () => {
  const out: SectionData[] = [];
  const b = new SectionBatcher((d) => out.push(d));
  for (let i = 0; i < 10_000; i++) b.add(part(i * 18, `dev-${i}`, 'full'));
  b.flush();
  assert.equal(out.length, SECTION_BATCH_KEYS + Math.ceil((10_000 - SECTION_BATCH_KEYS) / SECTION_BATCH_MAX));
  assert.equal(
    out.reduce((s, d) => s + (d.count ?? 1), 0),
    10_000,
  );
  const named = out.filter((d) => d.idstr !== FOLDED_IDSTR);
  assert.deepEqual(
    named.map((d) => d.count),
    Array<number>(SECTION_BATCH_KEYS).fill(1),
    'the first names keep their own events',
  );
});

test('section batching - a lone section is written within the batch interval, not held until the stream ends', async () => {
  const out: SectionData[] = [];
  const b = new SectionBatcher((d) => out.push(d));
  b.add(part(0));
  assert.equal(out.length, 0);
  const deadline = Date.now() + SECTION_BATCH_MS + 2000;
  while (out.length === 0 && Date.now() < deadline) await sleep(10);
  assert.deepEqual(
    out.map((d) => d.count),
    [1],
  );
});

/** A stream of `n` empty RAM PART sections (18 bytes each): the cheapest section a peer can send. */
function tinySections(n: number): Buffer {
  return written({ machine: 'pc-i440fx-7.2', blocks: [{ id: 'pc.ram', length: 16 * 4096 }] }, (w) => {
    w.header().ramStart();
    for (let i = 0; i < n; i++) w.ramSection().endRamSection();
    w.ramSection(true).endRamSection();
    w.device({ idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24, 1) });
    w.eof();
  });
}

test('section batching - a stream of 300000 tiny sections through a tunnel tap: the heartbeat keeps its cadence and the log gets few events', async (t) => {
  const SECTIONS = 300_000;
  const BEAT_MS = 50;
  const dir = mkdtempSync(join(tmpdir(), 'fb-'));
  dirs.push(dir);
  const outbox = new Outbox(dir, 'host-a');
  const record = tunnelEventRecorder(outbox);
  const stream = tinySections(SECTIONS);

  // The agent's heartbeat stands for every timer of its event loop: how late does it run?
  let last = Date.now();
  let worst = 0;
  const beat = setInterval(() => {
    const now = Date.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, BEAT_MS);

  // As in the tunnel: the stream arrives on a socket, in the chunks the kernel hands over.
  const socket = join(dir, 's.sock');
  const server = createServer((peer) => {
    const tap = new TunnelTap((e) =>
      record({ type: 'savevm', migrationId: 'm-1', vm: 'vm-1', side: 'source', event: e }),
    );
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    void pipeline(peer, tap, sink).then(() => {
      record({
        type: 'tunnel-closed',
        migrationId: 'm-1',
        vm: 'vm-1',
        side: 'source',
        bytes: { toDestination: tap.passed, toSource: 0 },
        summary: {} as InspectSummary, // not part of the event written
      });
      server.close();
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const c = createConnection(socket, () => c.end(stream));
    c.on('error', reject);
    server.on('close', resolve);
  });
  const took = Date.now() - started;
  clearInterval(beat);
  outbox.close();

  const events = readFileSync(join(dir, 'outbox.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FerryEvent);
  const sections = events.filter((e) => e.type === 'savevm.section');
  const counted = sections.reduce((s, e) => s + (e.type === 'savevm.section' ? (e.data.count ?? 1) : 0), 0);
  // Every section counted once: the START, the PARTs, the END, the device, the EOF.
  assert.equal(counted, SECTIONS + 4);
  // At most one event per SECTION_BATCH_MAX sections of a kind, plus one per kind per interval.
  const bound = Math.ceil(SECTIONS / SECTION_BATCH_MAX) + 5 * (Math.ceil(took / SECTION_BATCH_MS) + 1);
  assert.ok(
    sections.length <= bound,
    `${sections.length} section events for ${SECTIONS} sections (at most ${bound})`,
  );
  assert.equal(events.at(-1)?.type, 'tunnel.closed', 'the tunnel end is written after every section');
  t.diagnostic(`${sections.length} section events; the heartbeat's longest gap ${worst} ms; ${took} ms`);
  assert.ok(
    worst < 10 * BEAT_MS,
    `a ${BEAT_MS} ms heartbeat waited ${worst} ms at worst (stream took ${took} ms)`,
  );
});
