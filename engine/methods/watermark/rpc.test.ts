/**
 * The watermark methods through the RPC server (stand-in watermark files): the zod schemas refuse
 * bad params (an empty or oversized file list, a false-positive rate outside (0, 1), unknown
 * fields, a long key name) with invalid_params before the engine sees them; keys and verdicts come
 * back as the protocol types say; setWatermark without a model is no_model; a key imported from its
 * file's text and LoRA bytes is listed, a bad one is refused with its file named.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine.js';
import { encodePng } from '../../images/codec.js';
import { MAX_VERIFY_FILES, WatermarkKeyInfo, WatermarkVerdict, type ServerMessage } from '../../protocol/index.js';
import { RpcServer } from '../../rpc/server.js';
import { tempDir } from '../../testing/models.js';
import { DEMO_BITS, keyImage, writeWatermarkFixture } from '../../testing/watermark.js';

function setup() {
  const root = tempDir('atelier-wm-rpc-');
  const engine = new Engine({ dataDir: path.join(root, 'data'), modelRoots: [], watermarkDir: writeWatermarkFixture(tempDir('atelier-wm-assets-')) });
  const received: ServerMessage[] = [];
  const server = new RpcServer(engine, { send: (m) => received.push(structuredClone(m)), onMessage: () => undefined });
  let nextId = 1;
  const call = async (method: string, params: unknown = {}) => {
    const id = nextId++;
    await server.handle(structuredClone({ type: 'request', id, method, params }));
    const reply = received.find((m) => m.type === 'response' && m.id === id);
    if (!reply || reply.type !== 'response') throw new Error(`no reply to ${method}`);
    return reply;
  };
  return { call, engine, received };
}

describe('watermark over the RPC', () => {
  it('refuses bad params before the engine', async () => {
    const { call } = setup();
    const png = { name: 'a.png', bytes: new Uint8Array([1]) };
    const bad = [
      ['verifyWatermark', { files: [] }, 'files: Too small'],
      ['verifyWatermark', { files: Array.from({ length: MAX_VERIFY_FILES + 1 }, () => png) }, 'files: Too big'],
      ['verifyWatermark', { files: [png], fpr: 0 }, 'fpr: Too small'],
      ['verifyWatermark', { files: [png], fpr: 1 }, 'fpr: Too big'],
      ['verifyWatermark', { files: [{ name: 'a.png', bytes: [1, 2] }] }, 'files.0.bytes: expected bytes (Uint8Array)'],
      ['createWatermarkKey', { name: 'x'.repeat(101) }, 'name: longer than 100 characters'],
      ['setWatermark', { enabled: 'yes' }, 'enabled: '],
      ['deleteWatermarkKey', { id: 'demo', force: true }, ''],
      ['importWatermarkKey', { keyFile: { name: 'k.key.json', text: '{}' }, lora: { name: 'k.peft.safetensors', bytes: [1] } }, 'lora.bytes: expected bytes (Uint8Array)'],
    ] as const;
    for (const [method, params, message] of bad) {
      const reply = await call(method, params);
      expect(reply, `${method} ${JSON.stringify(params).slice(0, 60)}`).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
      if (!reply.ok) expect(reply.error.message).toContain(`${method}: ${message}`);
    }
  });

  it('creates and lists keys, verifies files, and needs a model for the switch', async () => {
    const { call, received } = setup();
    const created = await call('createWatermarkKey', { name: 'Studio' });
    expect(created.ok).toBe(true);
    expect(WatermarkKeyInfo.parse(created.ok && created.result)).toMatchObject({ name: 'Studio', builtIn: false });
    expect(received.some((m) => m.type === 'event' && m.event === 'watermarkKeysChanged')).toBe(true);
    const listed = await call('watermarkKeys');
    expect(listed.ok && (listed.result as { keys: unknown[] }).keys).toHaveLength(2);
    const verified = await call('verifyWatermark', { files: [{ name: 'demo.png', bytes: await encodePng(keyImage(DEMO_BITS)) }], fpr: 1e-3 });
    expect(verified.ok).toBe(true);
    const { results } = (verified.ok ? verified.result : { results: [] }) as { results: unknown[] };
    expect(WatermarkVerdict.parse(results[0])).toMatchObject({ status: 'verified', key: { id: 'demo' }, keys: 2, fpr: 1e-3 });
    expect(await call('watermarkState')).toMatchObject({ ok: true, result: { modelId: null, enabled: false, active: false } });
    expect(await call('setWatermark', { enabled: true })).toMatchObject({ ok: false, error: { code: 'no_model' } });
  });
  it('imports a key from its key file text and LoRA bytes, and names a bad file', async () => {
    const { call, engine } = setup();
    const made = await engine.createWatermarkKey('Made here'); // its LoRA stands in for a zoo-trained one
    const lora = { name: 'studio.peft.safetensors', bytes: new Uint8Array(readFileSync((await engine.watermark.keys.get(made.id)).loraFile)) };
    const keyFile = { name: 'studio.key.json', text: JSON.stringify({ id: 'studio', name: 'Studio', bits: '3c9e01d27a44', created: 'x', lora: lora.name }) };
    const imported = await call('importWatermarkKey', { keyFile, lora });
    expect(imported.ok && WatermarkKeyInfo.parse(imported.result)).toMatchObject({ name: 'Studio', bits: '3c9e01d27a44', builtIn: false });
    const refused = await call('importWatermarkKey', { keyFile, lora: { ...lora, bytes: new Uint8Array([1, 2, 3]) } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    if (!refused.ok) expect(refused.error.message).toContain('studio.peft.safetensors');
    const listed = await call('watermarkKeys');
    expect(listed.ok && (listed.result as { keys: unknown[] }).keys).toHaveLength(3); // demo, made, imported
  });
});
