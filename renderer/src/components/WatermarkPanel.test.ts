/**
 * The watermark panel against the fake engine (its watermark methods answered by a small
 * in-memory key store here): the key list with create (the new key's training shown step by step,
 * cancellable), rename and delete (the demo key has no
 * buttons), the embedding switch and key choice (setWatermark), the state's problem shown, an
 * error reply shown, events followed, and verification from the Verify button and the drop zone:
 * a row per file with its verdict, K/n, p-value, threshold (Bonferroni over several keys), notes,
 * and the chosen false-positive rate sent.
 */
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../engine/client.js';
import type { WatermarkKeyInfo, WatermarkState, WatermarkVerdict } from '../engine/protocol.js';
import { Watermark } from '../state/watermark.svelte.js';
import { FakeEngine, FakeEngineError } from '../../test/fake-engine.js';
import WatermarkPanel from './WatermarkPanel.svelte';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const DEMO: WatermarkKeyInfo = { id: 'demo', name: 'Demo key', bits: 'a5c3961e0f7b', created: '2026-11-28T00:00:00Z', builtIn: true };

function verdict(name: string, over: Partial<WatermarkVerdict>): WatermarkVerdict {
  return {
    name,
    status: 'not_verified',
    summary: '',
    key: null,
    closestKey: null,
    k: null,
    n: null,
    pValue: null,
    thresholdK: 42,
    fpr: 1e-6,
    keys: 2,
    perKeyFpr: 5e-7,
    bits: null,
    claimedKeyId: null,
    notes: [],
    width: 64,
    height: 64,
    ...over,
  };
}

function watermarkEngine() {
  const engine = new FakeEngine();
  let keys: WatermarkKeyInfo[] = [DEMO];
  let state: WatermarkState = { modelId: 'tiny-shapes', enabled: false, keyId: null, keyName: null, active: false, problem: null };
  engine.overrides = {
    watermarkKeys: () => ({ keys }),
    watermarkState: () => state,
    createWatermarkKey: ({ name }) => {
      if (name.trim() === '') throw new FakeEngineError('invalid_params', 'a key needs a name');
      const key = { id: `key-00000000000${keys.length}`, name: name.trim(), bits: '0123456789ab', created: '2026-11-28T10:00:00Z', builtIn: false };
      keys = [...keys, key];
      return key;
    },
    importWatermarkKey: ({ keyFile, lora }) => {
      const parsed = JSON.parse(keyFile.text) as { name: string; bits: string };
      if (lora.bytes.length === 0) throw new FakeEngineError('bad_input', `${lora.name}: holds no tensors`);
      const key = { id: `key-00000000000${keys.length}`, name: parsed.name, bits: parsed.bits, created: '2026-11-29T10:00:00Z', builtIn: false };
      keys = [...keys, key];
      return key;
    },
    renameWatermarkKey: ({ id, name }) => {
      keys = keys.map((k) => (k.id === id ? { ...k, name } : k));
      return keys.find((k) => k.id === id)!;
    },
    deleteWatermarkKey: ({ id }) => {
      keys = keys.filter((k) => k.id !== id);
      return { deleted: true };
    },
    setWatermark: ({ enabled, keyId }) => {
      const key = keys.find((k) => k.id === (keyId ?? state.keyId));
      if (keyId === 'key-toobig0000') throw new FakeEngineError('bad_input', 'watermark key Too big cannot be embedded in Tiny Shapes: its LoRA does not fit');
      state = { ...state, enabled, keyId: key?.id ?? null, keyName: enabled ? (key?.name ?? null) : null, active: enabled };
      return state;
    },
    verifyWatermark: ({ files, fpr }) => ({
      results: files.map((f) =>
        f.name === 'mine.png'
          ? verdict(f.name, { status: 'verified', key: { id: 'demo', name: 'Demo key' }, closestKey: { id: 'demo', name: 'Demo key' }, k: 46, n: 48, pValue: 4.17e-12, fpr: fpr ?? 1e-6, notes: ['resized from 1024x1024 to 64x64'] })
          : f.name === 'broken.png'
            ? verdict(f.name, { status: 'error', summary: 'cannot check: broken.png: the image data is corrupt or unsupported', width: null, height: null })
            : verdict(f.name, { closestKey: { id: 'demo', name: 'Demo key' }, k: 27, n: 48, pValue: 0.235, fpr: fpr ?? 1e-6 }),
      ),
    }),
  };
  return { engine, setState: (s: WatermarkState) => (state = s), keys: () => keys };
}

async function mount() {
  const fake = watermarkEngine();
  const client = new RpcClient(fake.engine.transport, { backoff: { initialMs: 1, maxMs: 5, jitter: 0 } });
  client.start();
  const watermark = new Watermark(client);
  const offs = watermark.listen();
  await waitFor(() => expect(client.status.state).toBe('connected'));
  await watermark.refresh();
  const view = render(WatermarkPanel, { props: { watermark, hasModel: true } });
  cleanups.push(() => {
    view.unmount();
    for (const off of offs) off();
    client.close();
  });
  return { ...fake, watermark };
}

const text = (id: string) => (screen.queryByTestId(id)?.textContent ?? '').replace(/\s+/g, ' ').trim();
const keyRows = () => screen.queryAllByTestId('wm-key').map((r) => (r.textContent ?? '').replace(/\s+/g, ' ').trim());

describe('watermark panel', () => {
  it('lists, creates, renames and deletes keys; the demo key is read-only', async () => {
    const { engine } = await mount();
    expect(keyRows()).toEqual(['Demo key a5c3961e0f7b demo']);
    expect(text('wm-status')).toBe('Outputs are not watermarked.');
    await fireEvent.input(screen.getByTestId('wm-new-name'), { target: { value: 'Studio' } });
    await fireEvent.click(screen.getByTestId('wm-create'));
    await waitFor(() => expect(keyRows()).toEqual(['Demo key a5c3961e0f7b demo', 'Studio 0123456789ab Rename Delete']));
    expect(engine.calls('createWatermarkKey')).toEqual([{ name: 'Studio' }]);
    expect((screen.getByTestId('wm-new-name') as HTMLInputElement).value).toBe('');

    await fireEvent.click(screen.getByTestId('wm-rename'));
    await fireEvent.input(screen.getByTestId('wm-rename-input'), { target: { value: 'Studio 2' } });
    await fireEvent.click(screen.getByTestId('wm-rename-save'));
    await waitFor(() => expect(keyRows()[1]).toBe('Studio 2 0123456789ab Rename Delete'));
    expect(engine.calls('renameWatermarkKey')).toEqual([{ id: 'key-000000000001', name: 'Studio 2' }]);

    await fireEvent.click(screen.getByTestId('wm-delete'));
    await waitFor(() => expect(keyRows()).toHaveLength(1));
    expect(engine.calls('deleteWatermarkKey')).toEqual([{ id: 'key-000000000001' }]);
  });

  it("shows a new key's training as it goes and cancels it", async () => {
    const { engine } = await mount();
    let cancel: (() => void) | null = null;
    engine.overrides.createWatermarkKey = () =>
      new Promise((_, reject) => {
        cancel = () => reject(new FakeEngineError('cancelled', 'the training of key "Studio" was cancelled; no key was made'));
      });
    engine.overrides.cancelWatermarkKey = () => {
      cancel?.();
      return { cancelled: true };
    };
    await fireEvent.input(screen.getByTestId('wm-new-name'), { target: { value: 'Studio' } });
    await fireEvent.click(screen.getByTestId('wm-create'));
    await waitFor(() => expect(text('wm-training-text')).toBe('Preparing the key…'));
    expect(text('wm-create')).toBe('Training…');
    engine.emit('watermarkKeyTraining', { name: 'Studio', step: 120, total: 300, bitAccuracy: 0.9412, psnrDb: 31.94 });
    await waitFor(() => expect(text('wm-training-text')).toBe('Training “Studio”: step 120/300 · bits 94.1% · 31.9 dB'));
    expect((screen.getByRole('progressbar', { name: 'Training the new key' }) as HTMLProgressElement).value).toBe(120);
    await fireEvent.click(screen.getByTestId('wm-training-cancel'));
    await waitFor(() => expect(screen.queryByTestId('wm-training')).toBeNull());
    expect(engine.calls('cancelWatermarkKey')).toEqual([{}]);
    expect(text('wm-error')).toBe('the training of key "Studio" was cancelled; no key was made');
    expect(keyRows()).toEqual(['Demo key a5c3961e0f7b demo']);
  });

  it('marks keys trained in the app', async () => {
    const { engine } = await mount();
    engine.emit('watermarkKeysChanged', {
      keys: [DEMO, { id: 'key-000000000009', name: 'Mine', bits: '0123456789ab', created: '2026-11-29T10:00:00Z', builtIn: false, training: { steps: 300, bitAccuracy: 0.975, psnrDb: 32.1 } }],
    });
    await waitFor(() => expect(keyRows()[1]).toBe('Mine 0123456789ab trained Rename Delete'));
  });

  it('switches embedding and the key, shows the state, its problem and errors', async () => {
    const { engine, keys } = await mount();
    const toggle = screen.getByTestId('wm-enabled') as HTMLInputElement;
    await fireEvent.click(toggle);
    await waitFor(() => expect(text('wm-status')).toBe('Every output carries Demo key.'));
    expect(engine.calls('setWatermark')).toEqual([{ enabled: true, keyId: 'demo' }]);
    expect(toggle.checked).toBe(true);

    engine.overrides.createWatermarkKey!({ name: 'Too big' }); // a key the model cannot take
    const big = keys().at(-1)!;
    engine.emit('watermarkKeysChanged', { keys: keys().map((k) => (k.id === big.id ? { ...k, id: 'key-toobig0000' } : k)) });
    await waitFor(() => expect(keyRows()).toHaveLength(2));
    await fireEvent.change(screen.getByTestId('wm-key-select'), { target: { value: 'key-toobig0000' } });
    await waitFor(() => expect(text('wm-error')).toBe('watermark key Too big cannot be embedded in Tiny Shapes: its LoRA does not fit'));
    expect(text('wm-status')).toBe('Every output carries Demo key.'); // unchanged

    engine.emit('watermarkChanged', { modelId: 'tiny-shapes', enabled: true, keyId: 'demo', keyName: null, active: false, problem: 'its LoRA does not fit this model' });
    await waitFor(() => expect(text('wm-status')).toBe('Not embedding: its LoRA does not fit this model'));
    await fireEvent.click(toggle);
    await waitFor(() => expect(engine.calls('setWatermark').at(-1)).toEqual({ enabled: false }));
    await waitFor(() => expect(text('wm-status')).toBe('Outputs are not watermarked.'));
  });

  it('verifies picked and dropped files, one verdict row each', async () => {
    const { engine } = await mount();
    const input = screen.getByTestId('wm-verify-input');
    const file = (name: string) => new File([new Uint8Array([1, 2, 3])], name, { type: 'image/png' });
    await fireEvent.change(input, { target: { files: [file('mine.png'), file('other.png'), file('broken.png')] } });
    await waitFor(() => expect(screen.getAllByTestId('wm-result').map((r) => r.dataset.status)).toEqual(['verified', 'not_verified', 'error']));
    const rows = screen.getAllByTestId('wm-result');
    const rowText = (i: number) => (rows[i]!.textContent ?? '').replace(/\s+/g, ' ').trim();
    expect(rowText(0)).toBe('mine.png Verified: Demo key K = 46/48 · p = 4.17e-12 · needs 42/48 at 1.00e-6 over 2 keys (5.00e-7 each) resized from 1024x1024 to 64x64');
    expect(rowText(1)).toBe('other.png Not verified (closest key: Demo key) K = 27/48 · p = 0.235 · needs 42/48 at 1.00e-6 over 2 keys (5.00e-7 each)');
    expect(rowText(2)).toBe('broken.png Cannot check: broken.png: the image data is corrupt or unsupported');
    expect(engine.calls('verifyWatermark').map((p) => [p.files.map((f) => f.name), p.fpr])).toEqual([
      [['mine.png'], 1e-6],
      [['other.png'], 1e-6],
      [['broken.png'], 1e-6],
    ]);

    await fireEvent.change(screen.getByTestId('wm-fpr'), { target: { value: '0.001' } });
    const drop = new Event('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(drop, 'dataTransfer', { value: { files: [file('mine.png')], types: ['Files'], items: [] } });
    screen.getByTestId('wm-drop').dispatchEvent(drop);
    expect(drop.defaultPrevented).toBe(true); // the window's drop handler leaves it alone
    await waitFor(() => expect(screen.getAllByTestId('wm-result')).toHaveLength(4));
    expect(engine.calls('verifyWatermark').at(-1)!.fpr).toBe(0.001);
  });
  it('imports a zoo-trained key from its two files, and says what to choose otherwise', async () => {
    const { engine } = await mount();
    const input = screen.getByTestId('wm-import-input');
    const keyJson = new File([JSON.stringify({ id: 'studio', name: 'Studio', bits: '3c9e01d27a44', created: 'x', lora: 'studio.peft.safetensors' })], 'studio.key.json');
    const lora = new File([new Uint8Array([7, 8, 9])], 'studio.peft.safetensors');
    await fireEvent.change(input, { target: { files: [keyJson] } });
    await waitFor(() => expect(text('wm-error')).toContain("choose a key's two files together"));
    expect(engine.calls('importWatermarkKey')).toEqual([]);
    await fireEvent.change(input, { target: { files: [lora, keyJson] } });
    await waitFor(() => expect(keyRows()).toEqual(['Demo key a5c3961e0f7b demo', 'Studio 3c9e01d27a44 Rename Delete']));
    const [call] = engine.calls('importWatermarkKey');
    expect(call!.keyFile.name).toBe('studio.key.json');
    expect(call!.lora.name).toBe('studio.peft.safetensors');
    expect(Array.from(call!.lora.bytes)).toEqual([7, 8, 9]);
    expect(screen.queryByTestId('wm-error')).toBeNull();
  });
});
