/**
 * The adapter methods' schemas: inspectAdapter takes bytes with a name or a path, nothing else;
 * setAdapters takes at most MAX_ADAPTERS strict settings with bounded weights; the coverage sent
 * to clients is bounded while its counts stay complete.
 */
import { describe, expect, it } from 'vitest';
import { MAX_ADAPTERS, MAX_COVERAGE_ROWS, methods } from '../protocol/index.js';
import { coverageForWire } from './info.js';
import type { CoverageReport } from './coverage.js';

const setting = { id: 'abcdef0123456789', enabled: true, weight: 0.5, mode: 'live' as const };

describe('adapter protocol', () => {
  it('validates inspectAdapter and setAdapters params', () => {
    const inspect = methods.inspectAdapter.params;
    expect(inspect.safeParse({ name: 'a.safetensors', bytes: new Uint8Array(3) }).success).toBe(true);
    expect(inspect.safeParse({ path: '/x/a.safetensors' }).success).toBe(true);
    expect(inspect.safeParse({ name: 'a', bytes: [1, 2] }).success).toBe(false);
    expect(inspect.safeParse({ path: '/x', extra: 1 }).success).toBe(false);
    const set = methods.setAdapters.params;
    expect(set.safeParse({ adapters: [setting, { ...setting, id: 'b', mode: 'bake', perToken: false, allowPartial: true }] }).success).toBe(true);
    expect(set.safeParse({ adapters: [{ ...setting, weight: 17 }] }).success).toBe(false);
    expect(set.safeParse({ adapters: [{ ...setting, mode: 'merge' }] }).success).toBe(false);
    expect(set.safeParse({ adapters: [{ ...setting, scale: 1 }] }).success).toBe(false);
    expect(set.safeParse({ adapters: Array.from({ length: MAX_ADAPTERS + 1 }, (_, i) => ({ ...setting, id: `a${i}` })) }).success).toBe(false);
  });

  it('bounds the coverage rows sent to clients, unmapped first, counts complete', () => {
    const entries = Array.from({ length: MAX_COVERAGE_ROWS + 10 }, (_, i) => ({ component: 'denoiser' as const, module: `m${i}`, sourceModule: `m${i}`, keys: [], mapped: i !== 505, graph: null, node: null, weight: null, reason: i === 505 ? 'no module m505 in the graph' : null }));
    const report: CoverageReport = { file: 'f', format: 'peft', kinds: ['lora'], ranks: [4], targets: entries.length, mapped: entries.length - 1, complete: false, entries, unusedKeys: [], graphs: [] };
    const wire = coverageForWire(report);
    expect(wire.entries).toHaveLength(MAX_COVERAGE_ROWS);
    expect(wire.entries[0]).toMatchObject({ module: 'm505', mapped: false });
    expect(wire).toMatchObject({ targets: MAX_COVERAGE_ROWS + 10, mapped: MAX_COVERAGE_ROWS + 9, truncated: true, summary: `${MAX_COVERAGE_ROWS + 9} of ${MAX_COVERAGE_ROWS + 10} targets mapped; no module m505 in the graph` });
  });
});
