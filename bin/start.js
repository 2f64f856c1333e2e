#!/usr/bin/env node
// `npm start`: the desktop app, or, where Electron cannot start (its binary is missing and cannot
// be downloaded, or there is no display), the same UI in a browser through the web shell.
// `npm run web` (or `--web`) goes straight to the web shell. Other flags go to the web shell.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const forceWeb = args.includes('--web');
const shellArgs = args.filter((a) => a !== '--web');

if (!existsSync(path.join(root, 'dist', 'engine', 'host', 'main.js')) || !existsSync(path.join(root, 'dist', 'renderer', 'index.html'))) {
  process.stderr.write('atelier: not built yet; run "npm run build" first\n');
  process.exit(2);
}

/** The Electron executable if it is installed, without triggering its lazy download. */
function electronBinary() {
  let pkgDir;
  try {
    pkgDir = path.dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  const pathFile = path.join(pkgDir, 'path.txt');
  if (!existsSync(pathFile)) return { pkgDir, binary: null };
  const binary = path.join(pkgDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return { pkgDir, binary: existsSync(binary) ? binary : null };
}

function whyNoElectron() {
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)';
  const found = electronBinary();
  if (!found) return 'the electron package is not installed';
  if (found.binary) return null;
  // First run: fetch the binary (as `electron` would on first use), but fail fast when offline.
  const install = spawnSync(process.execPath, [path.join(found.pkgDir, 'install.js')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  if (install.status === 0 && electronBinary()?.binary) return null;
  const reason = String(install.stderr ?? '').split('\n').find((l) => /error/i.test(l)) ?? `exit code ${install.status}`;
  return `its binary is missing and could not be downloaded (${reason.trim().slice(0, 160)})`;
}

const reason = forceWeb ? null : whyNoElectron();
if (!forceWeb && reason === null) {
  const child = spawn(electronBinary().binary, [root, ...shellArgs], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  if (reason) process.stderr.write(`atelier: Electron cannot start here: ${reason}; starting the same UI in your browser instead.\n`);
  const { runWebShell } = await import(new URL('../dist/app/web/main.js', import.meta.url).href);
  await runWebShell(shellArgs);
}
