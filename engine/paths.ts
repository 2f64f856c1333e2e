/**
 * Where things live: the package root (found by walking up to Atelier's package.json, so it works
 * from sources under vitest and from dist/ alike), the embedded default model, and the user's
 * data folder per platform conventions.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'atelier') return (root = dir);
      } catch {
        // not ours; keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the Atelier package root');
    dir = parent;
  }
}

/**
 * A path native code can open: inside a packaged desktop app, files under app.asar are virtual
 * (only Electron's fs sees them), and electron-builder unpacks the models to app.asar.unpacked.
 */
export function unpackedPath(p: string): string {
  return p.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
}

/**
 * The tiny Kontext-like model trained by the zoo, which ships with the app.
 * `ATELIER_EMBEDDED_MODEL` points it elsewhere (development and tests).
 */
export function embeddedModelDir(): string {
  const override = process.env.ATELIER_EMBEDDED_MODEL;
  if (override) return path.resolve(override);
  return unpackedPath(path.join(packageRoot(), 'models', 'tiny', 'kontext'));
}

/** The user's data folder: outputs, models, libraries, keys. `ATELIER_DATA_DIR` overrides it. */
export function defaultDataDir(): string {
  const override = process.env.ATELIER_DATA_DIR;
  if (override) return path.resolve(override);
  const home = os.homedir();
  switch (process.platform) {
    case 'win32':
      return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Atelier');
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'Atelier');
    default:
      return path.join(process.env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'atelier');
  }
}
