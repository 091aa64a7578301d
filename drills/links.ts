// The links of one host in a drill: its agent reaches Redis and Temporal through proxies of its
// own, and other hosts reach its data plane through a third, so a drill can cut, corrupt, slow
// or partition exactly that host's traffic. Kafka stays direct: a broker advertises its own
// address in its metadata and clients then connect there, past any proxy; a partitioned agent's
// events wait in its outbox (on disk) and ship when Kafka answers, so the partition is still
// real for everything that decides (Redis leases, Temporal activities, the stream).
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import type { Config } from '../infra/config.ts';
import { LinkProxy } from './link-proxy.ts';
import { freePort } from '../infra/process/port.ts';

export interface HostLinks {
  /** The host's data-plane address (127.x.x.x): its agent listens there, its streams leave from it. */
  address: string;
  /** For the agent process: its Redis and Temporal connections go through this host's proxies. */
  env: Record<string, string>;
  /** Extra `ferry host start` arguments: a fixed data port, and the proxy's port advertised. */
  agentArgs: string[];
  redis: LinkProxy;
  temporal: LinkProxy;
  /** The proxy every stream to this host passes (its port is the one the agent advertises). */
  dataPlane: LinkProxy;
  /** Cuts the host off from the others: its links, and its streams to other hosts, blackholed. */
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

const AddressSchema = z
  .string()
  .regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'a host address must be a loopback address (127.x.x.x)');

/** Every host's links this process opened, by address (a partition also stops streams leaving it). */
const open = new Map<string, HostLinks>();
/** By host name, for faults that are handed host names (see `nameHostLinks`). */
const byName = new Map<string, HostLinks>();

/** Records which host runs on which links, for the faults that look them up by host name. */
export function nameHostLinks(host: string, links: HostLinks): void {
  byName.set(host, links);
}

export class LinksNotFoundError extends FerryError {
  readonly code = 'DRILL_LINKS_NOT_FOUND';
}

/**
 * The links of `host`: named with nameHostLinks, or found by the data-plane address its
 * registration in Redis gives (the drill's cluster opens links by address only).
 */
export async function linksOfHost(redis: Redis, host: string): Promise<HostLinks> {
  const named = byName.get(host);
  if (named) return named;
  const reg = await new HostRegistry(redis).read(host);
  const links = reg ? open.get(reg.address) : undefined;
  if (!links) {
    throw new LinksNotFoundError(
      `host ${host}${reg ? ` (${reg.address})` : ''}: no links of this process lead to it`,
      { hint: 'start its agent with the env and agentArgs of openHostLinks(cfg, address)' },
    );
  }
  byName.set(host, links);
  return links;
}

export async function openHostLinks(cfg: Config, address: string, host?: string): Promise<HostLinks> {
  AddressSchema.parse(address);
  const proxies: LinkProxy[] = [];
  try {
    // The agent finds its services at cfg.bindHost and the ports in its environment.
    const redis = await LinkProxy.open({
      name: `${address}/redis`,
      listen: { host: cfg.bindHost },
      target: { host: cfg.bindHost, port: cfg.redis.port },
    });
    proxies.push(redis);
    const temporal = await LinkProxy.open({
      name: `${address}/temporal`,
      listen: { host: cfg.bindHost },
      target: { host: cfg.bindHost, port: cfg.temporal.port },
    });
    proxies.push(temporal);
    const dataPort = await freePort(address);
    const dataPlane = await LinkProxy.open({
      name: `${address}/data`,
      listen: { host: address },
      target: { host: address, port: dataPort },
    });
    proxies.push(dataPlane);
    const links: HostLinks = {
      address,
      env: {
        FERRY_REDIS_PORT: String(redis.address.port),
        FERRY_TEMPORAL_PORT: String(temporal.address.port),
      },
      agentArgs: ['--data-port', String(dataPort), '--advertise-port', String(dataPlane.address.port)],
      redis,
      temporal,
      dataPlane,
      partition() {
        for (const p of proxies) p.blackhole();
        for (const other of open.values()) if (other !== links) other.dataPlane.blackhole(address);
      },
      heal() {
        for (const p of proxies) p.heal();
        for (const other of open.values()) if (other !== links) other.dataPlane.heal(address);
      },
      async close() {
        open.delete(address);
        for (const [name, l] of byName) if (l === links) byName.delete(name);
        await Promise.all(proxies.map((p) => p.close()));
      },
    };
    open.set(address, links);
    if (host !== undefined) nameHostLinks(host, links);
    return links;
  } catch (err) {
    await Promise.all(proxies.map((p) => p.close()));
    throw err;
  }
}
