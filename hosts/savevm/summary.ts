// Folds parser events into what `ferry savevm inspect` reports. The JSON shape is a contract
// other tools read: add fields only with care, never rename.
import type { CommandEvent, DeviceCheck, RamBlock, RamProgress, SavevmEvent } from './events.ts';

export interface InspectSummary {
  ok: true;
  bytes: number;
  version: number;
  machine: string | null;
  ram: { blocks: RamBlock[]; normalPages: number; zeroPages: number };
  sections: { start: number; part: number; end: number; full: number };
  devices: string[];
  eof: boolean;
}

/** What the human output adds to the contract: useful when reading a stream by hand. */
export interface InspectDetails {
  footers: boolean | null;
  commands: CommandEvent[];
  subsections: string[];
  description: { bytes: number; devices: DeviceCheck[] } | null;
  eofOffset: number | null;
  deviceBytes: number[];
}

export class SummaryBuilder {
  readonly summary: InspectSummary = {
    ok: true,
    bytes: 0,
    version: 0,
    machine: null,
    ram: { blocks: [], normalPages: 0, zeroPages: 0 },
    sections: { start: 0, part: 0, end: 0, full: 0 },
    devices: [],
    eof: false,
  };
  readonly details: InspectDetails = {
    footers: null,
    commands: [],
    subsections: [],
    description: null,
    eofOffset: null,
    deviceBytes: [],
  };

  /** The RAM section a failed parse was inside, with the pages counted so far. */
  unfinished: { offset: number; idstr: string; ram: RamProgress } | null = null;

  add(e: SavevmEvent): void {
    const s = this.summary;
    switch (e.type) {
      case 'header':
        s.version = e.version;
        return;
      case 'configuration':
        s.machine = e.machine;
        return;
      case 'subsection':
        this.details.subsections.push(e.name);
        return;
      case 'section-start':
        s.sections.start++;
        if (e.blocks) s.ram.blocks = e.blocks;
        this.countRam(e.ram, e.footer);
        return;
      case 'section-part':
        s.sections.part++;
        this.countRam(e.ram, e.footer);
        return;
      case 'section-end':
        s.sections.end++;
        this.countRam(e.ram, e.footer);
        return;
      case 'section-full':
        s.sections.full++;
        s.devices.push(e.idstr);
        this.details.deviceBytes.push(e.deviceBytes);
        return;
      case 'command':
        this.details.commands.push(e);
        return;
      case 'vmdescription':
        this.details.description = { bytes: e.bytes, devices: e.devices };
        return;
      case 'eof':
        s.eof = true;
        this.details.eofOffset = e.offset;
        return;
    }
  }

  private countRam(ram: { normalPages: number; zeroPages: number }, footer: boolean): void {
    this.summary.ram.normalPages += ram.normalPages;
    this.summary.ram.zeroPages += ram.zeroPages;
    this.details.footers = footer;
  }
}

/** The human summary: what a person debugging a failed migration looks at first. */
export function formatSummary(file: string, s: InspectSummary, d: InspectDetails): string[] {
  const lines = [
    `${file}: ${s.bytes} bytes, savevm version ${s.version}, machine ${s.machine ?? '(no configuration section)'}`,
  ];
  const ramBytes = s.ram.blocks.reduce((sum, b) => sum + b.length, 0);
  lines.push(
    `RAM: ${s.ram.blocks.length} blocks, ${ramBytes} bytes; pages sent: ${s.ram.normalPages} normal, ${s.ram.zeroPages} zero`,
  );
  for (const b of s.ram.blocks) lines.push(`  ${b.id}  ${b.length} bytes`);
  const footers = d.footers === null ? '' : d.footers ? ', with footers' : ', without footers';
  lines.push(
    `sections: ${s.sections.start} start, ${s.sections.part} part, ${s.sections.end} end, ${s.sections.full} full${footers}`,
  );
  if (d.subsections.length > 0) lines.push(`configuration subsections: ${d.subsections.join(', ')}`);
  for (const c of d.commands) lines.push(`command ${c.name} (${c.length} bytes) at byte ${c.offset}`);
  lines.push(`devices (${s.devices.length}):`);
  s.devices.forEach((id, i) => lines.push(`  ${id}  ${d.deviceBytes[i]} bytes`));
  if (d.eofOffset !== null) lines.push(`EOF at byte ${d.eofOffset}`);
  if (d.description) {
    const unchecked = d.description.devices.filter((x) => x.describedBytes === null).length;
    lines.push(
      `device description: ${d.description.bytes} bytes; device sizes agree with the stream` +
        (unchecked > 0 ? ` (${unchecked} not computable from it)` : ''),
    );
  } else if (s.eof) {
    lines.push('no device description after EOF');
  }
  return lines;
}
