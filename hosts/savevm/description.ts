// The QEMU_VM_VMDESCRIPTION JSON (what scripts/analyze-migration.py reads): per device, the size
// in bytes that each vmstate field wrote, and the subsections. Summing them gives each device
// section's size independently of the footer scan, which is how ferry proves its delimiting.
import { z } from 'zod';
import type { DeviceCheck, SectionFullEvent } from './events.ts';

interface FieldDesc {
  size?: number | undefined;
  array_len?: number | undefined;
}
interface VmsdDesc {
  vmsd_name?: string | undefined;
  fields?: FieldDesc[] | undefined;
  subsections?: VmsdDesc[] | undefined;
}

const field = z.looseObject({
  size: z.number().int().nonnegative().optional(),
  array_len: z.number().int().optional(),
});
const vmsd: z.ZodType<VmsdDesc> = z.lazy(() =>
  z.looseObject({
    vmsd_name: z.string().optional(),
    fields: z.array(field).optional(),
    subsections: z.array(vmsd).optional(),
  }),
);
const device = z.looseObject({
  name: z.string(),
  instance_id: z.number().int(),
  vmsd_name: z.string().optional(),
  fields: z.array(field).optional(),
  subsections: z.array(vmsd).optional(),
});
export const descriptionSchema = z.looseObject({
  page_size: z.number().int().optional(),
  devices: z.array(device),
});
export type DeviceDescription = z.infer<typeof device>;

/** Bytes a described vmstate wrote, or null if a field's size is missing. */
export function describedSize(d: VmsdDesc): number | null {
  let total = 0;
  for (const f of d.fields ?? []) {
    if (f.size === undefined) return null;
    // A "compressed" array is described once, by its first element, with the element count.
    total += f.size * (f.array_len ?? 1);
  }
  for (const sub of d.subsections ?? []) {
    const inner = describedSize(sub);
    if (inner === null || sub.vmsd_name === undefined) return null;
    // QEMU_VM_SUBSECTION, name length, name, version id.
    total += 1 + 1 + Buffer.byteLength(sub.vmsd_name, 'latin1') + 4 + inner;
  }
  return total;
}

export function checkDevices(described: DeviceDescription[], fulls: SectionFullEvent[]): DeviceCheck[] {
  return fulls.map((s, i) => {
    const d = described[i];
    return {
      idstr: s.idstr,
      instanceId: s.instanceId,
      streamBytes: s.deviceBytes,
      describedBytes: d ? describedSize(d) : null,
      subsections: (d?.subsections ?? []).map((sub) => sub.vmsd_name ?? '?'),
    };
  });
}
