// Each host numbers its events without gaps (seq): the reader's index of what it has read, per
// host by seq. It drops the copies an at-least-once outbox ships twice (the same id at the same
// host and seq) and finds the holes in a host's seqs, events that never reached the log.
//
// Memory: an audit reads millions of events, so an id is not kept as a string in a Map entry
// (about 100 bytes each, and a Map of a million entries to rehash as it grows) but as its 16
// bytes in a chunk of seqs. Ids that are not lower-case canonical UUIDs (no writer of ours makes
// them, but the schema accepts upper case) and seqs a host reused (a wiped outbox) are kept
// exactly, as strings, beside the chunks.
import type { FerryEvent } from '../protocol/events.ts';
import type { SeqRef } from './refs.ts';

export interface SeqGap {
  host: string;
  /** The events on either side of the hole. */
  after: SeqRef;
  before: SeqRef;
  missing: number;
}

/** Seqs per chunk: a host's events arrive roughly in seq order, so chunks fill up. */
const CHUNK = 1024;
const ID_BYTES = 16;
/** What a chunk knows of a seq. */
const ABSENT = 0;
const PACKED = 1;
const AS_STRINGS = 2;

interface Chunk {
  state: Uint8Array;
  ids: Uint8Array;
}

interface HostSeqs {
  /** By seq / CHUNK. */
  chunks: Map<number, Chunk>;
  /** The seqs whose state is AS_STRINGS: their id, or ids if the seq was reused. */
  strings: Map<number, string[]>;
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
}
const DIGITS = '0123456789abcdef';
/** Where a canonical UUID has its dashes: 8-4-4-4-12. */
const DASHES = [8, 13, 18, 23];

/** Packs a lower-case canonical UUID into `out` at `at`; false (out unspecified) if it is not one. */
function pack(id: string, out: Uint8Array, at: number): boolean {
  if (id.length !== 36) return false;
  let byte = 0;
  for (let i = 0; i < 36;) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 45) return false;
      i++;
      continue;
    }
    const hi = HEX[id.charCodeAt(i)] ?? -1;
    const lo = HEX[id.charCodeAt(i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return false;
    out[at + byte++] = (hi << 4) | lo;
    i += 2;
  }
  return true;
}

function unpack(ids: Uint8Array, at: number): string {
  let s = '';
  for (let b = 0; b < ID_BYTES; b++) {
    if (DASHES.includes(s.length)) s += '-';
    const v = ids[at + b]!;
    s += DIGITS[v >> 4]! + DIGITS[v & 15]!;
  }
  return s;
}

const scratch = new Uint8Array(ID_BYTES);

export class SeqIndex {
  private readonly hosts = new Map<string, HostSeqs>();

  /** True if the event is new; false if this very event (same id) was read before. */
  add(e: FerryEvent): boolean {
    let host = this.hosts.get(e.host);
    if (!host) this.hosts.set(e.host, (host = { chunks: new Map(), strings: new Map() }));
    const n = Math.floor(e.seq / CHUNK);
    let chunk = host.chunks.get(n);
    if (!chunk) {
      chunk = { state: new Uint8Array(CHUNK), ids: new Uint8Array(CHUNK * ID_BYTES) };
      host.chunks.set(n, chunk);
    }
    const slot = e.seq - n * CHUNK;
    const at = slot * ID_BYTES;
    const state = chunk.state[slot];
    if (state === ABSENT) {
      if (pack(e.id, chunk.ids, at)) chunk.state[slot] = PACKED;
      else {
        chunk.state[slot] = AS_STRINGS;
        host.strings.set(e.seq, [e.id]);
      }
      return true;
    }
    if (state === PACKED) {
      if (pack(e.id, scratch, 0) && sameBytes(chunk.ids, at, scratch)) return false;
      chunk.state[slot] = AS_STRINGS;
      host.strings.set(e.seq, [unpack(chunk.ids, at), e.id]);
      return true;
    }
    const ids = host.strings.get(e.seq)!;
    if (ids.includes(e.id)) return false;
    ids.push(e.id);
    return true;
  }

  /** Each host's lowest seq read, by host name. */
  firsts(): SeqRef[] {
    const firsts: SeqRef[] = [];
    for (const [name, host] of [...this.hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const n = Math.min(...host.chunks.keys());
      const chunk = host.chunks.get(n)!;
      const slot = chunk.state.findIndex((s) => s !== ABSENT);
      const seq = n * CHUNK + slot;
      const id =
        chunk.state[slot] === PACKED ? unpack(chunk.ids, slot * ID_BYTES) : host.strings.get(seq)![0]!;
      firsts.push({ host: name, seq, id });
    }
    return firsts;
  }

  /** Holes between the first and the last seq read of each host. */
  gaps(): SeqGap[] {
    const gaps: SeqGap[] = [];
    for (const [name, host] of [...this.hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const ref = (seq: number): SeqRef => {
        const n = Math.floor(seq / CHUNK);
        const chunk = host.chunks.get(n)!;
        const slot = seq - n * CHUNK;
        const id =
          chunk.state[slot] === PACKED ? unpack(chunk.ids, slot * ID_BYTES) : host.strings.get(seq)![0]!;
        return { host: name, seq, id };
      };
      let last = -1;
      for (const n of [...host.chunks.keys()].sort((a, b) => a - b)) {
        const state = host.chunks.get(n)!.state;
        for (let slot = 0; slot < CHUNK; slot++) {
          if (state[slot] === ABSENT) continue;
          const seq = n * CHUNK + slot;
          if (last >= 0 && seq > last + 1) {
            gaps.push({ host: name, after: ref(last), before: ref(seq), missing: seq - last - 1 });
          }
          last = seq;
        }
      }
    }
    return gaps;
  }
}

function sameBytes(ids: Uint8Array, at: number, other: Uint8Array): boolean {
  for (let b = 0; b < ID_BYTES; b++) if (ids[at + b] !== other[b]) return false;
  return true;
}
