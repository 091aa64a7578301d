// `npm start`: for now, bring the stack up and run the smoke migration-of-nothing: a workflow that
// publishes an event to Kafka and takes a lease in Redis through its activities.
import type { Command } from 'commander';
import { loadConfig } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { runSmoke } from '../infra/smoke.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('bring the stack up and show one workflow using Temporal, Kafka and Redis (npm start)')
    .action(async () => {
      const cfg = loadConfig();
      console.log(
        'bringing the stack up (the first time fetches Temporal and Kafka; later starts take seconds)...',
      );
      for (const r of await stackUp(cfg, (l) => console.log(`  ${l}`))) {
        console.log(`  ${r.name.padEnd(8)} ${r.outcome} at ${r.address}`);
      }
      const result = await runSmoke(cfg, (l) => console.log(l));
      console.log(`\nsmoke workflow ${result.workflowId} completed:`);
      console.log(
        `  Temporal: ran on task queue ${result.taskQueue}, history of ${result.historyEvents} events`,
      );
      console.log(
        `  Kafka:    published ${result.event.type} to ${result.event.topic} partition ${result.event.partition} offset ${result.event.offset}, read back by a consumer`,
      );
      console.log(
        `  Redis:    took lease ${result.lease.key} (token ${result.lease.token}, ttl ${result.lease.ttlMs} ms) and released it`,
      );
      console.log(
        '\nthe stack is still running: `npx ferry stack status`, `npx ferry stack down` to stop it.',
      );
    });
}
