/**
 * A job's metadata as PNG text: a tEXt "parameters" chunk in the AUTOMATIC1111 style (read by
 * most image tools) and an iTXt "atelier" chunk with the full metadata as JSON, which reopening
 * the PNG in Atelier uses to restore the settings.
 */
import { JobMetadata } from '../protocol/index.js';
import { readPngText, type PngTextChunk } from './png-text.js';

export const METADATA_KEYWORD = 'atelier';

function latin1(text: string): string {
  return text.replace(/[^\x20-\x7e\xa0-\xff\n]/g, '?');
}

/** AUTOMATIC1111's sampler names for the engine's scheduler kinds. */
const SAMPLER_NAMES: Record<string, string> = {
  ddim: 'DDIM',
  euler: 'Euler',
  'euler-a': 'Euler a',
  'dpmpp-2m': 'DPM++ 2M',
  'dpmpp-2m-karras': 'DPM++ 2M Karras',
  lcm: 'LCM',
  'flow-euler': 'Euler (flow matching)',
};

export function automatic1111Parameters(m: JobMetadata): string {
  const flow = (m.scheduler ?? 'flow-euler') === 'flow-euler';
  const settings = [
    `Steps: ${m.steps}`,
    `Sampler: ${SAMPLER_NAMES[m.scheduler ?? 'flow-euler'] ?? m.scheduler}`,
    flow ? `Guidance: ${m.guidance}` : `CFG scale: ${m.guidance}`,
    `Seed: ${m.seed}`,
    `Size: ${m.width}x${m.height}`,
    `Model: ${m.model}`,
    ...(m.strength !== undefined ? [`Denoising strength: ${m.strength}`] : []),
    `Task: ${m.kind}`,
    ...(m.watermarkKey ? [`Watermark key: ${m.watermarkKey}`] : []),
    `Version: Atelier ${m.engineVersion}`,
  ];
  const negative = m.negativePrompt ? `\nNegative prompt: ${latin1(m.negativePrompt)}` : '';
  return `${latin1(m.text)}${negative}\n${settings.join(', ')}`;
}

export function metadataTextChunks(m: JobMetadata): PngTextChunk[] {
  return [
    { keyword: 'parameters', text: automatic1111Parameters(m) },
    { keyword: METADATA_KEYWORD, text: JSON.stringify(m), international: true },
  ];
}

/** The job metadata embedded in a PNG by Atelier, or null when there is none or it is invalid. */
export function readJobMetadata(png: Uint8Array): JobMetadata | null {
  const raw = readPngText(png).get(METADATA_KEYWORD);
  if (!raw) return null;
  try {
    const parsed = JobMetadata.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
