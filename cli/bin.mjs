#!/usr/bin/env node
// `npx ferry ...`: runs the compiled bundle of cli/main.ts, compiling the sources first when they
// changed since the last build (infra/build/compiled.mjs), so there is no build step to remember
// and a command starts in tens of milliseconds instead of seconds.
import { pathToFileURL } from 'node:url';
import { bundlePath, ensureBuilt } from '../infra/build/compiled.mjs';

const build = await ensureBuilt();
await import(pathToFileURL(bundlePath(build, 'cli')).href);
