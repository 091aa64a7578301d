// Files and directories a ferry process makes are its user's alone. The process umask is the one
// setting that covers everything at its creation, whoever writes it: pid files, logs, outboxes,
// the unix sockets of the data plane and QMP (a socket's mode follows the umask), and every
// process started from here (guests, the guest runner, services), which inherit it. Files that
// hold a secret are also written with an explicit mode (infra/pki/private-files.ts), so they stay
// private in a process that did not set this.

/** Nothing for group or others: directories 0700, files 0600, sockets srwx------. */
export const PRIVATE_UMASK = 0o077;

/** Called once by each entry point (the CLI, the agent, the controller) before anything is made. */
export function usePrivateUmask(): void {
  process.umask(PRIVATE_UMASK);
}
