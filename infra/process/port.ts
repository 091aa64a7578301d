import { connect, createServer, type AddressInfo, type Server } from 'node:net';

/** Whether something accepts TCP connections at host:port (used to tell "free" from "taken"). */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Ports the kernel gives to bind(0) on `host`, all held at once (so they differ), then released
 * for whoever asked to take. Another process could take one in between: a service that then
 * fails to bind names the port; nothing uses a taken port silently.
 */
export async function freePorts(host: string, n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    return await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const server = createServer();
            servers.push(server);
            server.once('error', reject);
            server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export async function freePort(host: string): Promise<number> {
  const [port] = await freePorts(host, 1);
  return port as number;
}
