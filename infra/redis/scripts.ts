// Loads the Lua scripts of infra/redis/scripts/ by file name: `<command>-<number of keys>.lua`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

const DIR = join(import.meta.dirname, 'scripts');

export type ScriptRunner = (keys: string[], args: (string | number)[]) => Promise<unknown>;
type Commands = Record<string, ((...a: (string | number)[]) => Promise<unknown>) | undefined>;

/** Returns a function running the named script atomically (EVALSHA, falling back to EVAL). */
export function loadScript(redis: Redis, command: string): ScriptRunner {
  const file = readdirSync(DIR).find((f) => new RegExp(`^${command}-\\d+\\.lua$`).test(f));
  if (!file) throw new Error(`no Lua script ${command}-N.lua in ${DIR}`);
  const numberOfKeys = Number(/-(\d+)\.lua$/.exec(file)?.[1]);
  const commands = redis as unknown as Commands;
  if (typeof commands[command] !== 'function') {
    redis.defineCommand(command, { numberOfKeys, lua: readFileSync(join(DIR, file), 'utf8') });
  }
  return (keys, args) => {
    if (keys.length !== numberOfKeys)
      throw new Error(`${command} takes ${numberOfKeys} keys, got ${keys.length}`);
    return commands[command]!.call(redis, ...keys, ...args);
  };
}
