// Log lines meant for a person at 3 a.m.: time, level, component, message, then key=value
// context (vm, host, phase...). One line per event, to stderr, so stdout stays for results.
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(
  component: string,
  minLevel: LogLevel = 'info',
  write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Logger {
  const min = LOG_LEVELS.indexOf(minLevel);
  const emit = (level: LogLevel) => (message: string, context?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const fields = Object.entries(context ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    write(
      `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${component}] ${message}${fields ? ' ' + fields : ''}`,
    );
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (sub) => createLogger(`${component}/${sub}`, minLevel, write),
  };
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? 'undefined';
}
