/** The MessagePort transport against real MessageChannels handed over the way the Electron preload does. */
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from './client.js';
import { MessagePortTransport } from './message-port.js';
import { ENGINE_PORT_MESSAGE } from './protocol.js';

/**
 * The shell side: each connectEngine() makes a real MessageChannel, keeps one end as "the engine"
 * (answering hello) and posts the other to the window the way the preload script does.
 */
class FakeShell {
  engines: MessagePort[] = [];
  requests = 0;

  constructor(private readonly win: Window) {}

  readonly connectEngine = (): void => {
    this.deliver(this.newEngine());
  };

  newEngine(): MessagePort {
    const channel = new MessageChannel();
    const engine = channel.port1;
    engine.onmessage = (event: MessageEvent) => {
      this.requests++;
      const request = event.data as { id: number; params: unknown };
      engine.postMessage({ type: 'response', id: request.id, ok: true, result: { echo: request.params } });
    };
    this.engines.push(engine);
    return channel.port2;
  }

  /** Posts a port to the page as the preload does (jsdom cannot transfer ports, so dispatch by hand). */
  deliver(port: MessagePort): void {
    const event = new Event('message');
    Object.defineProperties(event, {
      data: { value: ENGINE_PORT_MESSAGE },
      ports: { value: [port] },
      source: { value: this.win },
    });
    this.win.dispatchEvent(event);
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setup() {
  const shell = new FakeShell(window);
  const transport = new MessagePortTransport({ connectEngine: shell.connectEngine }, window);
  const client = new RpcClient(transport, { backoff: { initialMs: 1, maxMs: 2, jitter: 0 } });
  cleanups.push(() => {
    client.close();
    transport.dispose();
    for (const port of shell.engines) port.close();
  });
  return { shell, transport, client };
}

describe('MessagePortTransport', () => {
  it('asks the bridge for a port and talks over it with structured clone', async () => {
    const { shell, client } = setup();
    client.start();
    await expect.poll(() => client.status.state).toBe('connected');
    const image = new Uint8Array([1, 2, 3]);
    const result = (await client.call('runJob', { kind: 'edit', image, instruction: 'x' })) as unknown as { echo: { image: Uint8Array } };
    // Node's MessagePort clones into its own realm, so compare contents, not prototypes.
    expect(ArrayBuffer.isView(result.echo.image)).toBe(true);
    expect([...result.echo.image]).toEqual([1, 2, 3]);
    expect(shell.engines).toHaveLength(1);
  });

  it('ignores window messages that are not the engine port from this window', async () => {
    const { shell, client } = setup();
    let asked = 0;
    const quiet = new MessagePortTransport({ connectEngine: () => asked++ }, window);
    cleanups.push(() => quiet.dispose());
    const other = new Event('message');
    Object.defineProperties(other, { data: { value: ENGINE_PORT_MESSAGE }, ports: { value: [shell.newEngine()] }, source: { value: null } });
    let opened = false;
    void quiet.open({ message: () => undefined, close: () => undefined }).then(() => (opened = true));
    window.dispatchEvent(other);
    await new Promise((r) => setTimeout(r, 10));
    expect(asked).toBe(1);
    expect(opened).toBe(false);
    client.close();
  });

  it('switches to a port the shell sends unasked after an engine restart', async () => {
    const { shell, client } = setup();
    client.start();
    await expect.poll(() => client.status.state).toBe('connected');
    const pending = client.call('listModels', {}, { timeoutMs: 0 });
    shell.engines[0]!.onmessage = null; // the old engine died before answering
    await new Promise((r) => setTimeout(r, 5));
    shell.deliver(shell.newEngine()); // the restarted engine's port, pushed by the shell
    await expect(pending).rejects.toMatchObject({ code: 'connection_lost', message: expect.stringMatching(/restarted/) });
    await expect.poll(() => client.status.state).toBe('connected');
    await expect(client.call('listModels', {})).resolves.toEqual({ echo: {} });
    expect(shell.engines).toHaveLength(2); // the pushed port was used; connectEngine was not called again
  });
});
