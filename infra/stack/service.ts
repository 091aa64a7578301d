import type { DaemonSpec } from '../process/daemon.ts';

export const SERVICE_NAMES = ['redis', 'kafka', 'temporal'] as const;
/** Started only with security on (FERRY_SECURITY=on): Temporal's TLS front. */
export const SECURE_SERVICE_NAMES = ['temporal-front'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number] | (typeof SECURE_SERVICE_NAMES)[number];

/** The answer to one real request (Temporal: namespace describe; Kafka: metadata; Redis: PING). */
export interface Probe {
  answers: boolean;
  version?: string;
  /** One line: what answered, or why it did not. */
  detail: string;
}

/** What the stack needs to know to provision, start and check one service. */
export interface ServiceSpec {
  name: ServiceName;
  host: string;
  /** The port a client uses; "answering here" means the service is up. */
  port: number;
  /** Other ports the process binds (UI, controller), checked for conflicts before a start. */
  otherPorts: number[];
  /** Log and pid file of the process ferry starts. */
  logPath: string;
  pidPath: string;
  /** The version ferry provisions and starts (what `status` reports for a process it owns). */
  version: string;
  /** Ensures binaries/jars are in the cache and system tools are installed. */
  provision(log: (line: string) => void): Promise<void>;
  /** Builds the process to start (after provision); may prepare the service's state dir. */
  daemon(log: (line: string) => void): Promise<DaemonSpec>;
  probe(): Promise<Probe>;
  /**
   * Once it answers (just started or already running, not an external one): sets up inside it what
   * clients need, idempotently (Kafka: ferry's topics and ACLs).
   */
  ready?(log: (line: string) => void): Promise<void>;
  readyTimeoutMs: number;
}
