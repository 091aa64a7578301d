// The tunnel with mutual TLS against the tunnel in plain TCP, in the same run with the same bytes:
// a savevm stream (one page in sixteen zero) from a fake source guest through the source tunnel,
// then TCP or TLS 1.3, then the destination tunnel in a worker thread of its own (an agent is a
// process of its own: the source encrypts on one core while the destination decrypts on another),
// then the destination guest's socket. Both ends parse the stream, as agents do.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../infra/config.ts';
import { issueIdentitySync } from '../infra/pki/index.ts';
import { openSourceTunnel } from '../hosts/tunnel/source.ts';
import type { TunnelTls } from '../hosts/tunnel/tls.ts';
import type { DestinationMessage } from './tunnel-destination-worker.ts';
import { streamOf } from './tunnel-throughput.ts';

const WORKER = pathToFileURL(join(import.meta.dirname, 'tunnel-destination-worker.ts')).href;
const BOOTSTRAP = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER)}); });`;
/** A tunnel that has not carried the stream in this long is stuck, not slow. */
const ROUND_TIMEOUT_MS = 120_000;

export interface TlsThroughput {
  /** Medians over the rounds, MB/s. */
  tlsTunnelMBps: number;
  plainTunnelMBps: number;
  /** The median of each round's tls / plain. */
  ratio: number;
  ratios: number[];
  /** The suite the TLS rounds negotiated, e.g. TLS_AES_256_GCM_SHA384. */
  cipher: string;
  /**
   * CPU seconds (both agents' threads, user + system) per GB carried, medians: what TLS costs in
   * work, which a loaded machine's wall-clock figures hide.
   */
  tlsCpuSecondsPerGB: number;
  plainCpuSecondsPerGB: number;
}

/** `rounds` rounds of plain then TLS, back to back, so each round's ratio shares the machine's load. */
export async function measureTlsThroughput(sizeBytes: number, rounds = 5): Promise<TlsThroughput> {
  const chunks = streamOf(sizeBytes);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-pki-'));
  try {
    // Identities of a throwaway cluster CA, made by ferry's own PKI.
    const cfg = loadConfig({ ...process.env, FERRY_STATE_DIR: dir });
    const identity = (name: string): TunnelTls => {
      const b = issueIdentitySync({ ...cfg, identityDir: undefined }, { role: 'host', name });
      return { ca: b.ca, cert: b.cert, key: b.key };
    };
    const source = identity('bench-src');
    const destination = identity('bench-dst');
    const plain: number[] = [];
    const tls: number[] = [];
    const ratios: number[] = [];
    const plainCpu: number[] = [];
    const tlsCpu: number[] = [];
    let cipher = '';
    for (let i = 0; i < rounds; i++) {
      const p = await carry(chunks, bytes, dir);
      const t = await carry(chunks, bytes, dir, { source, destination });
      cipher = t.cipher;
      plain.push(bytes / 1e6 / p.seconds);
      tls.push(bytes / 1e6 / t.seconds);
      ratios.push(round3(p.seconds / t.seconds));
      plainCpu.push(p.cpuSeconds / (bytes / 1e9));
      tlsCpu.push(t.cpuSeconds / (bytes / 1e9));
    }
    return {
      tlsTunnelMBps: round1(median(tls)),
      plainTunnelMBps: round1(median(plain)),
      ratio: median(ratios),
      ratios,
      cipher,
      tlsCpuSecondsPerGB: round3(median(tlsCpu)),
      plainCpuSecondsPerGB: round3(median(plainCpu)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function carry(
  chunks: Buffer[],
  bytes: number,
  dir: string,
  tls?: { source: TunnelTls; destination: TunnelTls },
): Promise<{ seconds: number; cpuSeconds: number; cipher: string }> {
  // A worker does not inherit the tsx loader: it registers it, then loads the TypeScript file.
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { bytes, peer: 'bench-src', ...(tls ? { tls: tls.destination } : {}) },
  });
  const messages: DestinationMessage[] = [];
  let wake: (() => void) | undefined;
  let exited: Error | null = null;
  worker.on('message', (m: DestinationMessage) => {
    messages.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    exited = err;
    wake?.();
  });
  const next = async (type: DestinationMessage['type']): Promise<DestinationMessage> => {
    const deadline = performance.now() + ROUND_TIMEOUT_MS;
    for (;;) {
      const failed = messages.find((m) => m.type === 'failed');
      if (failed?.type === 'failed') throw new Error(`bench destination: ${failed.message}`);
      if (exited) throw exited;
      const m = messages.find((x) => x.type === type);
      if (m) return m;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`bench destination: no '${type}' within ${ROUND_TIMEOUT_MS} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  };
  let guest: Socket | undefined;
  try {
    const ticket = await next('ticket');
    if (ticket.type !== 'ticket') throw new Error('unreachable');
    const tunnel = await openSourceTunnel({
      migrationId: ticket.migrationId,
      vm: 'bench',
      socketPath: join(dir, `src-${randomUUID()}.sock`),
      destination: ticket.address,
      token: ticket.token,
      ...(tls ? { tls: tls.source, peer: 'bench-dst' } : {}),
    });
    const cipher = tunnel.cipher ?? 'none';
    guest = connect({ path: tunnel.socketPath });
    await new Promise((r) => guest!.once('connect', r));
    const started = performance.now();
    const cpu = process.cpuUsage(); // the whole process: this thread and the destination's worker
    await send(guest, chunks);
    const done = await next('done');
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const sent = await tunnel.completion;
    if (done.type !== 'done' || done.bytes !== bytes || sent.bytes.toDestination !== bytes) {
      throw new Error(`the tunnel carried ${done.type === 'done' ? done.bytes : '?'} of ${bytes} bytes`);
    }
    return { seconds, cpuSeconds: (used.user + used.system) / 1e6, cipher };
  } finally {
    guest?.destroy();
    await worker.terminate();
  }
}

async function send(socket: Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (!socket.write(c)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
