// The data converter every Temporal client and worker ferry makes is given: with the keyring on
// (cfg.keyring, default as security), payloads go through the AES-256-GCM codec under the codec
// ring's keys; off, undefined, so payloads stay as Temporal's default converter writes them.
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config.ts';
import { createRedis } from '../redis/client.ts';
import { KeyringCache, onDemandRedis } from '../redis/keyring.ts';
import { AesGcmPayloadCodec, type CodecKeys } from './payload-codec.ts';

export function codecKeys(keyrings: KeyringCache): CodecKeys {
  return {
    async current() {
      const { current } = await keyrings.snapshot('codec');
      return { id: current.id, key: current.key };
    },
    async byId(id) {
      const ring = await keyrings.snapshot('codec', id);
      return ring.keys.find((k) => k.id === id)?.key;
    },
  };
}

let processKeyrings: { url: string; cache: KeyringCache } | undefined;

/**
 * This process's copy of the keyrings, for a process with no Redis client of its own to share
 * (the CLI): each read opens a connection and closes it, so a command's process still ends.
 */
export function keyringsOf(cfg: Config): KeyringCache {
  if (processKeyrings?.url !== cfg.redis.url)
    processKeyrings = {
      url: cfg.redis.url,
      cache: new KeyringCache(
        onDemandRedis(() => createRedis(cfg, 'keyring')),
        { create: true },
      ),
    };
  return processKeyrings.cache;
}

export function dataConverter(cfg: Config, keyrings?: KeyringCache): DataConverter | undefined {
  if (!cfg.keyring.enabled) return undefined;
  return { payloadCodecs: [new AesGcmPayloadCodec(codecKeys(keyrings ?? keyringsOf(cfg)))] };
}
