import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine.js';
import { readJobMetadata } from '../images/job-metadata.js';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type ServerMessage } from '../protocol/index.js';
import { FakePipeline, writeFakeModelFolder } from '../testing/fake-pipeline.js';
import { tempDir } from '../testing/models.js';
import { RpcServer } from './server.js';

function setup(stepDelayMs = 1) {
  const root = tempDir();
  writeFakeModelFolder(path.join(root, 'models'));
  const pipelines: FakePipeline[] = [];
  const engine = new Engine({
    dataDir: path.join(root, 'data'),
    modelRoots: [{ dir: path.join(root, 'models'), embedded: true }],
    createPipeline: async () => {
      const p = new FakePipeline(stepDelayMs);
      pipelines.push(p);
      return p;
    },
  });
  const received: ServerMessage[] = [];
  let handler: (m: unknown) => void = () => {};
  const server = new RpcServer(engine, {
    send: (m) => received.push(structuredClone(m)),
    onMessage: (h) => {
      handler = h;
    },
  });
  let nextId = 1;
  const call = async (method: string, params: unknown = {}) => {
    const id = nextId++;
    await server.handle(structuredClone({ type: 'request', id, method, params }));
    const reply = received.find((m) => m.type === 'response' && m.id === id);
    if (!reply || reply.type !== 'response') throw new Error(`no reply to ${method}`);
    return reply;
  };
  const events = (name: string) => received.filter((m) => m.type === 'event' && m.event === name).map((m) => (m as { data: unknown }).data);
  return { engine, call, events, received, pipelines, send: (m: unknown) => handler(m) };
}

const until = async (check: () => boolean, ms = 5000) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('RpcServer', () => {
  it('says hello with versions and providers, and refuses another protocol version', async () => {
    const { call } = setup();
    const hello = await call('hello', { client: 'test', protocol: PROTOCOL_VERSION });
    expect(hello).toMatchObject({ ok: true, result: { protocol: PROTOCOL_VERSION, loadedModel: null } });
    expect(hello.ok && (hello.result as { providers: Array<{ name: string }> }).providers.map((p) => p.name)).toContain('cpu');
    expect(await call('hello', { client: 'old', protocol: 0 })).toMatchObject({ ok: false, error: { code: 'version_mismatch' } });
  });

  it('answers unknown methods, malformed envelopes, bad params and oversized messages with errors', async () => {
    const { call, send, received } = setup();
    expect(await call('launchMissiles')).toMatchObject({ ok: false, error: { code: 'unknown_method', message: 'unknown method "launchMissiles"' } });
    expect(await call('loadModel', { modelId: 42 })).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringMatching(/^loadModel: modelId: /) } });
    expect(await call('runJob', { kind: 'paint' })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await call('cancel', { jobId: 'x', extra: true })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    send({ type: 'request', id: -1, method: 'hello' });
    send('not even an object');
    send({ type: 'request', id: 99, method: 'runJob', params: { kind: 'edit', instruction: 'x', image: new Uint8Array(MAX_MESSAGE_BYTES + 1) } });
    await until(() => received.length >= 7);
    const errors = received.slice(4).map((m) => (m.type === 'response' && !m.ok ? [m.id, m.error.code] : null));
    expect(errors).toEqual([
      [null, 'bad_request'],
      [null, 'bad_request'],
      [99, 'too_large'],
    ]);
    // and it keeps working
    expect(await call('listModels')).toMatchObject({ ok: true });
  });

  it('runs a job with progress previews to a PNG with metadata in the history', async () => {
    const { call, events } = setup();
    expect(await call('runJob', { kind: 'generate', prompt: 'x' })).toMatchObject({ ok: false, error: { code: 'no_model' } });
    const models = await call('listModels');
    const id = models.ok && (models.result as { models: Array<{ id: string }> }).models[0]!.id;
    expect(await call('loadModel', { modelId: id })).toMatchObject({ ok: true, result: { provider: 'cpu', notice: null } });
    const run = await call('runJob', { kind: 'generate', prompt: 'a red circle', seed: 7, steps: 3 });
    const jobId = run.ok && (run.result as { jobId: string }).jobId;
    await until(() => events('jobDone').length === 1);
    const progress = events('progress') as Array<{ step: number; total: number; preview: { bytes: Uint8Array } | null }>;
    expect(progress.map((p) => `${p.step}/${p.total}`)).toEqual(['1/3', '2/3', '3/3']);
    expect(progress.every((p) => p.preview !== null && p.preview.bytes.length > 0)).toBe(true);
    const done = events('jobDone')[0] as { jobId: string; image: { bytes: Uint8Array }; metadata: { seed: number; steps: number } };
    expect(done.jobId).toBe(jobId);
    expect(done.metadata).toMatchObject({ seed: 7, steps: 3, text: 'a red circle', kind: 'generate' });
    expect(readJobMetadata(done.image.bytes)).toMatchObject({ seed: 7 });
    const history = await call('listHistory', {});
    expect(history.ok && (history.result as { entries: Array<{ jobId: string }> }).entries.map((e) => e.jobId)).toEqual([jobId]);
    const image = await call('readHistoryImage', { jobId });
    expect(image).toMatchObject({ ok: true, result: { mime: 'image/png', width: 16, height: 16 } });
  });

  it('cancels between steps and reports a non-image edit input as a failed job', async () => {
    const { call, events, engine } = setup(20);
    await engine.loadModel(engine.listModels()[0]!.id);
    const run = await call('runJob', { kind: 'generate', prompt: 'slow', steps: 50 });
    const jobId = run.ok && (run.result as { jobId: string }).jobId;
    await until(() => events('progress').length >= 2);
    expect(await call('cancel', { jobId })).toMatchObject({ ok: true, result: { cancelled: true } });
    await until(() => events('jobCancelled').length === 1);
    expect((events('progress') as unknown[]).length).toBeLessThan(50);
    const bad = await call('runJob', { kind: 'edit', instruction: 'make it blue', image: new TextEncoder().encode('hello') });
    const badId = bad.ok && (bad.result as { jobId: string }).jobId;
    await until(() => events('jobFailed').length === 1);
    expect(events('jobFailed')[0]).toMatchObject({ jobId: badId, code: 'bad_input', message: expect.stringMatching(/^the source image: not an image/) });
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } }).png().toBuffer();
    await call('runJob', { kind: 'edit', instruction: 'make it blue', image: new Uint8Array(png), steps: 2 });
    await until(() => events('jobDone').length === 1);
    expect(events('jobDone')[0]).toMatchObject({ metadata: { kind: 'edit', width: 16, height: 16 } });
  });

  it('unloading cancels running work and releases the pipeline', async () => {
    const { call, events, engine, pipelines } = setup(20);
    await engine.loadModel(engine.listModels()[0]!.id);
    await call('runJob', { kind: 'generate', prompt: 'x', steps: 100 });
    await until(() => events('progress').length >= 1);
    expect(await call('unloadModel')).toMatchObject({ ok: true, result: { unloaded: true } });
    expect(events('jobCancelled')).toHaveLength(1);
    expect(pipelines[0]!.released).toBe(true);
    expect(events('modelChanged').at(-1)).toEqual({ model: null, provider: null });
    expect(await call('loadModel', { modelId: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});
