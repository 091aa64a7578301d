// Types of compiled.mjs for the TypeScript code that starts processes or loads the workflow bundle.
export interface Build {
  /** `.build/<key>/`: the compiled mirror of the source tree. */
  dir: string;
  /** Hash of the sources' paths, sizes and mtimes. */
  key: string;
  /** Hash of what the workflow bundle is made of; workers share a bundle with the same key. */
  workflowKey: string;
  builtAt: string;
}
export const ROOT: string;
export const BUILDS: string;
export function currentBuild(): Promise<Build>;
export function ensureBuilt(): Promise<Build>;
export function runnable(fromUrl: string, relativeTs: string): Promise<string>;
/** The bundle of one of ferry's processes in `build`. */
export function bundlePath(build: Build, name: 'cli' | 'agent' | 'controller' | 'guest'): string;
