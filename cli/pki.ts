// `ferry pki init|issue|show`: the cluster CA and the identities it issues (docs/security.md).
// `issue` is enrolment: run it on the CA machine, copy the bundle directory whole to the host,
// and point FERRY_IDENTITY_DIR at it there.
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../infra/config.ts';
import {
  bundleDir,
  IDENTITY_NAME,
  initCa,
  issueIdentity,
  PkiError,
  readBundle,
  ROLES,
  type IdentityBundle,
} from '../infra/pki/index.ts';
import { enrolIdentityKey } from '../infra/redis/event-keys.ts';
import { jsonFlag, printResult } from './output.ts';

const IssueInput = z.object({
  role: z.enum(ROLES.filter((r) => r !== 'service') as ['host', 'controller', 'operator'], {
    message: 'the role is host, controller or operator',
  }),
  name: z.string().regex(IDENTITY_NAME, 'names are lower-case letters, digits and -, at most 31 characters'),
  san: z.array(z.string()).default([]),
});

function summary(b: IdentityBundle) {
  return {
    role: b.role,
    name: b.name,
    dir: b.dir,
    notAfter: b.notAfter.toISOString(),
    redisUser: b.credentials.redis.user,
    kafkaUser: b.credentials.kafka.user,
    signingKey: b.signingKeyPath !== undefined,
  };
}

export function registerPki(program: Command): void {
  const pki = program
    .command('pki')
    .description("the cluster's certificate authority and the identities it issues");

  pki
    .command('init')
    .description('make the cluster CA in the state dir (once; `stack up` does it when security is on)')
    .option(...jsonFlag('{"created", "certPath"}'))
    .action(async (opts: { json?: boolean }) => {
      const result = await initCa(loadConfig());
      printResult(opts.json, result, () =>
        result.created
          ? `cluster CA made: ${result.certPath}`
          : `cluster CA already there: ${result.certPath}`,
      );
    });

  pki
    .command('issue <role> <name>')
    .description(
      'issue an identity (host, controller or operator) into a bundle directory to copy to its machine',
    )
    .option('--out <dir>', 'where to write the bundle (default: the state dir)')
    .option('--san <name...>', 'extra names in the certificate: DNS:name or IP:address')
    .option(
      ...jsonFlag('{"role", "name", "dir", "notAfter", "redisUser", "kafkaUser", "signingKey", "eventKey"}'),
    )
    .action(async (role: string, name: string, opts: { out?: string; san?: string[]; json?: boolean }) => {
      const input = IssueInput.parse({ role, name, san: opts.san });
      const cfg = loadConfig();
      const bundle = await issueIdentity(
        cfg,
        { role: input.role, name: input.name, sans: input.san },
        opts.out,
      );
      // Enrolment: the key that signs this identity's events goes into the cluster's registry, by
      // the operator (a host cannot enrol itself). Issuing again keeps the key and enrols it again.
      // With security off (nothing is signed yet) a Redis that is not up is only a note.
      let notEnrolled: string | undefined;
      const eventKey = await enrolIdentityKey(cfg, bundle).catch((err: unknown) => {
        notEnrolled = `its event key is not enrolled (${(err as Error).message}): once Redis is up, run \`ferry pki issue ${bundle.role} ${bundle.name}\` again`;
        if (!cfg.security.enabled) return undefined;
        throw new PkiError(`issued ${bundle.role} ${bundle.name} in ${bundle.dir}, but ${notEnrolled}`, {
          cause: err,
        });
      });
      printResult(opts.json, { ...summary(bundle), ...(eventKey ? { eventKey } : {}) }, () =>
        [
          `issued ${bundle.role} ${bundle.name} (valid until ${bundle.notAfter.toISOString()}): ${bundle.dir}`,
          ...(eventKey ? [`its event key ${eventKey} is enrolled: the audit takes the events it signs`] : []),
          ...(notEnrolled ? [notEnrolled] : []),
          `copy that directory to the ${bundle.role}'s machine and set FERRY_IDENTITY_DIR to it there`,
        ].join('\n'),
      );
    });

  pki
    .command('show [dir]')
    .description('check a bundle (default: the operator identity here) and print who it is')
    .option(...jsonFlag('{"role", "name", "dir", "notAfter", "redisUser", "kafkaUser", "signingKey"}'))
    .action((dir: string | undefined, opts: { json?: boolean }) => {
      const cfg = loadConfig();
      const bundle = readBundle(dir ?? cfg.identityDir ?? bundleDir(cfg, 'operator', 'operator'));
      const s = summary(bundle);
      printResult(opts.json, s, () => `${s.role} ${s.name}, valid until ${s.notAfter}, ${s.dir}`);
    });
}
