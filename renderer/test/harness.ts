/**
 * Mounts the whole renderer (App with the real EngineClient and stores) against a FakeEngine,
 * waits for the first sync, and offers the queries the app tests share.
 */
import { render, screen, waitFor } from '@testing-library/svelte';
import { expect } from 'vitest';
import App from '../src/App.svelte';
import { RpcClient } from '../src/engine/client.js';
import { AtelierApp, type AppOptions } from '../src/state/app.svelte.js';
import { installImageDecoder } from './browser.js';
import { FakeEngine } from './fake-engine.js';

export interface Mounted {
  engine: FakeEngine;
  client: RpcClient;
  app: AtelierApp;
  unmount(): void;
}

const mounted: Mounted[] = [];

export async function mountApp(engine = new FakeEngine(), options: AppOptions = {}, waitReady = true): Promise<Mounted> {
  installImageDecoder();
  const client = new RpcClient(engine.transport, { backoff: { initialMs: 1, maxMs: 5, jitter: 0 } });
  const app = new AtelierApp(client, options);
  const view = render(App, { props: { app } });
  app.start();
  const result: Mounted = {
    engine,
    client,
    app,
    unmount: () => {
      view.unmount();
      app.dispose();
      client.close();
    },
  };
  mounted.push(result);
  if (waitReady) await waitFor(() => expect(text('engine-status')).toBe('Ready'));
  return result;
}

/** Unmounts every app mounted by the current test (call from afterEach). */
export function unmountAll(): void {
  for (const m of mounted.splice(0)) m.unmount();
}

export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  return screen.getByTestId(id) as T;
}

export function text(id: string): string {
  return (screen.queryByTestId(id)?.textContent ?? '').replace(/\s+/g, ' ').trim();
}

export function toastTexts(): string[] {
  return screen.queryAllByTestId('toast').map((t) => (t.textContent ?? '').trim());
}
