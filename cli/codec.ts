// `ferry codec serve [--address 127.0.0.1:PORT]`: Temporal's remote codec for the Temporal UI and
// `temporal --codec-endpoint`, so an operator reads the payloads the codec encrypted
// (infra/temporal/codec-server.ts). `ferry stack up` gives the UI this endpoint when the keyring is
// on (FERRY_CODEC_PORT). Runs in the foreground until interrupted.
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../infra/config.ts';
import { KeyringError } from '../infra/redis/keyring.ts';
import { serveCodec, uiOrigins } from '../infra/temporal/codec-server.ts';
import { dataConverter } from '../infra/temporal/data-converter.ts';

const Address = z
  .string()
  .regex(
    /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost):\d{1,5}$/,
    'must be a loopback host:port such as 127.0.0.1:8234 (the codec decrypts for whoever reaches it)',
  );

export function registerCodec(program: Command): void {
  const codec = program
    .command('codec')
    .description('serve the payload codec to the Temporal UI, so operators read encrypted payloads');
  codec
    .command('serve')
    .description(
      'POST /decode and /encode (Temporal remote codec) on loopback, CORS for the UI, until interrupted',
    )
    .option('--address <host:port>', 'where to listen (loopback only)')
    .action(async (opts: { address?: string }) => {
      const cfg = loadConfig();
      const [host, port] = Address.parse(opts.address ?? `127.0.0.1:${cfg.codec.port}`).split(':') as [
        string,
        string,
      ];
      const converter = dataConverter(cfg);
      const payloadCodec = converter?.payloadCodecs?.[0];
      if (payloadCodec === undefined)
        throw new KeyringError(
          'the keyring is off, so no payload is encrypted and there is nothing to decode',
          {
            hint: 'set FERRY_KEYRING=on (or FERRY_SECURITY=on), as for the rest of the cluster',
          },
        );
      const { server, address } = await serveCodec(payloadCodec, {
        host,
        port: Number(port),
        origins: uiOrigins(cfg),
      });
      console.log(
        `codec serving on http://${address.address}:${address.port} (for the UI at ${uiOrigins(cfg)[0]})`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
