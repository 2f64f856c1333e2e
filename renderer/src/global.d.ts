/** Globals the renderer can see: the Electron preload bridge, present only in the Electron shell. */
import type { AtelierBridge } from '../../engine/protocol/index.js';

declare global {
  interface Window {
    atelier?: AtelierBridge;
  }
}

export {};
