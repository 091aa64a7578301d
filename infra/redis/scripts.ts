// Loads the Lua scripts of infra/redis/scripts/ by file name: `<command>-<number of keys>.lua`, or
// `<command>-n.lua` for a script over a variable number of keys (one lease per disk, say).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { replicated } from './replicas.ts';

const DIR = join(import.meta.dirname, 'scripts');

export type ScriptRunner = (keys: string[], args: (string | number)[]) => Promise<unknown>;
type Commands = Record<string, ((...a: (string | number)[]) => Promise<unknown>) | undefined>;

/**
 * Returns a function running the named script atomically (EVALSHA, falling back to EVAL), and,
 * when the client must wait for replicas, only answering once they have its writes (replicas.ts).
 */
export function loadScript(redis: Redis, command: string): ScriptRunner {
  const file = readdirSync(DIR).find((f) => new RegExp(`^${command}-(\\d+|n)\\.lua$`).test(f));
  if (!file) throw new Error(`no Lua script ${command}-N.lua or ${command}-n.lua in ${DIR}`);
  const count = /-(\d+|n)\.lua$/.exec(file)?.[1];
  const variable = count === 'n';
  const numberOfKeys = Number(count);
  const commands = redis as unknown as Commands;
  if (typeof commands[command] !== 'function') {
    const lua = readFileSync(join(DIR, file), 'utf8');
    // Without numberOfKeys, ioredis expects the key count as the command's first argument.
    redis.defineCommand(command, variable ? { lua } : { numberOfKeys, lua });
  }
  return async (keys, args) => {
    if (!variable && keys.length !== numberOfKeys)
      throw new Error(`${command} takes ${numberOfKeys} keys, got ${keys.length}`);
    const reply = variable
      ? await commands[command]!.call(redis, keys.length, ...keys, ...args)
      : await commands[command]!.call(redis, ...keys, ...args);
    await replicated(redis, `${command} on ${keys[0] ?? 'no key'}`);
    return reply;
  };
}
