#!/usr/bin/env node
// `npm run bench -- <suite> [--json]`: runs the compiled bench harness (dist/engine/bench/main.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/engine/bench/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('bench: not built yet; run "npm run build" first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
