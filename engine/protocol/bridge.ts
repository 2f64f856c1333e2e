/**
 * What the Electron preload script exposes to the renderer as `window.atelier` (types only; the
 * renderer imports this with `import type`). Named functions only: the renderer never sees
 * ipcRenderer. In the web shell there is no bridge; the renderer talks to the engine over a
 * WebSocket instead.
 */

/** The window message that carries the engine's MessagePort to the page (in `event.ports[0]`). */
export const ENGINE_PORT_MESSAGE = 'atelier:engine-port';

export interface OpenedFile {
  name: string;
  bytes: Uint8Array;
}

export interface AtelierBridge {
  readonly shell: 'electron';
  /**
   * Asks the main process for a MessagePort connected to the engine. The port arrives as a
   * `message` event on `window` whose data is ENGINE_PORT_MESSAGE. Called again after the engine
   * restarted, it delivers a fresh port.
   */
  connectEngine(): void;
  /** A native open dialog for images; null when cancelled. */
  openImage(): Promise<OpenedFile | null>;
  /** A native save dialog; returns the chosen path, or null when cancelled. */
  saveImage(suggestedName: string, bytes: Uint8Array): Promise<string | null>;
  /** A native folder dialog (for "Import model"); the chosen folder's path, or null when cancelled. */
  chooseFolder(): Promise<string | null>;
}
