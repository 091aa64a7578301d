// The broker's side of Kafka security: its SCRAM users, bootstrapped when the storage is formatted
// (KIP-900: `format --add-scram`, so clients authenticate from the first start, before any admin
// request could create a user), and the TLS material and principal it runs with.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { serviceIdentitySync, servicePassword, type ServiceUser } from '../pki/index.ts';
import { runStep } from '../provision/run.ts';
import { KafkaSecurityError } from './errors.ts';
import type { KafkaSecuritySettings } from './security-properties.ts';

/** Every Kafka user ferry has: one per role, and the stack's own `admin` (the super user). */
export const KAFKA_USERS: readonly ServiceUser[] = ['admin', 'agent', 'controller', 'operator'];

/** Written next to the data when it was formatted with KAFKA_USERS (in either security mode). */
export const SCRAM_MARKER = 'scram-users';

/**
 * `--add-scram` arguments for the storage tool. Always, security on or off: a state dir formatted
 * with security off can have it turned on later without losing its event log.
 */
export function scramFormatArgs(cfg: Config): string[] {
  return KAFKA_USERS.flatMap((user) => [
    '--add-scram',
    `SCRAM-SHA-512=[name=${user},password=${servicePassword(cfg, 'kafka', user)}]`,
  ]);
}

/** Refuses, with what to do, a data dir formatted before ferry bootstrapped SCRAM users. */
export function checkScramFormatted(kafkaDir: string): void {
  if (existsSync(join(kafkaDir, SCRAM_MARKER))) return;
  throw new KafkaSecurityError(
    `Kafka's storage in ${join(kafkaDir, 'data')} was formatted without SCRAM users, so no client could log in with FERRY_SECURITY=on`,
    {
      hint: 'run `ferry stack up` once with FERRY_SECURITY=off (it adds them, keeping the event log), then `ferry stack down` and up again with on',
    },
  );
}

/**
 * Adds KAFKA_USERS to a Kafka started with security off whose storage predates ferry's SCRAM users
 * (no SCRAM_MARKER), with Kafka's own ConfigCommand from the jars (kafkajs cannot alter SCRAM
 * credentials), one JVM per user as it takes one user per call. Once per state dir; then security
 * can be turned on without a reset.
 */
export async function addScramUsers(
  cfg: Config,
  kafkaDir: string,
  tools: { java: string; libs: string; log4j: string },
  log: (line: string) => void,
): Promise<void> {
  log('kafka: adding the SCRAM users this storage was formatted without...');
  await Promise.all(
    KAFKA_USERS.map((user) =>
      runStep(
        `adding Kafka SCRAM user ${user}`,
        tools.java,
        [
          '-Xmx128m',
          `-Dlog4j.configuration=file:${tools.log4j}`,
          '-cp',
          join(tools.libs, '*'),
          'kafka.admin.ConfigCommand',
          '--bootstrap-server',
          `${cfg.bindHost}:${cfg.kafka.port}`,
          '--alter',
          '--entity-type',
          'users',
          '--entity-name',
          user,
          '--add-config',
          `SCRAM-SHA-512=[password=${servicePassword(cfg, 'kafka', user)}]`,
        ],
        'is Kafka up (`ferry stack status`)? FERRY_SECURITY=on needs these users',
      ),
    ),
  );
  writeFileSync(join(kafkaDir, SCRAM_MARKER), `${new Date().toISOString()} (added)\n`);
}

/**
 * A certificate's subject as Kafka's default principal builder names it: RFC 2253, most specific
 * first. ferry's names are letters, digits and '-', so nothing needs escaping; anything else is
 * refused rather than guessed.
 */
export function rfc2253Subject(certPem: string | Buffer): string {
  const rdns = new X509Certificate(certPem).subject.split('\n');
  for (const rdn of rdns) {
    if (!/^[A-Za-z]+=[A-Za-z0-9.-]+$/.test(rdn)) {
      throw new KafkaSecurityError(`the broker certificate's subject part "${rdn}" is not one ferry issues`);
    }
  }
  return rdns.reverse().join(',');
}

/** The broker's TLS material (serviceIdentity 'kafka') and admin password, for security-properties.ts. */
export function brokerSecurity(cfg: Config): KafkaSecuritySettings {
  const id = serviceIdentitySync(cfg, 'kafka');
  return {
    ca: id.ca.toString('utf8'),
    cert: id.cert.toString('utf8'),
    // Kafka parses only PKCS#8 ("BEGIN PRIVATE KEY"), whatever form the bundle's key is in.
    key: createPrivateKey(id.key).export({ type: 'pkcs8', format: 'pem' }).toString(),
    adminPassword: servicePassword(cfg, 'kafka', 'admin'),
    brokerPrincipal: rfc2253Subject(id.cert),
  };
}
