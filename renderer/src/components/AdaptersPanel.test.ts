/**
 * The adapters panel against the fake engine: adding a file (inspectAdapter with its bytes),
 * a fully matching file switched on at once, a partial one added off with its coverage shown and
 * applied with allowPartial when switched on, weight and mode changes sending the whole list,
 * removal, a bad file's error, and the list following the engine's adaptersChanged.
 */
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdapterInfo } from '../engine/protocol.js';
import { FakeEngine } from '../../test/fake-engine.js';
import { byTestId, mountApp, text, unmountAll } from '../../test/harness.js';

afterEach(unmountAll);

function info(id: string, name: string, mapped: number, targets: number): AdapterInfo {
  const complete = mapped === targets;
  return {
    id,
    name,
    bytes: 1024,
    format: 'kohya',
    kinds: ['lora'],
    ranks: [8],
    targets,
    components: ['denoiser'],
    coverage: {
      targets,
      mapped,
      complete,
      entries: complete ? [] : [{ component: 'denoiser', module: 'transformer_blocks.9.attn.to_q', sourceModule: 'lora_unet_transformer_blocks_9_attn_to_q', mapped: false, graph: null, weight: null, reason: 'no module transformer_blocks.9.attn.to_q in the graph' }],
      unusedKeys: [],
      summary: `${mapped} of ${targets} targets mapped`,
      truncated: false,
    },
  };
}

function engineWithAdapters(): FakeEngine {
  const engine = new FakeEngine();
  engine.adapterInfos.set('style.safetensors', info('aaaaaaaaaaaaaaaa', 'style.safetensors', 4, 4));
  engine.adapterInfos.set('partial.safetensors', info('bbbbbbbbbbbbbbbb', 'partial.safetensors', 3, 4));
  return engine;
}

async function addFile(name: string): Promise<void> {
  const input = byTestId<HTMLInputElement>('adapter-file-input');
  await fireEvent.change(input, { target: { files: [new File([new Uint8Array([1, 2, 3])], name)] } });
}

describe('adapters panel', () => {
  it('adds a matching file switched on, changes its weight and mode, removes it', async () => {
    const { engine } = await mountApp(engineWithAdapters());
    await addFile('style.safetensors');
    await waitFor(() => expect(screen.getAllByTestId('adapter')).toHaveLength(1));
    expect(text('adapter-meta')).toBe('kohya · rank 8 · 4 layers');
    expect(byTestId<HTMLInputElement>('adapter-enabled').checked).toBe(true);
    expect(screen.queryByTestId('adapter-coverage')).toBeNull();
    await waitFor(() => expect(engine.adapterCalls).toEqual([[{ id: 'aaaaaaaaaaaaaaaa', enabled: true, weight: 1, mode: 'live' }]]));
    const inspect = engine.requests.find((r) => r.method === 'inspectAdapter')!;
    expect(Array.from((inspect.params as { bytes: Uint8Array }).bytes)).toEqual([1, 2, 3]);

    const slider = byTestId<HTMLInputElement>('adapter-weight');
    await fireEvent.input(slider, { target: { value: '0.5' } });
    expect(text('adapter-weight-value')).toBe('0.50');
    expect(engine.adapterCalls).toHaveLength(1); // nothing sent while dragging
    await fireEvent.change(slider, { target: { value: '0.5' } });
    await waitFor(() => expect(engine.adapterCalls.at(-1)).toEqual([{ id: 'aaaaaaaaaaaaaaaa', enabled: true, weight: 0.5, mode: 'live' }]));
    await fireEvent.change(byTestId('adapter-mode'), { target: { value: 'bake' } });
    await waitFor(() => expect(engine.adapterCalls.at(-1)).toEqual([{ id: 'aaaaaaaaaaaaaaaa', enabled: true, weight: 0.5, mode: 'bake' }]));
    await fireEvent.click(byTestId('adapter-remove'));
    await waitFor(() => expect(engine.adapterCalls.at(-1)).toEqual([]));
    expect(screen.queryAllByTestId('adapter')).toHaveLength(0);
  });

  it('adds a partial file switched off with its coverage; switching it on allows the partial fit', async () => {
    const { engine } = await mountApp(engineWithAdapters());
    await addFile('partial.safetensors');
    await waitFor(() => expect(screen.getAllByTestId('adapter')).toHaveLength(1));
    expect(byTestId<HTMLInputElement>('adapter-enabled').checked).toBe(false);
    expect(text('adapter-coverage')).toMatch(/^3 of 4 layers match this model lora_unet_transformer_blocks_9_attn_to_q: no module transformer_blocks\.9\.attn\.to_q in the graph$/);
    expect(engine.adapterCalls).toEqual([]);
    await fireEvent.click(byTestId('adapter-enabled'));
    await waitFor(() => expect(engine.adapterCalls).toEqual([[{ id: 'bbbbbbbbbbbbbbbb', enabled: true, weight: 1, mode: 'live', allowPartial: true }]]));
  });

  it('shows why a file cannot be read, and follows the engine when it clears the list', async () => {
    const { engine } = await mountApp(engineWithAdapters());
    await addFile('notes.safetensors');
    await waitFor(() => expect(text('adapter-error')).toMatch(/^notes\.safetensors: notes\.safetensors: not a valid safetensors file/));
    await addFile('style.safetensors');
    await waitFor(() => expect(screen.getAllByTestId('adapter')).toHaveLength(1));
    engine.emit('adaptersChanged', { adapters: [] });
    await waitFor(() => expect(screen.queryAllByTestId('adapter')).toHaveLength(0));
  });

  it('sends one list at a time (newest wins), and a failure goes back to the engine\'s list', async () => {
    const engine = engineWithAdapters();
    const { app } = await mountApp(engine);
    await addFile('style.safetensors');
    await waitFor(() => expect(engine.adapterCalls).toHaveLength(1));
    // a slow bake: the engine answers when the test says so
    const pending: Array<() => void> = [];
    // like the real engine, it reports the new list (adaptersChanged) before its reply
    engine.overrides.setAdapters = (p) =>
      new Promise((resolve) => {
        engine.adapterCalls.push(p.adapters.map((a) => ({ ...a })));
        pending.push(() => {
          const adapters = p.adapters.map((a) => ({ ...a, name: 'style.safetensors', perToken: false, allowPartial: false }));
          engine.emit('adaptersChanged', { adapters });
          resolve({ adapters });
        });
      });
    const slider = byTestId<HTMLInputElement>('adapter-weight');
    for (const value of ['0.5', '0.6', '0.7']) await fireEvent.change(slider, { target: { value } });
    await waitFor(() => expect(engine.adapterCalls).toHaveLength(2));
    expect(engine.adapterCalls[1]![0]!.weight).toBe(0.5);
    pending.shift()!();
    await waitFor(() => expect(engine.adapterCalls).toHaveLength(3)); // the two later changes, as one list
    expect(engine.adapterCalls[2]![0]!.weight).toBe(0.7);
    expect(text('adapter-weight-value')).toBe('0.70'); // the engine's report of the 0.5 list did not undo it
    // the next call fails: the panel returns to what the engine last reported (0.7), not to 1.5
    pending.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(engine.adapterCalls).toHaveLength(3);
    expect(text('adapter-weight-value')).toBe('0.70');
    const failing = new Promise<void>((resolve) => (engine.overrides.setAdapters = () => {
      resolve();
      throw new Error('out of memory while baking');
    }));
    await fireEvent.change(slider, { target: { value: '1.5' } });
    await failing;
    await waitFor(() => expect(text('adapter-weight-value')).toBe('0.70')); // the engine's last list
    expect(app.adapters.error).toMatch(/out of memory/);
  });
});
