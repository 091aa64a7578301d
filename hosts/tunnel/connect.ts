// Opening the two kinds of connection a tunnel makes, with the bounded waiting each needs.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Gives up on a TCP connect that neither succeeds nor fails within this time. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** The destination guest may still be creating its incoming socket when the source arrives. */
export const DEFAULT_TARGET_WAIT_MS = 5_000;
const TARGET_RETRY_MS = 25;

/** A half-open-capable socket, as both directions of a tunnel end independently. */
export function connectTcp(
  host: string,
  port: number,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
  localAddress?: string,
): Promise<Socket> {
  const local = localAddress === undefined ? {} : { localAddress };
  return once(connect({ host, port, allowHalfOpen: true, noDelay: true, ...local }), timeoutMs);
}

/**
 * Connects to a unix socket, retrying while it does not exist yet or nobody listens on it
 * (ENOENT, ECONNREFUSED), as QEMU's `migrate-incoming` may not have been issued yet.
 */
export async function connectUnixWhenReady(path: string, waitMs = DEFAULT_TARGET_WAIT_MS): Promise<Socket> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      return await once(connect({ path, allowHalfOpen: true }), waitMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retryable = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (!retryable || performance.now() + TARGET_RETRY_MS > deadline) throw err;
      await sleep(TARGET_RETRY_MS);
    }
  }
}

function once(socket: Socket, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
  });
}
