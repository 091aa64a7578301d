// The command line of a headless QEMU guest booting ferry's image. No -daemonize: the agent
// spawns it detached itself and owns the pid file.
import { checkQemuGuestSpec } from './spec.ts';
import type { QemuGuestSpec } from './spec.ts';

/** QEMU's seccomp filter with every optional deny on (QEMU 7.2 accepts it; libvirt's choice too). */
export const QEMU_SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

export interface QemuCommand {
  command: string;
  args: string[];
}

export function qemuGuestCommand(spec: QemuGuestSpec): QemuCommand {
  const s = checkQemuGuestSpec(spec);
  const append = [
    ...(s.workingSetMiB === undefined ? [] : [`ws=${s.workingSetMiB}`]),
    ...(s.delay === undefined ? [] : [`delay=${s.delay}`]),
    ...(s.flushTlb === undefined ? [] : [`flush=${s.flushTlb ? 1 : 0}`]),
  ].join(' ');
  const args = [
    ...['-name', s.vm],
    // TCG: no KVM needed (nor wanted: hosts in CI have none); nothing QEMU would add on its own.
    ...['-accel', 'tcg', '-nodefaults', '-no-user-config', '-display', 'none'],
    // seccomp, as libvirt runs QEMU (seccomp_sandbox): no obsolete system calls, no setuid or
    // privilege changes, no fork/exec, no scheduler or affinity changes. A guest that escapes the
    // emulator still cannot start a shell or raise its privileges.
    ...['-sandbox', QEMU_SANDBOX],
    ...['-machine', s.machine, '-m', String(s.memoryMiB)],
    // No disk: a -kernel guest has no storage to complicate migration.
    ...['-kernel', s.image],
    ...(append === '' ? [] : ['-append', append]),
    ...['-qmp', `unix:${s.qmpSocket},server=on,wait=off`],
    ...(s.serialLog === undefined ? [] : ['-serial', `file:${s.serialLog}`]),
    ...(s.paused ? ['-S'] : []),
    // The incoming URI comes later with migrate-incoming, as libvirt does it.
    ...(s.incoming ? ['-incoming', 'defer'] : []),
  ];
  return { command: s.qemuBinary, args };
}
