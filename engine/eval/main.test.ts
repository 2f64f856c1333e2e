/**
 * `npm run eval`'s flag handling: a usage error names what is wrong and exits 2 before any model
 * is loaded.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

describe('eval main', () => {
  afterEach(() => vi.restoreAllMocks());

  const run = async (argv: string[]) => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const code = await main(argv);
    return { code, text: lines.join('') };
  };

  it('names the suites when none or an unknown one is given', async () => {
    expect(await run([])).toEqual({ code: 2, text: expect.stringContaining('name a suite; suites: base, watermark, slideredit') });
    expect(await run(['nosuch'])).toEqual({ code: 2, text: expect.stringContaining('unknown suite "nosuch"') });
  });

  it('takes --sweeps only for the slideredit suite', async () => {
    expect(await run(['base', '--sweeps', 'sweeps.json'])).toEqual({ code: 2, text: expect.stringContaining('--sweeps is for the slideredit suite') });
  });
});
