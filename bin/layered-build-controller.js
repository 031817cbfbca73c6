#!/usr/bin/env node
// Entry point: the compiled CLI when built (the container image), else the
// TypeScript source run by Node 24's type stripping (a checkout).
import { existsSync } from 'node:fs';
const compiled = new URL('../dist/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : new URL('../src/cli.ts', import.meta.url).href);
await main(process.argv);
