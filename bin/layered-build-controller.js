#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point: the compiled CLI when built (the container image), else the
// TypeScript source run by Node 24's type stripping (a checkout).
// --max-semi-space-size=4: a small young generation (see the Dockerfile's ENTRYPOINT).
import { existsSync } from 'node:fs';
const compiled = new URL('../dist/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : new URL('../src/cli.ts', import.meta.url).href);
await main(process.argv);
