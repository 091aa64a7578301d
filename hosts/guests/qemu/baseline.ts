// The guest and parameters of the direct QEMU-to-QEMU baseline, in one place so that the
// tunnel benchmark (qemuTunnelledVsDirect) migrates exactly the same guest the same way.

/** A 256 MiB guest rewriting 64 MiB at about 15 MiB/s (TCG on a 2-core host). */
export const BASELINE_GUEST = { memoryMiB: 256, workingSetMiB: 64, delay: 1000 } as const;

/**
 * No bandwidth cap worth the name (QEMU 7.2's default max-bandwidth is 128 MiB/s), so the
 * figure is what the path carries; QEMU's default downtime-limit.
 */
export const BASELINE_PARAMETERS = {
  'max-bandwidth': 10 * 1024 * 1024 * 1024,
  'downtime-limit': 300,
} as const;
