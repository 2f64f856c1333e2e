/**
 * `atelier web` / `npm run web`: starts the web shell and prints its URL (with the per-run
 * token) on one line. Flags: --port N (default: a free port), --data-dir DIR, --models DIR[,DIR],
 * --open (open the default browser).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDecimal } from '../../engine/cli/usage.js';
import { packageRoot } from '../../engine/paths.js';
import { forkEngineSpawner } from './fork-engine.js';
import { startWebShell } from './server.js';

function fail(message: string): never {
  process.stderr.write(`atelier web: ${message}\n`);
  process.exit(2);
}

function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`atelier web: could not open a browser; open the URL above yourself\n`));
  child.unref();
}

export async function runWebShell(argv: string[]): Promise<void> {
  let values: { port?: string; 'data-dir'?: string; models?: string; open?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { port: { type: 'string' }, 'data-dir': { type: 'string' }, models: { type: 'string' }, open: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const port = values.port === undefined ? 0 : parseDecimal(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  const rendererDir = path.join(packageRoot(), 'dist', 'renderer');
  if (!existsSync(path.join(rendererDir, 'index.html'))) fail(`${rendererDir}/index.html not found: run "npm run build" first`);
  const engineArgs = [
    ...(values['data-dir'] ? ['--data-dir', path.resolve(values['data-dir'])] : []),
    ...(values.models ? ['--models', values.models.split(',').map((d) => path.resolve(d)).join(',')] : []),
  ];
  let shell;
  try {
    shell = await startWebShell({ rendererDir, spawnEngine: forkEngineSpawner(engineArgs), port, log: (line) => process.stderr.write(`atelier web: ${line}\n`) });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  process.stdout.write(`Atelier is running at ${shell.url}\n`);
  if (values.open) openBrowser(shell.url);
  const stop = () => {
    void shell.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) void runWebShell(process.argv.slice(2));
