/**
 * Temporary directories for tests: each is made under the OS temp dir and removed when its test
 * file ends (temp-cleanup.ts, a setup file of the node test project), so a test run leaves
 * nothing behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

export function tempDir(prefix = 'atelier-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory tempDir made so far; one that cannot be removed is left, not fatal. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a file still held open (Windows) keeps its directory; the OS temp dir is its cleaner
    }
  }
}
