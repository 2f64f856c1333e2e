/**
 * The preload script: exposes `window.atelier` (AtelierBridge in engine/protocol/bridge.ts) with
 * named functions only, never ipcRenderer itself, and hands the engine's MessagePort to the page.
 * Runs sandboxed, so it is CommonJS and requires nothing but 'electron'.
 */
/// <reference lib="dom" />
import electron = require('electron');
import type { AtelierBridge, ENGINE_PORT_MESSAGE } from '../../engine/protocol/index.js';

const { contextBridge, ipcRenderer } = electron;
const enginePortMessage: typeof ENGINE_PORT_MESSAGE = 'atelier:engine-port';

ipcRenderer.on('engine:port', (event) => {
  window.postMessage(enginePortMessage, window.location.origin, event.ports);
});

const bridge: AtelierBridge = {
  shell: 'electron',
  connectEngine: () => ipcRenderer.send('engine:connect'),
  openImage: () => ipcRenderer.invoke('dialog:openImage'),
  saveImage: (suggestedName: string, bytes: Uint8Array) => ipcRenderer.invoke('dialog:saveImage', suggestedName, bytes),
  chooseFolder: () => ipcRenderer.invoke('dialog:chooseFolder'),
};

contextBridge.exposeInMainWorld('atelier', bridge);
