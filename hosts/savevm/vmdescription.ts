// QEMU_VM_VMDESCRIPTION: be32 length and JSON. Parsed, and used to re-check every device section.
import type { ParseContext, Step } from './context.ts';
import { checkDevices, descriptionSchema } from './description.ts';
import type { DeviceDescription } from './description.ts';
import type { DeviceCheck } from './events.ts';

export function* description(ctx: ParseContext, at: number): Step {
  const q = ctx.q;
  yield* ctx.need(4, 'the device description', at);
  const length = q.u32();
  if (length > ctx.limits.maxDescriptionBytes) {
    ctx.fail(
      'SAVEVM_LENGTH_OUT_OF_BOUNDS',
      at,
      `device description of ${length} bytes is past the sane bound ${ctx.limits.maxDescriptionBytes}`,
    );
  }
  yield* ctx.need(length, 'the device description', at);
  const text = q.take(length).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    ctx.fail('SAVEVM_BAD_DESCRIPTION', at, `device description is not JSON: ${(err as Error).message}`);
  }
  const parsed = descriptionSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    ctx.fail(
      'SAVEVM_BAD_DESCRIPTION',
      at,
      `device description does not have QEMU's shape: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`,
    );
  }
  const devices = checkDevices(parsed.data.devices, ctx.fulls);
  if (ctx.verifyDescription) verify(ctx, parsed.data.devices, devices);
  ctx.emit({ type: 'vmdescription', offset: at, bytes: q.offset - at, description: json, devices });
}

function verify(ctx: ParseContext, described: DeviceDescription[], devices: DeviceCheck[]): void {
  if (described.length !== ctx.fulls.length) {
    ctx.fail(
      'SAVEVM_DESCRIPTION_MISMATCH',
      ctx.fulls[0]?.offset ?? 0,
      `the stream has ${ctx.fulls.length} device sections but its description lists ${described.length}`,
    );
  }
  devices.forEach((d, i) => {
    const section = ctx.fulls[i]!;
    const desc = described[i]!;
    if (desc.name !== section.idstr || desc.instance_id !== section.instanceId) {
      ctx.fail(
        'SAVEVM_DESCRIPTION_MISMATCH',
        section.offset,
        `device section ${i} is '${section.idstr}' instance ${section.instanceId} but the description says '${desc.name}' instance ${desc.instance_id}`,
      );
    }
    if (d.describedBytes !== null && d.describedBytes !== d.streamBytes) {
      ctx.fail(
        'SAVEVM_DESCRIPTION_MISMATCH',
        section.offset,
        `device section '${d.idstr}' holds ${d.streamBytes} bytes but its description says ${d.describedBytes}`,
      );
    }
  });
}
