/**
 * The main process's IPC surface: connecting the window to the engine over a MessagePort, and
 * the native open/save dialogs. Every handler checks that the sender is the app's own window on
 * the app:// origin and validates its payload with a schema before doing anything.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BrowserWindow, MessageChannelMain, dialog, ipcMain, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import type { ServerMessage } from '../../engine/protocol/index.js';
import { writeFileAtomic } from '../../engine/stores/atomic.js';
import type { RpcRelay } from '../common/relay.js';
import { MAX_DIALOG_FILE_BYTES, NoArgs, SaveImageArgs } from './ipc-schemas.js';
import { senderTrusted } from './security.js';

export const IPC = {
  connectEngine: 'engine:connect',
  enginePort: 'engine:port',
  openImage: 'dialog:openImage',
  saveImage: 'dialog:saveImage',
  chooseFolder: 'dialog:chooseFolder',
} as const;

function trusted(event: IpcMainEvent | IpcMainInvokeEvent, window: () => BrowserWindow | null): boolean {
  const win = window();
  return senderTrusted({
    frameUrl: event.senderFrame?.url,
    isMainWindow: win !== null && event.sender === win.webContents && event.senderFrame === win.webContents.mainFrame,
  });
}

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff', 'avif', 'bmp'];

export function registerIpc(relay: RpcRelay, window: () => BrowserWindow | null): void {
  const links = new Set<{ detach(): void }>();

  ipcMain.on(IPC.connectEngine, (event, ...args: unknown[]) => {
    if (!trusted(event, window) || !NoArgs.safeParse(args).success) return;
    const { port1, port2 } = new MessageChannelMain();
    const link = relay.attach({ send: (message: ServerMessage) => port1.postMessage(message) });
    links.add(link);
    port1.on('message', (e) => link.receive(e.data));
    port1.on('close', () => {
      link.detach();
      links.delete(link);
    });
    port1.start();
    event.sender.postMessage(IPC.enginePort, null, [port2]);
  });

  ipcMain.handle(IPC.openImage, async (event, ...args: unknown[]) => {
    if (!trusted(event, window)) throw new Error('refused: untrusted sender');
    if (!NoArgs.safeParse(args).success) throw new Error('openImage takes no arguments');
    const win = window();
    const result = win
      ? await dialog.showOpenDialog(win, { properties: ['openFile'], filters: [{ name: 'Images', extensions: IMAGE_EXTENSIONS }] })
      : await dialog.showOpenDialog({ properties: ['openFile'], filters: [{ name: 'Images', extensions: IMAGE_EXTENSIONS }] });
    const file = result.filePaths[0];
    if (result.canceled || !file) return null;
    const stat = await fs.stat(file);
    if (stat.size > MAX_DIALOG_FILE_BYTES) throw new Error(`${path.basename(file)} is ${stat.size} bytes, over the ${MAX_DIALOG_FILE_BYTES}-byte limit`);
    return { name: path.basename(file), bytes: new Uint8Array(await fs.readFile(file)) };
  });

  // A folder for "Import model": only its path goes back; the engine validates what is inside.
  ipcMain.handle(IPC.chooseFolder, async (event, ...args: unknown[]) => {
    if (!trusted(event, window)) throw new Error('refused: untrusted sender');
    if (!NoArgs.safeParse(args).success) throw new Error('chooseFolder takes no arguments');
    const win = window();
    const options = { title: 'Import a model folder', properties: ['openDirectory' as const] };
    const result = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    const folder = result.filePaths[0];
    return result.canceled || !folder ? null : folder;
  });

  ipcMain.handle(IPC.saveImage, async (event, ...args: unknown[]) => {
    if (!trusted(event, window)) throw new Error('refused: untrusted sender');
    const parsed = SaveImageArgs.safeParse(args);
    if (!parsed.success) throw new Error(`saveImage: ${parsed.error.issues[0]?.message ?? 'invalid arguments'}`);
    const [name, bytes] = parsed.data;
    const win = window();
    const options = { defaultPath: name, filters: [{ name: 'PNG image', extensions: ['png'] }] };
    const result = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options);
    if (result.canceled || !result.filePath) return null;
    try {
      await writeFileAtomic(result.filePath, bytes); // overwriting a chosen file never leaves it torn
    } catch (error) {
      // a folder where the file may be overwritten but no file created (no temporary file): write in place
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw error;
      await fs.writeFile(result.filePath, bytes);
    }
    return result.filePath;
  });
}
