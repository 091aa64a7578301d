// Device (QEMU_VM_SECTION_FULL) sections carry no length: their body is whatever the device's
// vmstate wrote, and only its schema (which the destination QEMU has compiled in) says where it
// ends. ferry has no schemas, so it delimits a body by its footer: QEMU_VM_SECTION_FOOTER followed
// by the section's own id, accepted only where the bytes after it also form a valid next item
// (a new device section, EOF followed by the end or a device description, a RAM PART/END, or a
// known command). The device description at the end of the stream then re-checks every size.
import {
  MIG_COMMANDS,
  QEMU_VM_COMMAND,
  QEMU_VM_EOF,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_VMDESCRIPTION,
} from './constants.ts';
import type { ParseContext, Step } from './context.ts';

type Verdict = 'footer' | 'data' | 'more';

/** Consumes a device body and its footer; returns the body's size. */
export function* deviceBody(
  ctx: ParseContext,
  sectionId: number,
  idstr: string,
  sectionAt: number,
): Step<number> {
  const q = ctx.q;
  if (ctx.footers === 'off') {
    ctx.fail(
      'SAVEVM_DEVICE_UNDELIMITED',
      sectionAt,
      `device section '${idstr}' cannot be delimited: this stream has no section footers (machine types before 2.4 turn them off)`,
    );
  }
  const bodyAt = q.offset;
  for (;;) {
    if (q.offset - bodyAt > ctx.limits.maxDeviceSectionBytes) {
      ctx.fail(
        'SAVEVM_LENGTH_OUT_OF_BOUNDS',
        sectionAt,
        `no footer for device section '${idstr}' within ${ctx.limits.maxDeviceSectionBytes} bytes`,
      );
    }
    if (!(yield* ctx.more())) {
      ctx.fail(
        'SAVEVM_TRUNCATED',
        sectionAt,
        `stream ends at byte ${q.offset} inside device section '${idstr}' (section ${sectionId}) that starts at byte ${sectionAt}: no footer found`,
      );
    }
    const at = q.indexInFirstChunk(QEMU_VM_SECTION_FOOTER);
    if (at !== 0) {
      q.skip(at < 0 ? q.firstChunkLength() : at);
      continue;
    }
    const verdict = judge(ctx, sectionId);
    if (verdict === 'more') {
      yield;
    } else if (verdict === 'data') {
      q.skip(1);
    } else {
      const size = q.offset - bodyAt;
      q.skip(5);
      return size;
    }
  }
}

/** Is the 0x7e at the head of the queue this section's footer? Looks ahead at most ~270 bytes. */
function judge(ctx: ParseContext, sectionId: number): Verdict {
  const q = ctx.q;
  const avail = q.available;
  // When the stream has ended, a lookahead that runs off its end cannot confirm a footer.
  const short: Verdict = q.ended ? 'data' : 'more';
  if (avail < 5) return short;
  if (u32At(ctx, 1) !== sectionId) return 'data';
  if (avail < 6) return q.ended ? 'footer' : 'more'; // a footer at the very end: the stream is cut after it
  const next = q.peek(5);
  switch (next) {
    case QEMU_VM_SECTION_FULL: {
      if (avail < 11) return short;
      const id = u32At(ctx, 6);
      if (id === sectionId || ctx.fullIds.has(id)) return 'data';
      const len = q.peek(10);
      if (len === 0) return 'data';
      if (avail < 11 + len + 8) return short;
      for (let i = 0; i < len; i++) {
        const c = q.peek(11 + i);
        if (c < 0x20 || c > 0x7e) return 'data';
      }
      return 'footer';
    }
    case QEMU_VM_EOF: {
      if (avail === 6) return q.ended ? 'footer' : 'more';
      if (q.peek(6) !== QEMU_VM_VMDESCRIPTION) return 'data';
      // The description's length is judged by its own parser, which gives the precise error.
      if (avail < 12) return short;
      return q.peek(11) === 0x7b ? 'footer' : 'data'; // '{'
    }
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
      if (avail < 10) return short;
      return ctx.iterables.has(u32At(ctx, 6)) ? 'footer' : 'data';
    case QEMU_VM_COMMAND: {
      if (avail < 10) return short;
      const command = MIG_COMMANDS.get((q.peek(6) << 8) | q.peek(7));
      const length = (q.peek(8) << 8) | q.peek(9);
      return command && (command.length < 0 || command.length === length) ? 'footer' : 'data';
    }
    default:
      return 'data';
  }
}

function u32At(ctx: ParseContext, i: number): number {
  const q = ctx.q;
  return ((q.peek(i) << 24) | (q.peek(i + 1) << 16) | (q.peek(i + 2) << 8) | q.peek(i + 3)) >>> 0;
}
