// What a ferry Kafka client presents when security is on: TLS that checks the broker against the
// cluster CA and offers the process's certificate (the broker requires one), and its role's SCRAM
// user. Off: nothing, plaintext on loopback as before.
import type { KafkaConfig } from 'kafkajs';
import type { Config } from '../config.ts';
import { processIdentity, type IdentityBundle } from '../pki/index.ts';

export type KafkaClientSecurity = Pick<KafkaConfig, 'ssl' | 'sasl'>;

/** `identity` defaults to the process's own (useIdentity); the stack passes adminIdentity(cfg). */
export function kafkaClientSecurity(cfg: Config, identity?: IdentityBundle): KafkaClientSecurity {
  if (!cfg.security.enabled) return {};
  const id = identity ?? processIdentity(cfg);
  return {
    ssl: { ca: [id.ca], cert: id.cert, key: id.key },
    sasl: {
      mechanism: 'scram-sha-512',
      username: id.credentials.kafka.user,
      password: id.credentials.kafka.password,
    },
  };
}
