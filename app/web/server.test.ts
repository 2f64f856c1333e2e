import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type ServerMessage } from '../../engine/protocol/index.js';
import { FakePipeline, writeFakeModelFolder } from '../../engine/testing/fake-pipeline.js';
import { tempDir } from '../../engine/testing/models.js';
import { inProcessEngineSpawner } from '../common/in-process-engine.js';
import { startWebShell, type WebShell } from './server.js';

let shell: WebShell | null = null;
afterEach(async () => {
  await shell?.close();
  shell = null;
});

async function start(): Promise<WebShell> {
  const root = tempDir();
  const rendererDir = path.join(root, 'renderer');
  mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Atelier</title>');
  writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(path.join(root, 'secret.txt'), 'secret');
  writeFakeModelFolder(path.join(root, 'models'));
  shell = await startWebShell({
    rendererDir,
    spawnEngine: inProcessEngineSpawner(() => ({
      dataDir: path.join(root, 'data'),
      modelRoots: [{ dir: path.join(root, 'models'), embedded: true }],
      createPipeline: async () => new FakePipeline(15),
    })),
  });
  return shell;
}

class Client {
  readonly messages: ServerMessage[] = [];
  private nextId = 1;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(decode(data as Buffer) as ServerMessage));
  }
  static open(url: string, headers: Record<string, string> = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }
  async call(method: string, params: unknown = {}): Promise<ServerMessage> {
    const id = this.nextId++;
    this.ws.send(encode({ type: 'request', id, method, params }));
    return this.waitFor((m) => m.type === 'response' && m.id === id);
  }
  async waitFor(check: (m: ServerMessage) => boolean, ms = 10_000): Promise<ServerMessage> {
    const start = Date.now();
    for (;;) {
      const found = this.messages.find(check);
      if (found) return found;
      if (Date.now() - start > ms) throw new Error('timed out waiting for a message');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

const wsUrl = (s: WebShell, token = s.token) => `ws://127.0.0.1:${s.port}/rpc?token=${encodeURIComponent(token)}`;

describe('web shell', () => {
  it('listens on 127.0.0.1 and serves the renderer only with the token', async () => {
    const s = await start();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{40,}$/);
    const ok = await fetch(s.url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<title>Atelier</title>');
    expect(ok.headers.get('content-security-policy')).toContain("script-src 'self'");
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    // the cookie alone authorizes later requests (assets)
    const asset = await fetch(`http://127.0.0.1:${s.port}/assets/app.js`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    for (const url of [`http://127.0.0.1:${s.port}/`, `http://127.0.0.1:${s.port}/?token=wrong`, `http://127.0.0.1:${s.port}/assets/app.js`]) {
      const res = await fetch(url);
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/401 Unauthorized: missing or wrong token/);
    }
    // a foreign Host header (DNS rebinding) is refused even with the token
    const rebound = await new Promise<number>((resolve) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: '127.0.0.1', port: s.port, path: `/?token=${s.token}`, headers: { host: `evil.example:${s.port}` } }, (res) => resolve(res.statusCode ?? 0));
        req.end();
      });
    });
    expect(rebound).toBe(401);
    // no escaping the renderer folder
    expect((await fetch(`http://127.0.0.1:${s.port}/..%2fsecret.txt?token=${s.token}`)).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${s.port}/nope.js?token=${s.token}`)).status).toBe(404);
    expect((await fetch(s.url, { method: 'POST' })).status).toBe(405);
  });

  it('refuses WebSocket upgrades without the token or from another origin', async () => {
    const s = await start();
    await expect(Client.open(wsUrl(s, 'wrong'))).rejects.toThrow('HTTP 401');
    await expect(Client.open(`ws://127.0.0.1:${s.port}/rpc`)).rejects.toThrow('HTTP 401');
    await expect(Client.open(wsUrl(s), { origin: 'http://evil.example' })).rejects.toThrow('HTTP 401');
    const client = await Client.open(wsUrl(s), { origin: `http://127.0.0.1:${s.port}` });
    expect(await client.call('hello', { client: 'test', protocol: PROTOCOL_VERSION })).toMatchObject({ ok: true });
    client.ws.close();
  });

  it('answers bad frames with errors and keeps the connection working', async () => {
    const s = await start();
    const client = await Client.open(wsUrl(s));
    client.ws.send('{"type":"request"}');
    client.ws.send(Buffer.from([0xc1, 0xc1, 0xc1]));
    client.ws.send(encode({ type: 'request', id: 4, method: 'nope', params: {} }));
    client.ws.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1));
    await client.waitFor(() => client.messages.length >= 4);
    const codes = client.messages.map((m) => (m.type === 'response' && !m.ok ? m.error.code : m.type));
    expect(codes.sort()).toEqual(['bad_request', 'bad_request', 'too_large', 'unknown_method']);
    expect(await client.call('listModels')).toMatchObject({ ok: true });
    client.ws.close();
  });

  it('restarts a killed engine and reports the lost job as failed', async () => {
    const s = await start();
    const client = await Client.open(wsUrl(s));
    const list = await client.call('listModels');
    const modelId = list.type === 'response' && list.ok ? (list.result as { models: Array<{ id: string }> }).models[0]!.id : '';
    expect(await client.call('loadModel', { modelId })).toMatchObject({ ok: true });
    const run = await client.call('runJob', { kind: 'generate', prompt: 'x', steps: 200 });
    const jobId = run.type === 'response' && run.ok ? (run.result as { jobId: string }).jobId : '';
    await client.waitFor((m) => m.type === 'event' && m.event === 'progress');
    const firstPid = s.supervisor.pid;
    s.supervisor.kill();
    const failed = await client.waitFor((m) => m.type === 'event' && m.event === 'jobFailed');
    expect(failed).toMatchObject({ data: { jobId, code: 'engine_restarted', message: expect.stringMatching(/killed \(SIGKILL\)/) } });
    await client.waitFor((m) => m.type === 'event' && m.event === 'modelChanged');
    // a new engine answers
    const start2 = Date.now();
    while (!s.supervisor.running && Date.now() - start2 < 5000) await new Promise((r) => setTimeout(r, 10));
    expect(s.supervisor.pid).not.toBe(firstPid);
    expect(await client.call('hello', { client: 't', protocol: PROTOCOL_VERSION })).toMatchObject({ ok: true, result: { loadedModel: null } });
    client.ws.close();
  });
});
