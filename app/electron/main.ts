/**
 * The desktop app's main process: one window serving the renderer from app://, hardened per
 * DESIGN.md section 7 (context isolation, sandbox, no Node in the page, strict CSP, no
 * navigation, no new windows, no permissions), and the engine in a supervised utilityProcess
 * that the window reaches over a MessagePort.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, app, dialog, net, protocol, session, shell } from 'electron';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../engine/paths.js';
import { RpcRelay } from '../common/relay.js';
import { EngineSupervisor } from '../common/supervisor.js';
import { registerIpc } from './ipc.js';
import { APP_ENTRY, APP_SCHEME, CONTENT_SECURITY_POLICY, navigationAllowed, rendererFileFor } from './security.js';
import { utilityEngineSpawner } from './utility-engine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const rendererDir = path.join(packageRoot(), 'dist', 'renderer');
const engineEntry = path.join(packageRoot(), 'dist', 'engine', 'host', 'main.js');
const preload = path.join(here, 'preload.cjs');

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) app.quit();

let mainWindow: BrowserWindow | null = null;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    backgroundColor: '#16171a',
    title: 'Atelier',
    show: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  void win.loadURL(APP_ENTRY);
  return win;
}

app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event, url) => {
    if (!navigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!navigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Links to documentation open in the user's browser; nothing opens inside the app.
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
});

void app.whenReady().then(() => {
  if (!existsSync(engineEntry) || !existsSync(path.join(rendererDir, 'index.html'))) {
    dialog.showErrorBox('Atelier is not built', 'Run "npm run build" first.');
    app.quit();
    return;
  }
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);

  protocol.handle(APP_SCHEME, async (request) => {
    const file = rendererFileFor(request.url, rendererDir);
    if (!file) return new Response('not found', { status: 404 });
    const response = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(response.headers);
    headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(response.body, { status: response.status, headers });
  });

  let relay: RpcRelay | null = null;
  const supervisor = new EngineSupervisor(utilityEngineSpawner(engineEntry, ['--data-dir', path.join(app.getPath('userData'), 'data')]), {
    message: (m) => relay?.fromEngine(m),
    exited: (info) => relay?.engineExited(info),
    started: () => {},
  });
  relay = new RpcRelay(supervisor);
  registerIpc(relay, () => mainWindow);
  supervisor.start();
  app.on('before-quit', () => supervisor.stop());

  mainWindow = createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
  });
});

app.on('second-instance', () => {
  if (mainWindow) {
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  }
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
