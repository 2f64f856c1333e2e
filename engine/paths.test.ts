import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packageRoot, unpackedPath } from './paths.js';

describe('paths', () => {
  it('finds the package root from sources and dist alike', async () => {
    const root = packageRoot();
    expect((JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string }).name).toBe('atelier');
    expect(existsSync(path.join(root, 'engine', 'paths.ts'))).toBe(true);
    // The built copy (dist/engine/paths.js, one level deeper) walks up to the same root.
    const built = path.join(root, 'dist', 'engine', 'paths.js');
    if (!existsSync(built)) throw new Error(`${built} is missing: run "npm run build" before the tests`);
    const fromDist = (await import(pathToFileURL(built).href)) as { packageRoot: () => string };
    expect(fromDist.packageRoot()).toBe(root);
  });

  it('maps paths inside app.asar to the unpacked copy native code can read', () => {
    expect(unpackedPath('/opt/Atelier/resources/app.asar/models/tiny/kontext')).toBe('/opt/Atelier/resources/app.asar.unpacked/models/tiny/kontext');
    expect(unpackedPath('C:\\Atelier\\resources\\app.asar\\models')).toBe('C:\\Atelier\\resources\\app.asar.unpacked\\models');
    expect(unpackedPath('/home/me/atelier/models')).toBe('/home/me/atelier/models');
  });
});
