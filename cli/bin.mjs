#!/usr/bin/env node
// `npx ferry ...` runs the TypeScript sources directly through tsx, so there is no build step
// to remember after `npm ci`.
import { register } from 'tsx/esm/api';
register();
await import('./main.ts');
