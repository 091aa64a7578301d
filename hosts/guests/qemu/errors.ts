import { FerryError } from '../../../errors/ferry-error.ts';

/** A QEMU guest spec (or a driver argument) that does not pass validation. */
export class QemuGuestSpecError extends FerryError {
  readonly code = 'QEMU_GUEST_BAD_SPEC';
}

/** A memory digest was asked of a guest whose vCPUs run (or whose RAM is still arriving). */
export class QemuGuestNotPausedError extends FerryError {
  readonly code = 'QEMU_GUEST_NOT_PAUSED';
  constructor(readonly status: string) {
    super(`memory digest needs a paused guest, QEMU says '${status}'`, {
      hint: 'stop the guest first (on a migration source it is already stopped at postmigrate)',
    });
  }
}

/** The status block is not there: not ferry's image, or it has not booted yet. */
export class QemuGuestStatusError extends FerryError {
  readonly code = 'QEMU_GUEST_NO_STATUS';
}

/** pmemsave wrote less than asked: the range is not all RAM (or the disk is full). */
export class QemuPmemsaveError extends FerryError {
  readonly code = 'QEMU_PMEMSAVE_SHORT';
}

/** QEMU exited before it could be reached, or while it was awaited. */
export class QemuGuestExitedError extends FerryError {
  readonly code = 'QEMU_GUEST_EXITED';
}

/** A QEMU-to-QEMU migration ended failed or cancelled, or did not end in time. */
export class QemuMigrationError extends FerryError {
  readonly code = 'QEMU_MIGRATION_FAILED';
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}
