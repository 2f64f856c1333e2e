import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot, unpackedPath } from './paths.js';

describe('paths', () => {
  it('finds the package root from sources and dist alike', () => {
    expect(path.basename(packageRoot())).toBeTruthy();
  });

  it('maps paths inside app.asar to the unpacked copy native code can read', () => {
    expect(unpackedPath('/opt/Atelier/resources/app.asar/models/tiny/kontext')).toBe('/opt/Atelier/resources/app.asar.unpacked/models/tiny/kontext');
    expect(unpackedPath('C:\\Atelier\\resources\\app.asar\\models')).toBe('C:\\Atelier\\resources\\app.asar.unpacked\\models');
    expect(unpackedPath('/home/me/atelier/models')).toBe('/home/me/atelier/models');
  });
});
