// Who may do what in Kafka when security is on (StandardAuthorizer; a resource without an ACL is
// the super user's alone). Publishers (agents, controllers) write the event log and nothing else;
// the operator reads it, puts what it cannot read into the dead-letter topic, and joins consumer
// groups of the two names its readers use. Nobody but `admin` (super.users) creates, deletes or
// reconfigures a topic, or touches ACLs.
import type { AclEntry, Admin } from 'kafkajs';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
} from './kafkajs-enums.ts';
import { DEAD_LETTER_TOPIC, EVENTS_TOPIC } from './topics.ts';

/** The consumer group prefixes of ferry's readers: the audit's reader and `ferry events tail`. */
export const READER_GROUP_PREFIXES = ['ferry-reader-', 'ferry-tail-'] as const;

type User = 'agent' | 'controller' | 'operator';

function allow(
  user: User,
  resourceType: AclEntry['resourceType'],
  resourceName: string,
  resourcePatternType: AclEntry['resourcePatternType'],
  operation: AclEntry['operation'],
): AclEntry {
  return {
    principal: `User:${user}`,
    host: '*',
    permissionType: AclPermissionTypes.ALLOW,
    operation,
    resourceType,
    resourceName,
    resourcePatternType,
  };
}

const topic = (user: User, name: string, op: AclEntry['operation']) =>
  allow(user, AclResourceTypes.TOPIC, name, ResourcePatternTypes.LITERAL, op);

/**
 * Every ACL ferry sets. WRITE on a topic also lets a producer be idempotent (KIP-679: no
 * IDEMPOTENT_WRITE on the cluster needed since Kafka 3.0); DESCRIBE is its metadata; READ on a group
 * implies the DESCRIBE a consumer's coordinator lookup needs.
 */
export function ferryAcls(): AclEntry[] {
  const publishers: User[] = ['agent', 'controller'];
  return [
    ...publishers.flatMap((u) => [
      topic(u, EVENTS_TOPIC, AclOperationTypes.WRITE),
      topic(u, EVENTS_TOPIC, AclOperationTypes.DESCRIBE),
    ]),
    topic('operator', EVENTS_TOPIC, AclOperationTypes.READ),
    topic('operator', EVENTS_TOPIC, AclOperationTypes.DESCRIBE),
    topic('operator', DEAD_LETTER_TOPIC, AclOperationTypes.READ),
    topic('operator', DEAD_LETTER_TOPIC, AclOperationTypes.WRITE),
    topic('operator', DEAD_LETTER_TOPIC, AclOperationTypes.DESCRIBE),
    ...READER_GROUP_PREFIXES.map((p) =>
      allow('operator', AclResourceTypes.GROUP, p, ResourcePatternTypes.PREFIXED, AclOperationTypes.READ),
    ),
  ];
}

/**
 * A scratch space for the operator: every topic and consumer group whose name starts with `prefix`,
 * with every right on them (create and delete included). Not among ferryAcls: the test harness
 * grants it for its `test*` topics when security is on, so tests keep running as the operator
 * against the real ACLs instead of as the super user.
 */
export function operatorScratchAcls(prefix: string): AclEntry[] {
  return [
    allow('operator', AclResourceTypes.TOPIC, prefix, ResourcePatternTypes.PREFIXED, AclOperationTypes.ALL),
    allow('operator', AclResourceTypes.GROUP, prefix, ResourcePatternTypes.PREFIXED, AclOperationTypes.ALL),
  ];
}

const key = (a: AclEntry) =>
  [
    a.principal,
    a.host,
    a.operation,
    a.permissionType,
    a.resourceType,
    a.resourceName,
    a.resourcePatternType,
  ].join('|');

/** Creates the ACLs of `wanted` that Kafka does not have yet; returns how many it created. */
export async function applyAcls(admin: Admin, wanted: AclEntry[] = ferryAcls()): Promise<number> {
  const have = await admin.describeAcls({
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  });
  const present = new Set(
    have.resources.flatMap((r) =>
      r.acls.map((a) =>
        key({
          ...a,
          resourceType: r.resourceType,
          resourceName: r.resourceName,
          resourcePatternType: r.resourcePatternType,
        }),
      ),
    ),
  );
  const missing = wanted.filter((a) => !present.has(key(a)));
  if (missing.length > 0) await admin.createAcls({ acl: missing });
  return missing.length;
}
