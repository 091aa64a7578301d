// The savevm sections a tunnel parses, turned into events in batches. A stream's sections come at
// the pace its sender chooses: a few a second from QEMU, but a peer can send millions of tiny ones,
// and one event each (validated, serialized, written, shipped to Kafka) would keep the agent's
// event loop busy enough to starve its heartbeats, and flood the log. So consecutive sections of a
// kind and device are counted into one event (`count`, with their bytes and pages summed, at the
// first one's offset), emitted when it holds SECTION_BATCH_MAX sections or SECTION_BATCH_MS after
// its first, whichever comes first; the EOF, and anything else the tunnel reports, first emits
// what is pending, so the log still reads in stream order at its ends.
import type { EventInput } from '../../protocol/events.ts';

export type SectionData = Extract<EventInput, { type: 'savevm.section' }>['data'];

/** Sections one event holds at most. */
export const SECTION_BATCH_MAX = 1000;
/** How long the first section of a batch waits for its event at most. */
export const SECTION_BATCH_MS = 250;
/**
 * Kinds-and-devices counted apart at once. QEMU 7.2's pc machine sends a few dozen devices; a peer
 * that invents a new name per section gets its surplus counted together under the name '*', so
 * the events an interval can make stay bounded whatever it sends.
 */
export const SECTION_BATCH_KEYS = 64;
export const FOLDED_IDSTR = '*';

export class SectionBatcher {
  private readonly open = new Map<string, SectionData>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly emit: (data: SectionData) => void) {}

  add(section: SectionData): void {
    if (section.kind === 'eof') {
      this.flush();
      this.emit({ ...section, count: 1 });
      return;
    }
    let key = `${section.kind}\0${section.idstr}`;
    if (!this.open.has(key) && this.open.size >= SECTION_BATCH_KEYS) {
      key = `${section.kind}\0${FOLDED_IDSTR}`;
      section = { ...section, idstr: FOLDED_IDSTR };
    }
    const batch = this.open.get(key);
    if (!batch) {
      this.open.set(key, { ...section, count: 1 });
      this.timer ??= setTimeout(() => this.flush(), SECTION_BATCH_MS).unref();
      return;
    }
    batch.bytes += section.bytes;
    batch.normalPages += section.normalPages;
    batch.zeroPages += section.zeroPages;
    batch.count = (batch.count ?? 1) + 1;
    if (batch.count >= SECTION_BATCH_MAX) {
      this.open.delete(key);
      this.emit(batch);
    }
  }

  /** Emits every pending batch, in stream order (by the offset of its first section). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = [...this.open.values()].sort((a, b) => a.offset - b.offset);
    this.open.clear();
    for (const batch of pending) this.emit(batch);
  }
}
