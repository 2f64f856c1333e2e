/** The WebSocket transport and its MessagePack framing, against a WebSocket double. */
import { decode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from './codec.js';
import type { ClientMessage, ServerMessage } from './protocol.js';
import { WebSocketTransport, engineSocketUrl, type SocketLike } from './websocket.js';

/** A WebSocket double that records frames and lets the test play the server. */
class FakeSocket implements SocketLike {
  binaryType: BinaryType = 'blob';
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  frames: Uint8Array[] = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {}

  send(data: Uint8Array): void {
    this.frames.push(data);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  serverSend(data: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code, reason }));
  }
}

function page(url: string) {
  const u = new URL(url);
  return { protocol: u.protocol, host: u.host, search: u.search };
}

describe('MessagePack envelopes', () => {
  it('round-trips an envelope whose image bytes travel as msgpack bin', () => {
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255, 7]);
    const request: ClientMessage = {
      type: 'request',
      id: 7,
      method: 'runJob',
      params: { kind: 'edit', image: bytes, instruction: 'add snow', seed: 2 ** 32 + 5, steps: undefined },
    };
    const frame = encodeEnvelope(request);
    // bin 8 header (0xc4, length 7) followed by the raw bytes, not an array of numbers
    const at = frame.findIndex((b, i) => b === 0xc4 && frame[i + 1] === bytes.length);
    expect(at).toBeGreaterThan(0);
    expect([...frame.subarray(at + 2, at + 2 + bytes.length)]).toEqual([...bytes]);
    const decoded = decodeEnvelope(frame) as { params: Record<string, unknown> };
    expect(decoded).toEqual({ ...request, params: { kind: 'edit', image: bytes, instruction: 'add snow', seed: 2 ** 32 + 5 } });
    expect(decoded.params.image).toBeInstanceOf(Uint8Array);
    // an undefined optional field is left out, not sent as nil (the engine rejects null)
    expect('steps' in decoded.params).toBe(false);
  });

  it('decodes a server event with a preview image', () => {
    const event: ServerMessage = {
      type: 'event',
      event: 'progress',
      data: { jobId: 'job-1', step: 3, total: 20, preview: { mime: 'image/png', bytes: new Uint8Array([1, 2, 3]), width: 8, height: 8 } },
    };
    const decoded = decodeEnvelope(encodeEnvelope(event as unknown as ClientMessage));
    expect(decoded).toEqual(event);
  });
});

describe('engineSocketUrl', () => {
  it('uses the page host, ws for http and the token from the query', () => {
    expect(engineSocketUrl(page('http://127.0.0.1:5173/?token=a%2Bb&x=1'))).toBe('ws://127.0.0.1:5173/rpc?token=a%2Bb');
  });

  it('uses wss for https and no query without a token (the cookie authenticates)', () => {
    expect(engineSocketUrl(page('https://localhost:8443/index.html'))).toBe('wss://localhost:8443/rpc');
  });
});

describe('WebSocketTransport', () => {
  function setup() {
    const sockets: FakeSocket[] = [];
    const transport = new WebSocketTransport('ws://host/rpc?token=secret', (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    });
    const received: unknown[] = [];
    const closes: string[] = [];
    const opening = transport.open({ message: (m) => received.push(m), close: (r) => closes.push(r) });
    return { sockets, opening, received, closes };
  }

  it('sends binary msgpack frames and decodes binary frames from the server', async () => {
    const { sockets, opening, received } = setup();
    const socket = sockets[0]!;
    expect(socket.url).toBe('ws://host/rpc?token=secret');
    expect(socket.binaryType).toBe('arraybuffer');
    socket.serverOpen();
    const connection = await opening;
    connection.send({ type: 'request', id: 1, method: 'hello', params: { client: 'test', protocol: 1 } });
    expect(decode(socket.frames[0]!)).toEqual({ type: 'request', id: 1, method: 'hello', params: { client: 'test', protocol: 1 } });
    const reply = encodeEnvelope({ type: 'response', id: 1, ok: true, result: { pong: true } } as unknown as ClientMessage);
    socket.serverSend(reply.buffer.slice(reply.byteOffset, reply.byteOffset + reply.byteLength));
    expect(received).toEqual([{ type: 'response', id: 1, ok: true, result: { pong: true } }]);
  });

  it('rejects when the socket closes before opening, without leaking the token', async () => {
    const { sockets, opening } = setup();
    sockets[0]!.serverClose(1006);
    await expect(opening).rejects.toThrow('could not connect to ws://host/rpc (code 1006)');
  });

  it('reports a close after opening, but not one it asked for', async () => {
    const first = setup();
    first.sockets[0]!.serverOpen();
    await first.opening;
    first.sockets[0]!.serverClose(1011, 'engine restarting');
    expect(first.closes).toEqual(['the socket closed (code 1011: engine restarting)']);

    const second = setup();
    second.sockets[0]!.serverOpen();
    const connection = await second.opening;
    connection.close();
    second.sockets[0]!.serverClose(1000);
    expect(second.closes).toEqual([]);
    expect(second.sockets[0]!.closedWith).toBe(1000);
  });

  it('ignores text frames and malformed msgpack', async () => {
    const { sockets, opening, received } = setup();
    sockets[0]!.serverOpen();
    await opening;
    const warn = console.warn;
    console.warn = () => undefined;
    sockets[0]!.serverSend('{"type":"event"}');
    sockets[0]!.serverSend(new Uint8Array([0xc1]).buffer);
    console.warn = warn;
    expect(received).toEqual([]);
  });
});
