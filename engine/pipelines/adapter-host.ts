/**
 * The one interface through which adapters attach to a loaded model's pipeline (engine/adapters
 * decides what to open; the pipeline only says which graphs it has and swaps sessions):
 * `graphs()` names each graph with the component adapters address (the denoiser, a text encoder,
 * the VAE) and its source file; `setHook()` installs the session pool's adapter hook, releases
 * the changed graphs' sessions and lets the pipeline drop what it cached from them (text
 * encodings when a text encoder changed).
 */
import type { AdapterGraph } from '../adapters/coverage.js';
import type { Component } from '../adapters/model.js';
import type { PipelineSpec } from '../models/descriptor.js';
import type { AdapterHook, SessionPool } from './sessions.js';

/** The graphs of each pipeline family and the component adapters address them by. */
export const FLUX_ADAPTER_COMPONENTS = { transformer: 'denoiser', clip: 'text_encoder', t5: 'text_encoder_2', vaeEncoder: 'vae', vaeDecoder: 'vae' } as const;
export const SD_ADAPTER_COMPONENTS = { unet: 'denoiser', text0: 'text_encoder', text1: 'text_encoder_2', vaeEncoder: 'vae', vaeDecoder: 'vae' } as const;

/** A model folder's adapter graphs from its spec, without opening anything (`lora inspect --model`). */
export function adapterGraphsOf(spec: PipelineSpec): AdapterGraph[] {
  const graphs: Array<[string, Component, string | null | undefined]> =
    spec.pipeline === 'flux'
      ? [
          ['transformer', 'denoiser', spec.files.transformer],
          ['clip', 'text_encoder', spec.files.clip],
          ['t5', 'text_encoder_2', spec.files.t5],
          ['vaeDecoder', 'vae', spec.files.vaeDecoder],
          ['vaeEncoder', 'vae', spec.files.vaeEncoder],
        ]
      : [
          ['unet', 'denoiser', spec.unet.file],
          ['text0', 'text_encoder', spec.textEncoders[0]?.file],
          ['text1', 'text_encoder_2', spec.textEncoders[1]?.file],
          ['vaeDecoder', 'vae', spec.vaeDecoder.file],
          ['vaeEncoder', 'vae', spec.vaeEncoder?.file],
        ];
  return graphs.filter((g): g is [string, Component, string] => typeof g[2] === 'string').map(([name, component, file]) => ({ name, component, file }));
}

export interface AdapterHost {
  graphs(): AdapterGraph[];
  setHook(hook: AdapterHook | null, changed: string[]): Promise<void>;
}

export function adapterHost<Name extends string>(
  sessions: SessionPool<Name>,
  components: Readonly<Record<Name, Component>>,
  onChanged: (changed: Name[]) => void,
): AdapterHost {
  const known = (n: string): n is Name => Object.hasOwn(components, n);
  return {
    graphs: () => sessions.files().map(({ name, file }) => ({ name, component: components[name], file })),
    setHook: async (hook, changed) => {
      const names = changed.filter(known);
      await sessions.setAdapterHook(hook, names);
      onChanged(names);
    },
  };
}
