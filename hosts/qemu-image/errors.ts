import { FerryError } from '../../errors/ferry-error.ts';

/** A binutils program the image needs is not installed. */
export class GuestImageToolMissingError extends FerryError {
  readonly code = 'GUEST_IMAGE_TOOL_MISSING';
  constructor(readonly tool: string) {
    super(`${tool} not found — apt-get install binutils`, {
      hint: 'the QEMU guest image is assembled and linked on this host with GNU binutils',
    });
  }
}

/** The assembler or linker ran and refused, or the result is not what QEMU expects. */
export class GuestImageBuildError extends FerryError {
  readonly code = 'GUEST_IMAGE_BUILD_FAILED';
}
