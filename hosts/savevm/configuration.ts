// QEMU_VM_CONFIGURATION: the vmstate "configuration" of migration/savevm.c, a be32 length and the
// machine type, then optional subsections. Unlike device sections its schema is known, so each
// subsection is decoded, not skipped.
import { QEMU_VM_SUBSECTION } from './constants.ts';
import type { ParseContext, Step } from './context.ts';

const MAX_CAPABILITIES = 256;

export function* configuration(ctx: ParseContext, at: number): Step {
  const q = ctx.q;
  yield* ctx.need(4, 'the configuration section', at);
  const len = q.u32();
  if (len > ctx.limits.maxMachineNameBytes) {
    ctx.fail(
      'SAVEVM_LENGTH_OUT_OF_BOUNDS',
      at + 1,
      `machine type name of ${len} bytes is past the sane bound`,
    );
  }
  yield* ctx.need(len, 'the configuration section', at);
  const machine = q.take(len).toString('latin1');
  ctx.emit({ type: 'configuration', offset: at, bytes: q.offset - at, machine });
  while ((yield* ctx.more()) && q.peek(0) === QEMU_VM_SUBSECTION) {
    const subAt = q.offset;
    q.skip(1);
    const name = yield* ctx.idstr('a configuration subsection', subAt);
    yield* ctx.need(4, 'a configuration subsection', subAt);
    const versionId = q.u32();
    yield* subsectionBody(ctx, name, subAt);
    ctx.emit({
      type: 'subsection',
      offset: subAt,
      bytes: q.offset - subAt,
      parent: 'configuration',
      name,
      versionId,
    });
  }
}

function* subsectionBody(ctx: ParseContext, name: string, at: number): Step {
  const q = ctx.q;
  const what = `configuration subsection '${name}'`;
  switch (name) {
    case 'configuration/target-page-bits': {
      yield* ctx.need(4, what, at);
      const bits = q.u32();
      if (bits !== 12) {
        ctx.fail(
          'SAVEVM_BAD_CONFIGURATION',
          at,
          `target page bits ${bits}: ferry reads streams with 4 KiB pages`,
        );
      }
      return;
    }
    case 'configuration/capabilities': {
      yield* ctx.need(4, what, at);
      const count = q.u32();
      if (count > MAX_CAPABILITIES)
        ctx.fail('SAVEVM_LENGTH_OUT_OF_BOUNDS', at, `${count} migration capabilities`);
      for (let i = 0; i < count; i++) {
        if ((yield* ctx.idstr(what, at)) === 'x-ignore-shared') ctx.ignoreShared = true;
      }
      return;
    }
    case 'configuration/uuid':
      yield* ctx.need(16, what, at);
      q.skip(16);
      return;
    default:
      ctx.fail('SAVEVM_BAD_CONFIGURATION', at, `unknown configuration subsection '${name}'`);
  }
}
