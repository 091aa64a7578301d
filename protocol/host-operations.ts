// The operations an operator runs on one host's guests (`ferry guest ...`), each an activity of
// that host's agent, run by the hostOperation workflow. Free of imports on purpose: the workflow
// checks a name against this list, and all it imports would enter the workflow bundle.

export const HOST_OPERATIONS = [
  'startGuest',
  'guestStatus',
  'pauseGuest',
  'resumeGuest',
  'killGuest',
  'stopGuest',
  'listGuests',
  'guestDigest',
] as const;

export type HostOperation = (typeof HOST_OPERATIONS)[number];

const known: ReadonlySet<string> = new Set(HOST_OPERATIONS);

export function isHostOperation(name: string): name is HostOperation {
  return known.has(name);
}
