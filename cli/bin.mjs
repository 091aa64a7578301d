#!/usr/bin/env node
// `npx ferry ...`: runs the compiled JavaScript of cli/main.ts, compiling the sources first when
// they changed since the last build (infra/build/compiled.mjs), so there is no build step to
// remember and a command starts in tens of milliseconds instead of seconds.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt } from '../infra/build/compiled.mjs';

const build = await ensureBuilt();
await import(pathToFileURL(join(build.dir, 'cli', 'main.js')).href);
