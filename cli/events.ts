// `ferry events tail [--vm VM] [--from-beginning] [--json]`: follows the event log, one line per
// event; a message that is not a valid event goes to the dead-letter topic and gets a note on
// stderr. Runs until Ctrl-C.
import type { Command } from 'commander';
import { z } from 'zod';
import { DEAD_LETTER_TOPIC, DeadLetters } from '../events/dead-letter.ts';
import { followLog } from '../events/follow.ts';
import { formatEvent } from '../events/format.ts';
import { EVENTS_TOPIC, VmNameSchema } from '../protocol/events.ts';
import { loadConfig } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { collectVms, TopicSchema } from './log-options.ts';

const TailOptions = z.object({
  vms: z.array(VmNameSchema).default([]),
  fromBeginning: z.boolean().default(false),
  json: z.boolean().default(false),
  topic: TopicSchema.default(EVENTS_TOPIC),
  deadLetterTopic: TopicSchema.default(DEAD_LETTER_TOPIC),
});

export function registerEvents(program: Command): void {
  const events = program.command('events').description('read the event log');
  events
    .command('tail')
    .description('follow the event log, one line per event (Ctrl-C stops)')
    .option('--vm <vm>', 'only this VM (repeat, or comma-separated)', collectVms)
    .option('--from-beginning', 'start at the beginning of the log, not at its end')
    .option('--json', 'print each event as its JSON')
    .option('--topic <topic>', 'the event log topic')
    .option('--dead-letter-topic <topic>', 'where messages that are not valid events go')
    .action(async (raw: Record<string, unknown>) => {
      const o = TailOptions.parse({
        ...raw,
        vms: raw.vm,
        fromBeginning: raw.fromBeginning === true,
        json: raw.json === true,
      });
      const kafka = createKafka(loadConfig(), 'ferry-tail', createLogger('ferry-tail', 'error'));
      const deadLetters = await DeadLetters.open(kafka, o.deadLetterTopic);
      const follower = await followLog(
        kafka,
        {
          topic: o.topic,
          fromBeginning: o.fromBeginning,
          deadLetters,
          // Following a VM, the hosts' own starts and stops are noise.
          ...(o.vms.length > 0 ? { vms: new Set(o.vms), hostEvents: false } : {}),
        },
        {
          event: (e) => console.log(o.json ? JSON.stringify(e) : formatEvent(e)),
          rejected: (r) =>
            process.stderr.write(
              `ferry: ${r.topic}/${r.partition}@${r.offset} is not a valid event (${r.reason}); ` +
                (r.deadLettered
                  ? `sent to ${deadLetters.topic}\n`
                  : `could not reach ${deadLetters.topic}\n`),
            ),
        },
      );
      if (!o.json)
        process.stderr.write(
          `following ${o.topic}${o.fromBeginning ? ' from its beginning' : ''} (Ctrl-C stops)\n`,
        );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await follower.stop();
      await deadLetters.close();
    });
}
