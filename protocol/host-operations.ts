// What the hostOperation workflow may run on one host's agent: the operations on its guests
// (`ferry guest ...`) and the migration's phases, which tests and drills run one at a time to
// drive the protocol by hand (as libvirt exposes Begin3, Prepare3, ... as calls of their own).
// These are exactly the activities an agent registers (workers/agent/agent.ts checks it at
// compile time). Free of imports on purpose: the workflow checks a name against these lists, and
// all it imports would enter the workflow bundle.

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

export const PHASE_OPERATIONS = [
  'srcBegin',
  'srcPerform',
  'srcSetSpeed',
  'srcConfirm',
  'dstPrepare',
  'dstFinish',
] as const;

/** An operation on a host's guests. */
export type HostOperation = (typeof HOST_OPERATIONS)[number];
/** Anything an agent runs: a guest operation or a migration phase. */
export type AgentOperation = HostOperation | (typeof PHASE_OPERATIONS)[number];

const known: ReadonlySet<string> = new Set([...HOST_OPERATIONS, ...PHASE_OPERATIONS]);

export function isAgentOperation(name: string): name is AgentOperation {
  return known.has(name);
}
