/**
 * CLI tests: captures what `main` writes to stdout and stderr during each test (registered as
 * beforeEach/afterEach hooks of the calling file or describe block); the arrays are emptied
 * before every test.
 */
import { afterEach, beforeEach, vi } from 'vitest';

export function captureCliOutput(): { stdout: string[]; stderr: string[] } {
  const captured = { stdout: [] as string[], stderr: [] as string[] };
  beforeEach(() => {
    captured.stdout.length = 0;
    captured.stderr.length = 0;
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (captured.stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (captured.stderr.push(String(chunk)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  return captured;
}
