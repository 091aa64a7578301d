// The migration's signals and queries, shared by the workflow and its callers.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { MigrationProgressView, TransferProgress } from '../../protocol/migration.ts';

/** Changes QEMU's downtime-limit on the fly (virsh migrate-setmaxdowntime). */
export const setMaxDowntime = defineSignal<[ms: number]>('setMaxDowntime');
/** Changes QEMU's max-bandwidth on the fly, in MiB/s (virsh migrate-setspeed). */
export const setBandwidth = defineSignal<[mibps: number]>('setBandwidth');
/** Releases a migration held before a phase (`holdBefore`). */
export const resume = defineSignal('resume');
/** Perform's progress, sent by the source agent as it polls QEMU (the workflow cannot poll). */
export const reportTransfer = defineSignal<[progress: TransferProgress]>('reportTransfer');
/** Phase, parameters, timeline and transfer so far (virsh domjobinfo). */
export const progress = defineQuery<MigrationProgressView>('progress');
