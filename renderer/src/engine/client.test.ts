/** EngineClient (RpcClient) against a scripted in-memory transport: matching, events, errors, timeouts, reconnects. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RpcClient, type ConnectionState } from './client.js';
import { EngineCallError } from './errors.js';
import type { RequestEnvelope } from './protocol.js';
import type { Connection, Transport, TransportHandlers } from './transport.js';

/** A scripted peer: records what the client sends and lets the test answer by hand. */
class ScriptedTransport implements Transport {
  readonly name = 'scripted';
  sent: RequestEnvelope[] = [];
  handlers: TransportHandlers | null = null;
  opens = 0;
  failOpens = 0;

  open(handlers: TransportHandlers): Promise<Connection> {
    this.opens++;
    if (this.failOpens > 0) {
      this.failOpens--;
      return Promise.reject(new Error('refused'));
    }
    this.handlers = handlers;
    return Promise.resolve({
      send: (message) => void this.sent.push(message),
      close: () => (this.handlers = null),
    });
  }

  reply(id: number, result: unknown): void {
    this.handlers?.message({ type: 'response', id, ok: true, result });
  }

  fail(id: number, code: string, message: string): void {
    this.handlers?.message({ type: 'response', id, ok: false, error: { code, message } });
  }

  event(event: string, data: unknown): void {
    this.handlers?.message({ type: 'event', event, data });
  }

  drop(reason: string): void {
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.close(reason);
  }
}

async function connected(options: ConstructorParameters<typeof RpcClient>[1] = {}) {
  const transport = new ScriptedTransport();
  const client = new RpcClient(transport, { backoff: { initialMs: 1, maxMs: 4, jitter: 0 }, ...options });
  const states: ConnectionState[] = [];
  client.onStatus((s) => states.push(s.state));
  client.start();
  await vi.waitFor(() => expect(client.status.state).toBe('connected'));
  return { transport, client, states };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RpcClient', () => {
  it('numbers requests and matches replies that arrive out of order', async () => {
    const { transport, client } = await connected();
    const first = client.call('listModels', {});
    const second = client.call('listHistory', { limit: 5 });
    expect(transport.sent.map((m) => [m.type, m.id, m.method, m.params])).toEqual([
      ['request', 1, 'listModels', {}],
      ['request', 2, 'listHistory', { limit: 5 }],
    ]);
    transport.reply(2, { entries: [] });
    transport.reply(1, { models: [] });
    await expect(second).resolves.toEqual({ entries: [] });
    await expect(first).resolves.toEqual({ models: [] });
  });

  it('rejects an error reply with the engine code and message', async () => {
    const { transport, client } = await connected();
    const call = client.call('loadModel', { modelId: 'missing' });
    transport.fail(1, 'not_found', 'no model "missing"');
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineCallError);
    expect(error).toMatchObject({ code: 'not_found', message: 'no model "missing"', method: 'loadModel' });
  });

  it('dispatches events to their listeners until unsubscribed', async () => {
    const { transport, client } = await connected();
    const progress: number[] = [];
    const cancelled: string[] = [];
    const off = client.on('progress', (data) => progress.push(data.step));
    client.on('jobCancelled', (data) => cancelled.push(data.jobId));
    transport.event('progress', { jobId: 'a', step: 1, total: 2, preview: null });
    transport.event('jobCancelled', { jobId: 'a' });
    off();
    transport.event('progress', { jobId: 'a', step: 2, total: 2, preview: null });
    expect(progress).toEqual([1]);
    expect(cancelled).toEqual(['a']);
  });

  it('keeps dispatching when a listener throws', async () => {
    const { transport, client } = await connected();
    const seen: string[] = [];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    client.on('jobStarted', () => {
      throw new Error('boom');
    });
    client.on('jobStarted', (data) => seen.push(data.jobId));
    transport.event('jobStarted', { jobId: 'j', kind: 'generate' });
    expect(seen).toEqual(['j']);
    quiet.mockRestore();
  });

  it('rejects pending calls when the connection drops, then reconnects', async () => {
    const { transport, client, states } = await connected();
    const pending = client.call('readHistoryImage', { jobId: 'x' });
    transport.drop('socket closed');
    const error = await pending.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'connection_lost' });
    expect((error as Error).message).toMatch(/readHistoryImage.*lost.*socket closed/);
    expect(client.status.state).toBe('reconnecting');
    await vi.waitFor(() => expect(client.status.state).toBe('connected'));
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'reconnecting', 'connected']);
    // A late reply for the old id is ignored; new calls work on the new connection.
    transport.reply(1, { mime: 'image/png' });
    const next = client.call('cancel', { jobId: 'x' });
    transport.reply(2, { cancelled: false });
    await expect(next).resolves.toEqual({ cancelled: false });
  });

  it('rejects a call made while disconnected', async () => {
    const transport = new ScriptedTransport();
    const client = new RpcClient(transport);
    await expect(client.call('hello', { client: 't', protocol: 1 })).rejects.toMatchObject({ code: 'not_connected' });
  });

  it('times out a call that gets no reply', async () => {
    const { client } = await connected({ defaultTimeoutMs: 20 });
    await expect(client.call('listModels', {})).rejects.toMatchObject({ code: 'timeout' });
  });

  it('waits without a limit for loadModel unless told otherwise', async () => {
    vi.useFakeTimers();
    const transport = new ScriptedTransport();
    const client = new RpcClient(transport, { defaultTimeoutMs: 10 });
    client.start();
    await vi.advanceTimersByTimeAsync(0);
    let settled = false;
    const load = client.call('loadModel', { modelId: 'big' }).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(settled).toBe(false);
    transport.reply(1, { model: null, provider: 'cpu', notice: null });
    await load;
  });

  it('backs off between failed connection attempts', async () => {
    vi.useFakeTimers();
    const transport = new ScriptedTransport();
    transport.failOpens = 3;
    const client = new RpcClient(transport, { backoff: { initialMs: 100, maxMs: 300, jitter: 0 } });
    const delays: number[] = [];
    client.onStatus((s) => {
      if (s.retryInMs !== null) delays.push(s.retryInMs);
    });
    client.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(delays).toEqual([100, 200, 300]);
    expect(client.status).toMatchObject({ state: 'connected', failures: 0 });
    expect(transport.opens).toBe(4);
  });

  it('gives up an attempt that takes too long and closes the late connection', async () => {
    vi.useFakeTimers();
    let late: ((c: Connection) => void) | null = null;
    let lateClosed = false;
    let opens = 0;
    const transport: Transport = {
      name: 'slow',
      open: () => {
        opens++;
        if (opens === 1) return new Promise((resolve) => (late = resolve));
        return Promise.resolve({ send: () => undefined, close: () => undefined });
      },
    };
    const client = new RpcClient(transport, { connectTimeoutMs: 50, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
    client.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(client.status.state).toBe('connected');
    late!({ send: () => undefined, close: () => (lateClosed = true) });
    await vi.advanceTimersByTimeAsync(0);
    expect(lateClosed).toBe(true);
  });

  it('rejects pending calls with "closed" when closed, and stops reconnecting', async () => {
    const { transport, client } = await connected();
    const pending = client.call('listModels', {});
    client.close();
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
    expect(client.status.state).toBe('disconnected');
    expect(transport.handlers).toBeNull();
    await expect(client.call('listModels', {})).rejects.toMatchObject({ code: 'closed' });
  });

  it('reports a send failure as the call error', async () => {
    const transport: Transport = {
      name: 'broken',
      open: () =>
        Promise.resolve({
          send: () => {
            throw new Error('could not be cloned');
          },
          close: () => undefined,
        }),
    };
    const client = new RpcClient(transport);
    client.start();
    await vi.waitFor(() => expect(client.status.state).toBe('connected'));
    await expect(client.call('listModels', {})).rejects.toMatchObject({ code: 'send_failed', message: expect.stringMatching(/cloned/) });
  });
});
