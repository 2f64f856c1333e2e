/** Import model: the dialog against the in-memory engine (valid folder, bad folder, native dialog). */
import { fireEvent, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BIG_MODEL, FakeEngine } from '../../test/fake-engine.js';
import { byTestId, mountApp, toastTexts, unmountAll } from '../../test/harness.js';
import type { MethodResult, ModelInfo } from '../engine/protocol.js';

afterEach(unmountAll);

const IMPORTED: ModelInfo = { ...BIG_MODEL, id: 'my-flux', name: 'my-flux', path: '/models/my-flux', embedded: false };

function report(overrides: Partial<MethodResult<'importModel'>>): MethodResult<'importModel'> {
  return { ok: false, dir: '/models/x', layout: 'none', found: [], problems: [], notes: [], model: null, ...overrides };
}

async function openDialog(): Promise<void> {
  await fireEvent.click(byTestId('import-model'));
  await waitFor(() => expect(byTestId('import-model-dialog')).toBeTruthy());
}

async function submit(path: string): Promise<void> {
  await fireEvent.input(byTestId<HTMLInputElement>('import-model-path'), { target: { value: path } });
  await fireEvent.click(byTestId('import-model-submit'));
}

describe('Import model', () => {
  it('imports a usable folder, adds it to the picker and loads it', async () => {
    const engine = new FakeEngine();
    engine.overrides.importModel = (params) => {
      engine.models = [...engine.models, IMPORTED];
      return report({ ok: true, dir: params.path, layout: 'optimum-flux', found: ['transformer/model.onnx'], model: IMPORTED });
    };
    await mountApp(engine);
    await openDialog();
    await submit('/models/my-flux');
    await waitFor(() => expect(document.querySelector('[data-testid="import-model-dialog"]')).toBeNull());
    expect(engine.calls('importModel')).toEqual([{ path: '/models/my-flux' }]);
    await waitFor(() => expect(byTestId<HTMLSelectElement>('model-picker').value).toBe('my-flux'));
    expect(toastTexts()).toContain('Imported my-flux');
  });

  it('shows exactly what is wrong with a bad folder and keeps the current model', async () => {
    const engine = new FakeEngine();
    engine.overrides.importModel = (params) =>
      report({
        dir: params.path,
        layout: 'optimum-flux',
        found: ['model_index.json', 'transformer/model.onnx'],
        problems: ['vae_decoder/model.onnx: missing (the VAE decoder graph)'],
      });
    const { app } = await mountApp(engine);
    const before = app.session.model?.id;
    await openDialog();
    await submit('/models/broken');
    await waitFor(() => expect(byTestId('import-model-report').textContent).toContain('vae_decoder/model.onnx: missing'));
    expect(byTestId('import-model-report').textContent).toContain('Not imported: not a usable optimum-flux model');
    expect(app.session.model?.id).toBe(before);
    expect(engine.calls('loadModel')).toHaveLength(1); // only the startup load
  });

  it('offers the native folder dialog in the desktop app only', async () => {
    await mountApp();
    await openDialog();
    expect([...document.querySelectorAll('[data-testid="import-model-dialog"] button')].map((b) => b.textContent)).not.toContain('Browse…');
    unmountAll();

    const chooseFolder = vi.fn(async () => '/models/chosen');
    await mountApp(new FakeEngine(), { bridge: { openImage: async () => null, chooseFolder } });
    await openDialog();
    const browse = [...document.querySelectorAll<HTMLButtonElement>('[data-testid="import-model-dialog"] button')].find((b) => b.textContent === 'Browse…')!;
    await fireEvent.click(browse);
    await waitFor(() => expect(byTestId<HTMLInputElement>('import-model-path').value).toBe('/models/chosen'));
    expect(chooseFolder).toHaveBeenCalledOnce();
  });
});
