// Opening the two kinds of connection a tunnel makes, with the bounded waiting each needs.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTlsSocket } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
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
 * connectTcp with TLS on top: resolves once the handshake is through and the server's certificate
 * passed `tls` (its chain and its checkServerIdentity); a handshake failure rejects with its error.
 */
export function connectTls(
  host: string,
  port: number,
  tls: ConnectionOptions,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
  localAddress?: string,
): Promise<TLSSocket> {
  const local = localAddress === undefined ? {} : { localAddress };
  // allowHalfOpen is passed on to the TLSSocket (Node's tls.connect), though its types omit it.
  const options: ConnectionOptions & { allowHalfOpen: boolean } = {
    ...tls,
    host,
    port,
    allowHalfOpen: true,
    ...local,
  };
  const socket = connectTlsSocket(options);
  socket.setNoDelay(true);
  return once(socket, timeoutMs, 'secureConnect');
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

function once<S extends Socket>(socket: S, timeoutMs: number, ready = 'connect'): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once(ready, () => {
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
