/**
 * The main process's IPC handlers with Electron mocked (the Electron binary is not needed):
 * sender checks, payload validation, the engine port handoff, the dialogs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../engine/testing/models.js';
import { RpcRelay } from '../common/relay.js';

const electron = vi.hoisted(() => {
  const handlers = new Map<string, (...args: unknown[]) => unknown>();
  const listeners = new Map<string, (...args: unknown[]) => unknown>();
  class FakePort {
    sent: unknown[] = [];
    listener: ((e: { data: unknown }) => void) | null = null;
    started = false;
    postMessage(m: unknown) {
      this.sent.push(m);
    }
    on(event: string, l: (e: { data: unknown }) => void) {
      if (event === 'message') this.listener = l;
    }
    start() {
      this.started = true;
    }
  }
  const channels: Array<{ port1: FakePort; port2: FakePort }> = [];
  return {
    handlers,
    listeners,
    channels,
    FakePort,
    dialog: { showOpenDialog: vi.fn(), showSaveDialog: vi.fn() },
  };
});

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, h: (...args: unknown[]) => unknown) => electron.handlers.set(channel, h),
    on: (channel: string, l: (...args: unknown[]) => unknown) => electron.listeners.set(channel, l),
  },
  MessageChannelMain: class {
    port1 = new electron.FakePort();
    port2 = new electron.FakePort();
    constructor() {
      electron.channels.push(this);
    }
  },
  dialog: electron.dialog,
  BrowserWindow: class {},
}));

const { registerIpc, IPC } = await import('./ipc.js');

const mainFrame = { url: 'app://atelier/index.html' };
const webContents = { mainFrame, postMessage: vi.fn() };
const win = { webContents } as never;
const goodEvent = () => ({ sender: webContents, senderFrame: mainFrame });
const foreignEvent = () => ({ sender: webContents, senderFrame: { url: 'https://evil.example/' } });

describe('main-process IPC', () => {
  const engineInbox: unknown[] = [];
  let relay: RpcRelay;
  beforeEach(() => {
    electron.handlers.clear();
    electron.listeners.clear();
    electron.channels.length = 0;
    engineInbox.length = 0;
    webContents.postMessage.mockReset();
    relay = new RpcRelay({ send: (m) => (engineInbox.push(m), true) });
    registerIpc(relay, () => win);
  });

  it('hands the trusted window a port to the engine and relays both ways', () => {
    electron.listeners.get(IPC.connectEngine)!(goodEvent());
    expect(electron.channels).toHaveLength(1);
    const { port1, port2 } = electron.channels[0]!;
    expect(webContents.postMessage).toHaveBeenCalledWith(IPC.enginePort, null, [port2]);
    expect(port1.started).toBe(true);
    port1.listener!({ data: { type: 'request', id: 3, method: 'hello', params: {} } });
    expect(engineInbox).toEqual([{ type: 'request', id: 1, method: 'hello', params: {} }]);
    relay.fromEngine({ type: 'response', id: 1, ok: true, result: { ok: 1 } });
    expect(port1.sent).toEqual([{ type: 'response', id: 3, ok: true, result: { ok: 1 } }]);
  });

  it('ignores connect requests from other frames or with arguments', () => {
    electron.listeners.get(IPC.connectEngine)!(foreignEvent());
    electron.listeners.get(IPC.connectEngine)!(goodEvent(), 'extra');
    expect(electron.channels).toHaveLength(0);
  });

  it('opens an image through the native dialog for the trusted window only', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'photo.png');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    electron.dialog.showOpenDialog.mockResolvedValue({ canceled: false, filePaths: [file] });
    const open = electron.handlers.get(IPC.openImage)!;
    await expect(open(goodEvent())).resolves.toEqual({ name: 'photo.png', bytes: new Uint8Array([1, 2, 3]) });
    await expect(open(foreignEvent())).rejects.toThrow(/untrusted sender/);
    await expect(open(goodEvent(), 'x')).rejects.toThrow(/no arguments/);
    electron.dialog.showOpenDialog.mockResolvedValue({ canceled: true, filePaths: [] });
    await expect(open(goodEvent())).resolves.toBeNull();
  });

  it('chooses a model folder for the trusted window only, returning just its path', async () => {
    electron.dialog.showOpenDialog.mockResolvedValue({ canceled: false, filePaths: ['/models/flux-kontext'] });
    const choose = electron.handlers.get(IPC.chooseFolder)!;
    await expect(choose(goodEvent())).resolves.toBe('/models/flux-kontext');
    expect(electron.dialog.showOpenDialog.mock.calls.at(-1)!.at(-1)).toMatchObject({ properties: ['openDirectory'] });
    await expect(choose(foreignEvent())).rejects.toThrow(/untrusted sender/);
    await expect(choose(goodEvent(), '/etc')).rejects.toThrow(/no arguments/);
    electron.dialog.showOpenDialog.mockResolvedValue({ canceled: true, filePaths: [] });
    await expect(choose(goodEvent())).resolves.toBeNull();
  });

  it('validates save payloads before showing a dialog', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'out.png');
    electron.dialog.showSaveDialog.mockResolvedValue({ canceled: false, filePath: target });
    const save = electron.handlers.get(IPC.saveImage)!;
    await expect(save(goodEvent(), 'result.png', new Uint8Array([9]))).resolves.toBe(target);
    expect(Array.from(readFileSync(target))).toEqual([9]);
    electron.dialog.showSaveDialog.mockClear();
    await expect(save(goodEvent(), '../escape.png', new Uint8Array([9]))).rejects.toThrow(/saveImage: a file name without folders/);
    await expect(save(goodEvent(), 'a.png', 'not bytes')).rejects.toThrow(/saveImage: expected image bytes/);
    await expect(save(goodEvent(), 'a.png', new Uint8Array())).rejects.toThrow(/saveImage: between 1 byte/);
    await expect(save(foreignEvent(), 'a.png', new Uint8Array([1]))).rejects.toThrow(/untrusted/);
    expect(electron.dialog.showSaveDialog).not.toHaveBeenCalled();
  });

  it('uses the same channel names as the preload script', () => {
    const preload = readFileSync(new URL('./preload.cts', import.meta.url), 'utf8');
    for (const channel of Object.values(IPC)) expect(preload).toContain(`'${channel}'`);
  });
});
