// The cluster secret signs every cookie, so all hosts must hold the same one: set it in
// FERRY_CLUSTER_SECRET, or let the first process to need it mint one in the shared state dir.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../infra/config.ts';
import { ClusterSecretError } from './errors.ts';
import { MIN_SECRET_BYTES } from './sign.ts';

export const CLUSTER_SECRET_FILE = 'cluster.secret';

/**
 * The secret is the text (env or file, trimmed) as UTF-8 bytes, so a value copied from the file
 * into FERRY_CLUSTER_SECRET signs the same cookies.
 */
export function loadClusterSecret(cfg: Config): Buffer {
  if (cfg.clusterSecret !== undefined) return checked(cfg.clusterSecret, 'FERRY_CLUSTER_SECRET');
  const file = join(cfg.stateDir, CLUSTER_SECRET_FILE);
  return checked(readOrCreate(file), file);
}

function readOrCreate(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable(file, err);
  }
  mkdirSync(join(file, '..'), { recursive: true });
  // Written in full under a private name, then published with link(), which unlike rename()
  // never replaces an existing file: of two processes racing, the loser finds the winner's
  // secret in place and reads it, so both sign with the same one.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unreadable(file, err);
  } finally {
    unlinkSync(temp);
  }
  return readFileSync(file, 'utf8');
}

function checked(text: string, source: string): Buffer {
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < MIN_SECRET_BYTES)
    throw new ClusterSecretError(
      `the cluster secret in ${source} is ${secret.length} bytes, at least ${MIN_SECRET_BYTES} are needed`,
      { hint: `put ${MIN_SECRET_BYTES}+ random characters there, the same on every host` },
    );
  return secret;
}

function unreadable(file: string, cause: unknown): ClusterSecretError {
  return new ClusterSecretError(`cannot read or create the cluster secret ${file}: ${String(cause)}`, {
    cause,
    hint: 'check that the state dir is writable by this user, or set FERRY_CLUSTER_SECRET',
  });
}
