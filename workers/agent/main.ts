// The host agent process: `node .build/KEY/bundle/agent.js --name N --address A [--advertise B] --memory M`
// (the compiled build, see infra/build/compiled.mjs).
// `ferry host start --detach` runs it in the background with its log in the host's state dir.
import { parseArgs } from 'node:util';
import { reportAndExit } from '../../errors/report.ts';
import { loadConfig } from '../../infra/config.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { stopOnSignal } from '../../infra/process/stop-on-signal.ts';
import { usePrivateUmask } from '../../infra/process/private-umask.ts';
import { HostAgent } from './agent.ts';
import { useIdentity } from '../../infra/pki/index.ts';
import { AgentArgsSchema } from '../../hosts/agent/agent-args.ts';
import { checkCertificateName } from '../../hosts/agent/identity.ts';

// Everything this process and its children make is for this user only (0700 / 0600).
usePrivateUmask();
try {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      address: { type: 'string' },
      advertise: { type: 'string' },
      memory: { type: 'string' },
      'data-port': { type: 'string' },
      'advertise-port': { type: 'string' },
      'guest-runner': { type: 'boolean' },
    },
    strict: true,
  });
  const args = AgentArgsSchema.parse({
    name: values.name,
    address: values.address,
    advertise: values.advertise,
    memoryMiB: values.memory,
    dataPort: values['data-port'],
    advertisePort: values['advertise-port'],
    guestRunner: values['guest-runner'],
  });
  // Every client this agent opens presents the host's certificate when security is on.
  useIdentity('host', args.name);
  const cfg = loadConfig();
  checkCertificateName(cfg, args.name);
  const log = createLogger(`agent ${args.name}`);
  const agent = await HostAgent.start(cfg, args, log);
  stopOnSignal(log, () => agent.stop());
} catch (err) {
  reportAndExit(err);
}
