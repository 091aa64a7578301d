// What the parser reports: one event per top-level item of the stream, each with the byte offset
// where the item starts and how many bytes it took, so a broken migration can be located exactly.

export interface RamBlock {
  id: string;
  /** used_length: the bytes of this block that migrate. */
  length: number;
}

/** Which part of an iterable section: its START, a PART (a precopy pass), or its END (the final pass). */
export type RamSectionKind = 'start' | 'part' | 'end';

/** Page records of one RAM section, counted the way query-migrate counts them. */
export interface RamProgress {
  normalPages: number;
  zeroPages: number;
  /** Payload bytes of normal pages. */
  pageBytes: number;
}

export interface HeaderEvent {
  type: 'header';
  offset: number;
  bytes: number;
  version: number;
}

export interface ConfigurationEvent {
  type: 'configuration';
  offset: number;
  bytes: number;
  machine: string;
}

/** A vmstate subsection the parser could decode (those of the configuration section). */
export interface SubsectionEvent {
  type: 'subsection';
  offset: number;
  bytes: number;
  parent: string;
  name: string;
  versionId: number;
}

interface SectionCommon {
  offset: number;
  /** The whole section: header, body and footer. */
  bytes: number;
  sectionId: number;
  idstr: string;
  /** The section ended with a QEMU_VM_SECTION_FOOTER. */
  footer: boolean;
}

export interface SectionStartEvent extends SectionCommon {
  type: 'section-start';
  instanceId: number;
  versionId: number;
  ram: RamProgress;
  /** The RAM block list when this section announced it (RAM_SAVE_FLAG_MEM_SIZE). */
  blocks: RamBlock[] | null;
}

export interface SectionPartEvent extends SectionCommon {
  type: 'section-part';
  ram: RamProgress;
}

export interface SectionEndEvent extends SectionCommon {
  type: 'section-end';
  ram: RamProgress;
}

export interface SectionFullEvent extends SectionCommon {
  type: 'section-full';
  instanceId: number;
  versionId: number;
  /** Device state bytes between the section header and its footer. */
  deviceBytes: number;
}

export interface CommandEvent {
  type: 'command';
  offset: number;
  bytes: number;
  command: number;
  name: string;
  length: number;
  /** For MIG_CMD_PACKAGED: the bytes of the package that followed (skipped, not parsed). */
  packagedBytes: number;
}

/** How one device section of the stream compares with the device description QEMU appended. */
export interface DeviceCheck {
  idstr: string;
  instanceId: number;
  streamBytes: number;
  /** Size the description implies; null when it does not say enough to compute one. */
  describedBytes: number | null;
  subsections: string[];
}

export interface VmDescriptionEvent {
  type: 'vmdescription';
  offset: number;
  bytes: number;
  description: unknown;
  devices: DeviceCheck[];
}

export interface EofEvent {
  type: 'eof';
  offset: number;
}

export type SavevmEvent =
  | HeaderEvent
  | ConfigurationEvent
  | SubsectionEvent
  | SectionStartEvent
  | SectionPartEvent
  | SectionEndEvent
  | SectionFullEvent
  | CommandEvent
  | VmDescriptionEvent
  | EofEvent;

/** A RAM page as it passes, for consumers that load memory (the destination guest). */
export interface PageRecord {
  block: string;
  /** Offset of the page inside its block. */
  address: number;
  /** Stream offset of the record. */
  offset: number;
  /** The page payload (a view into the pushed chunk when possible), or null for a zero page. */
  data: Buffer | null;
  /** A zero page's fill byte (QEMU always sends 0). */
  fill: number;
}
