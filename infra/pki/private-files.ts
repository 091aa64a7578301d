// Keys, passwords and bundles are readable by their owner only: directories 0700, files 0600.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';

export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function writePrivateFile(path: string, data: string | Buffer): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}
