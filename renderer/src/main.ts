/**
 * The renderer's entry point: connects to the engine through the shell's transport (the Electron
 * bridge's MessagePort, or the web shell's WebSocket), creates the app and mounts the UI.
 */
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { createEngineClient } from './engine/connect.js';
import { AtelierApp } from './state/app.svelte.js';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

const client = createEngineClient(window);
const app = new AtelierApp(client, { bridge: window.atelier ?? null });
mount(App, { target, props: { app } });
app.start();
