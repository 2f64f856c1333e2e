/**
 * Builds the renderer into dist/renderer/ with relative asset URLs, so the same files load from
 * Electron's app:// protocol and from the web shell's HTTP server. In dev (`vite --config
 * renderer/vite.config.ts`), /rpc is proxied to a running web shell at ATELIER_WEB_URL.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [svelte()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // No data: URLs for assets; everything is a file under the strict CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      '/rpc': { target: process.env.ATELIER_WEB_URL ?? 'http://127.0.0.1:7860', ws: true },
    },
  },
});
