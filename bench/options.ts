// A bench's `name=value` arguments (the runner passes on the positionals only), checked against the
// bench's zod object schema: an unknown name or a bad value is one line that names the bench and
// what it takes.
import { z } from 'zod';

export function parseBenchOptions<S extends z.ZodObject>(
  bench: string,
  schema: S,
  args: string[],
): z.output<S> {
  const names = Object.keys(schema.shape);
  const given: Record<string, string> = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    const name = at > 0 ? arg.slice(0, at) : '';
    if (!names.includes(name)) {
      throw new Error(`${bench}: expected ${names.map((n) => `${n}=…`).join(', ')}; got ${arg}`);
    }
    given[name] = arg.slice(at + 1);
  }
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${bench}: ${issue?.path.join('.') ?? 'options'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
