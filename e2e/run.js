#!/usr/bin/env node
// `npm run test:e2e`: the end-to-end suites (e2e/vitest.config.ts) on the built app.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

if (!existsSync(fileURLToPath(new URL('../dist/renderer/index.html', import.meta.url)))) {
  process.stderr.write('e2e: the app is not built; run "npm run build" first\n');
  process.exit(2);
}
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const result = spawnSync(process.execPath, [vitest, 'run', '--config', 'e2e/vitest.config.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
