/**
 * Starts the real web shell (`node dist/app/web/main.js`) with a fresh data folder, and reads
 * its URL and the engine's process id from what it prints, so tests can open the page and kill
 * the engine like a crash would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningShell {
  url: string;
  port: number;
  token: string;
  dataDir: string;
  /** Engine pids in start order (a restart appends one). */
  enginePids: number[];
  log: string[];
  stop(): Promise<void>;
  waitForEnginePid(count: number, ms?: number): Promise<number>;
}

export async function startShell(extraArgs: string[] = []): Promise<RunningShell> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-e2e-'));
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'dist', 'app', 'web', 'main.js'), '--data-dir', dataDir, ...extraArgs], {
    cwd: root,
    // Pace the tiny model's steps (about a millisecond each on a quiet CPU) so progress can be
    // watched, and a job cancelled or its engine killed, while it runs.
    env: { ...process.env, ATELIER_MIN_STEP_MS: '60' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const enginePids: number[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      log.push(line);
      const pid = /engine process started \(pid (\d+)\)/.exec(line)?.[1];
      if (pid) enginePids.push(Number(pid));
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the web shell printed no URL in 30 s:\n${log.join('\n')}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the web shell exited with code ${code}:\n${log.join('\n')}`)));
  });
  const parsed = new URL(url);
  return {
    url,
    port: Number(parsed.port),
    token: parsed.searchParams.get('token')!,
    dataDir,
    enginePids,
    log,
    async waitForEnginePid(count: number, ms = 30_000) {
      const start = Date.now();
      while (enginePids.length < count) {
        if (Date.now() - start > ms) throw new Error(`engine #${count} did not start:\n${log.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return enginePids[count - 1]!;
    },
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
