import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SavevmParser } from '../../hosts/savevm/parser.ts';
import { SavevmWriter } from '../../hosts/savevm/writer.ts';
import { Devices } from '../../hosts/guest-sim/devices.ts';
import { GuestMemory } from '../../hosts/guest-sim/memory.ts';
import {
  MIG_RP_MSG_SHUT,
  MIG_RP_MSG_SWITCHOVER_ACK,
  ReturnPathReader,
  be32,
  openReturnPathCommands,
  rpMessage,
} from '../../hosts/guest-sim/return-path.ts';
import { StreamWindow } from '../../hosts/guest-sim/stream-window.ts';

void test('guest-sim stream - what the source writes (with return path commands) parses with the codec', () => {
  const chunks: Buffer[] = [];
  const w = new SavevmWriter({ machine: 'pc-i440fx-7.2', blocks: [{ id: 'pc.ram', length: 8192 }] }, (c) =>
    chunks.push(Buffer.from(c)),
  );
  w.header().flush();
  chunks.push(openReturnPathCommands());
  w.ramStart()
    .ramSection()
    .page('pc.ram', 0, null)
    .page('pc.ram', 4096, Buffer.alloc(4096, 7))
    .endRamSection();
  w.ramSection(true).endRamSection();
  const devices = new Devices(3);
  for (const d of devices.save('running')) w.device(d);
  w.eof();
  const parser = new SavevmParser();
  const events = [...parser.push(Buffer.concat(chunks)), ...parser.end()];
  const commands = events.filter((e) => e.type === 'command').map((e) => e.name);
  assert.deepEqual(commands, ['open-return-path', 'ping']);
  const full = events.filter((e) => e.type === 'section-full').map((e) => e.idstr);
  assert.deepEqual(full, ['timer', 'cpu', 'serial', 'globalstate']);
  assert.equal(events.at(-1)?.type, 'vmdescription');
});

void test('guest-sim stream - device states round-trip, globalstate gives the run state back', () => {
  const a = new Devices(11);
  a.advance(12.5);
  a.print('hello');
  const b = new Devices(0);
  let runstate: string | undefined;
  for (const d of a.save('paused')) runstate = b.load(d.idstr, d.data) ?? runstate;
  assert.equal(runstate, 'paused');
  assert.deepEqual(b.guestStates(), a.guestStates());
  assert.throws(() => b.load('cpu', Buffer.alloc(3)), /expected 24/);
  assert.throws(() => b.load('vga', Buffer.alloc(3)), /Unknown savevm section/);
});

void test('guest-sim stream - return path messages split across chunks, bad ones refused', () => {
  const bytes = Buffer.concat([rpMessage(MIG_RP_MSG_SWITCHOVER_ACK), rpMessage(MIG_RP_MSG_SHUT, be32(0))]);
  const reader = new ReturnPathReader();
  const got = [...bytes].flatMap((b) => reader.push(Buffer.from([b])));
  assert.deepEqual(
    got.map((m) => [m.name, m.data.length]),
    [
      ['SWITCHOVER_ACK', 0],
      ['SHUT', 4],
    ],
  );
  assert.throws(() => new ReturnPathReader().push(rpMessage(42)), /invalid message/);
  assert.throws(
    () => new ReturnPathReader().push(rpMessage(MIG_RP_MSG_SHUT, Buffer.alloc(2))),
    /bad message length/,
  );
});

void test('guest-sim stream - the window cuts ranges across chunks and forgets dropped bytes', () => {
  const win = new StreamWindow();
  win.push(Buffer.from('abc'));
  win.push(Buffer.from('defg'));
  win.push(Buffer.from('hi'));
  assert.equal(win.slice(2, 8).toString(), 'cdefgh');
  win.dropBefore(4);
  assert.equal(win.slice(3, 9).toString(), 'defghi');
  assert.throws(() => win.slice(1, 4), RangeError);
});

void test('guest-sim stream - memory digests are equal for equal RAM and device states only', () => {
  const a = new GuestMemory(8192);
  const b = new GuestMemory(8192);
  a.store(1, 8, 1, 3);
  b.load(1, a.ram.subarray(4096, 8192), 0);
  const states = [{ name: 'cpu', data: Buffer.from([1]) }];
  assert.equal(a.digest(states).digest, b.digest(states).digest);
  assert.notEqual(a.digest(states).digest, b.digest([{ name: 'cpu', data: Buffer.from([2]) }]).digest);
  b.load(1, null, 0);
  assert.equal(b.pageOrNull(1), null, 'a zero page loaded over a written one clears it');
});
