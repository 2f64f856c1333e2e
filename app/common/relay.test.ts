import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../engine/protocol/index.js';
import { RpcRelay } from './relay.js';

function setup(engineUp = true) {
  const toEngine: Array<{ id: number; method: string }> = [];
  const relay = new RpcRelay({
    send: (m) => {
      if (!engineUp) return false;
      toEngine.push(m as { id: number; method: string });
      return true;
    },
  });
  const client = () => {
    const got: ServerMessage[] = [];
    const link = relay.attach({ send: (m) => got.push(m) });
    return { got, link };
  };
  return { relay, toEngine, client };
}

describe('RpcRelay', () => {
  it('gives requests relay-unique ids and routes responses back to their client with their own ids', () => {
    const { relay, toEngine, client } = setup();
    const a = client();
    const b = client();
    a.link.receive({ type: 'request', id: 1, method: 'hello', params: {} });
    b.link.receive({ type: 'request', id: 1, method: 'listModels', params: {} });
    expect(toEngine.map((m) => m.id)).toEqual([1, 2]);
    relay.fromEngine({ type: 'response', id: 2, ok: true, result: { models: [] } });
    relay.fromEngine({ type: 'response', id: 1, ok: true, result: { x: 1 } });
    expect(a.got).toEqual([{ type: 'response', id: 1, ok: true, result: { x: 1 } }]);
    expect(b.got).toEqual([{ type: 'response', id: 1, ok: true, result: { models: [] } }]);
  });

  it('answers malformed envelopes itself and never forwards them', () => {
    const { toEngine, client } = setup();
    const a = client();
    a.link.receive({ type: 'request', id: 7, method: 42 });
    a.link.receive('hello');
    a.link.receive(null);
    expect(toEngine).toHaveLength(0);
    expect(a.got.map((m) => (m.type === 'response' && !m.ok ? [m.id, m.error.code] : null))).toEqual([
      [7, 'bad_request'],
      [null, 'bad_request'],
      [null, 'bad_request'],
    ]);
  });

  it('broadcasts events and, when the engine dies, fails pending calls and in-flight jobs', () => {
    const { relay, client } = setup();
    const a = client();
    const b = client();
    a.link.receive({ type: 'request', id: 5, method: 'runJob', params: { kind: 'generate', prompt: 'x' } });
    relay.fromEngine({ type: 'event', event: 'jobStarted', data: { jobId: 'job-1', kind: 'generate' } });
    a.link.receive({ type: 'request', id: 6, method: 'listModels', params: {} });
    expect(relay.jobsInFlight).toEqual(['job-1']);
    relay.engineExited({ code: null, signal: 'SIGKILL', restartInMs: 0 });
    const failedCall = a.got.find((m) => m.type === 'response' && m.id === 6);
    expect(failedCall).toMatchObject({ ok: false, error: { code: 'engine_restarted' } });
    for (const c of [a, b]) {
      expect(c.got).toContainEqual(expect.objectContaining({ type: 'event', event: 'jobFailed', data: expect.objectContaining({ jobId: 'job-1', code: 'engine_restarted' }) }));
      expect(c.got).toContainEqual({ type: 'event', event: 'modelChanged', data: { model: null, provider: null } });
    }
    expect(relay.jobsInFlight).toEqual([]);
  });

  it('stops tracking jobs that ended and drops responses for detached clients', () => {
    const { relay, client } = setup();
    const a = client();
    relay.fromEngine({ type: 'event', event: 'jobQueued', data: { jobId: 'job-2', kind: 'edit', position: 0 } });
    relay.fromEngine({ type: 'event', event: 'jobCancelled', data: { jobId: 'job-2' } });
    expect(relay.jobsInFlight).toEqual([]);
    a.link.receive({ type: 'request', id: 1, method: 'hello', params: {} });
    a.link.detach();
    relay.fromEngine({ type: 'response', id: 1, ok: true, result: {} });
    expect(a.got.filter((m) => m.type === 'response')).toHaveLength(0);
    expect(relay.clientCount).toBe(0);
  });

  it('tells the client to retry while the engine is restarting', () => {
    const { client } = setup(false);
    const a = client();
    a.link.receive({ type: 'request', id: 3, method: 'hello', params: {} });
    expect(a.got).toEqual([{ type: 'response', id: 3, ok: false, error: { code: 'engine_restarted', message: expect.stringMatching(/restarting/) } }]);
  });
});
