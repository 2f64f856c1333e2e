/** The engine's version, read once from the package manifest. */
import { readFileSync } from 'node:fs';
import { packageRoot } from './paths.js';
import path from 'node:path';

let cached: string | null = null;

export function engineVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    cached = pkg.version ?? '0.0.0';
  }
  return cached;
}
