// The body of the "ram" iterable section: records of a 64-bit page address whose low bits carry
// RAM_SAVE_FLAG_*, ending with RAM_SAVE_FLAG_EOS (migration/ram.c, ram_load_precopy).
import {
  PAGE_MASK_BITS,
  PAGE_SIZE,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
  UNSUPPORTED_RAM_FLAGS,
} from './constants.ts';
import { hex, toSafeNumber } from './context.ts';
import type { ParseContext, Step } from './context.ts';
import type { RamBlock, RamProgress, RamSectionKind } from './events.ts';

const KNOWN_FLAGS =
  RAM_SAVE_FLAG_ZERO |
  RAM_SAVE_FLAG_MEM_SIZE |
  RAM_SAVE_FLAG_PAGE |
  RAM_SAVE_FLAG_EOS |
  RAM_SAVE_FLAG_CONTINUE;

export interface RamSectionBody {
  ram: RamProgress;
  blocks: RamBlock[] | null;
}

/**
 * Reads RAM records up to and including RAM_SAVE_FLAG_EOS. `section` says which of the section's
 * parts this is: an `end` is the final pass, sent after the source stopped, so its pages are the
 * last copy the destination gets.
 */
export function* ramBody(
  ctx: ParseContext,
  idstr: string,
  sectionAt: number,
  section: RamSectionKind,
): Step<RamSectionBody> {
  const q = ctx.q;
  const ram: RamProgress = { normalPages: 0, zeroPages: 0, pageBytes: 0 };
  ctx.current = { offset: sectionAt, idstr, section, ram };
  let blocks: RamBlock[] | null = null;
  for (;;) {
    const at = q.offset;
    if (q.available < 8) yield* ctx.need(8, `a RAM record of section '${idstr}'`, at);
    const hi = q.u32();
    const lo = q.u32();
    const flags = lo & PAGE_MASK_BITS;
    const address = toSafeNumber(hi, lo - flags);
    const kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
    if (kind === RAM_SAVE_FLAG_PAGE || kind === RAM_SAVE_FLAG_ZERO) {
      const block = yield* pageBlock(ctx, flags, at);
      if (address < 0 || address + PAGE_SIZE > block.length) {
        ctx.fail(
          'SAVEVM_PAGE_OUT_OF_RANGE',
          at,
          `page at ${hex(address < 0 ? hi * 2 ** 32 : address)} is outside RAM block '${block.id}' (${block.length} bytes)`,
        );
      }
      if (kind === RAM_SAVE_FLAG_PAGE) {
        if (q.available < PAGE_SIZE) yield* ctx.need(PAGE_SIZE, 'a RAM page', at);
        if (ctx.onPage)
          ctx.onPage({ block: block.id, address, offset: at, data: q.take(PAGE_SIZE), fill: 0 });
        else q.skip(PAGE_SIZE);
        ram.normalPages++;
        ram.pageBytes += PAGE_SIZE;
      } else {
        if (q.available < 1) yield* ctx.need(1, 'a zero page record', at);
        const fill = q.u8();
        ctx.onPage?.({ block: block.id, address, offset: at, data: null, fill });
        ram.zeroPages++;
      }
    } else if (kind === RAM_SAVE_FLAG_EOS) {
      ctx.current = null;
      return { ram, blocks };
    } else if (kind === RAM_SAVE_FLAG_MEM_SIZE) {
      blocks = yield* blockList(ctx, address, at);
    } else {
      badFlags(ctx, flags, at);
    }
  }
}

function badFlags(ctx: ParseContext, flags: number, at: number): never {
  for (const [flag, name] of UNSUPPORTED_RAM_FLAGS) {
    if (flags & flag) {
      ctx.fail(
        'SAVEVM_UNSUPPORTED_RAM_FLAG',
        at,
        `RAM record uses ${name} encoding (flag ${hex(flag)}), which ferry does not decode; migrate without that capability`,
      );
    }
  }
  if (flags & ~KNOWN_FLAGS) ctx.fail('SAVEVM_UNKNOWN_RAM_FLAG', at, `unknown RAM record flags ${hex(flags)}`);
  ctx.fail('SAVEVM_UNKNOWN_RAM_FLAG', at, `invalid combination of RAM record flags ${hex(flags)}`);
}

/** The block a page record is in: named in the record, or the previous one with CONTINUE. */
function* pageBlock(ctx: ParseContext, flags: number, at: number): Step<RamBlock> {
  if (flags & RAM_SAVE_FLAG_CONTINUE) {
    if (!ctx.lastBlock)
      ctx.fail('SAVEVM_BAD_RAM_RECORD', at, 'RAM record continues a block but none was named before');
    return ctx.lastBlock;
  }
  const id = yield* ctx.idstr('a RAM block name', at);
  const block = ctx.blocks.get(id);
  if (!block) {
    ctx.fail(
      'SAVEVM_UNKNOWN_BLOCK',
      at,
      ctx.blocks.size === 0
        ? `page of RAM block '${id}' before any block list (RAM_SAVE_FLAG_MEM_SIZE)`
        : `page of RAM block '${id}', which the block list does not announce`,
    );
  }
  ctx.lastBlock = block;
  return block;
}

/** The RAM_SAVE_FLAG_MEM_SIZE announcement: total bytes, then idstr + used_length per block. */
function* blockList(ctx: ParseContext, total: number, at: number): Step<RamBlock[]> {
  const q = ctx.q;
  if (ctx.postcopyAdvised) {
    ctx.fail(
      'SAVEVM_UNSUPPORTED_SECTION',
      at,
      'RAM block list of a postcopy-capable stream (may carry per-block page sizes); ferry reads precopy streams',
    );
  }
  if (total < 0 || total > ctx.limits.maxRamBytes) {
    ctx.fail(
      'SAVEVM_LENGTH_OUT_OF_BOUNDS',
      at,
      `RAM size ${total} is past the sane bound ${ctx.limits.maxRamBytes}`,
    );
  }
  const blocks: RamBlock[] = [];
  let left = total;
  while (left > 0) {
    const blockAt = q.offset;
    if (blocks.length >= ctx.limits.maxRamBlocks) {
      ctx.fail('SAVEVM_LENGTH_OUT_OF_BOUNDS', blockAt, `more than ${ctx.limits.maxRamBlocks} RAM blocks`);
    }
    const id = yield* ctx.idstr('a RAM block list entry', blockAt);
    const extra = ctx.ignoreShared ? 16 : 8; // x-ignore-shared adds the block's guest address
    if (q.available < extra) yield* ctx.need(extra, 'a RAM block list entry', blockAt);
    const hi = q.u32();
    const length = toSafeNumber(hi, q.u32());
    if (ctx.ignoreShared) q.skip(8);
    if (length < 0 || length > left) {
      ctx.fail(
        'SAVEVM_BAD_RAM_RECORD',
        blockAt,
        `RAM block '${id}' is ${length < 0 ? 'over 2^53' : length} bytes, more than the ${left} left of the announced ${total}`,
      );
    }
    blocks.push({ id, length });
    left -= length;
  }
  ctx.blocks = new Map(blocks.map((b) => [b.id, b]));
  ctx.lastBlock = ctx.lastBlock ? (ctx.blocks.get(ctx.lastBlock.id) ?? null) : null;
  return blocks;
}
