/** The history strip: listing past outputs, showing one, and restoring the settings that made it. */
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../engine/protocol.js';
import { BIG_MODEL, FakeEngine, metadata, pngImage } from '../../test/fake-engine.js';
import { byTestId, mountApp, text, unmountAll } from '../../test/harness.js';

afterEach(unmountAll);

const SD = BIG_MODEL.name;

/** An engine with three past outputs: an SD image-to-image, a Kontext edit, an SD generate. */
function engineWithHistory(): FakeEngine {
  const engine = new FakeEngine();
  const entries: HistoryEntry[] = [
    {
      jobId: 'job-var',
      file: '/data/history/job-var.png',
      metadata: metadata({
        kind: 'img2img',
        model: SD,
        text: 'a watercolor',
        negativePrompt: 'photo',
        strength: 0.3,
        scheduler: 'ddim',
        seed: 55,
        steps: 12,
        guidance: 5,
        width: 512,
        height: 384,
        createdAt: '2025-02-03T00:00:00.000Z',
      }),
    },
    {
      jobId: 'job-new',
      file: '/data/history/job-new.png',
      metadata: metadata({ kind: 'edit', text: 'add snow to the trees', seed: 99, steps: 6, guidance: 4, createdAt: '2025-02-02T00:00:00.000Z' }),
    },
    {
      jobId: 'job-old',
      file: '/data/history/job-old.png',
      metadata: metadata({
        kind: 'generate',
        model: SD,
        text: 'a green triangle',
        negativePrompt: 'blurry',
        scheduler: 'dpmpp-2m-karras',
        seed: 1234,
        steps: 9,
        guidance: 6.5,
        width: 96,
        height: 48,
      }),
    },
  ];
  engine.history = entries;
  engine.images.set('job-var', pngImage(512, 384, 3));
  engine.images.set('job-new', pngImage(64, 64, 1));
  engine.images.set('job-old', pngImage(96, 48, 2));
  return engine;
}

describe('the history strip', () => {
  it('lists past outputs newest first with their thumbnails', async () => {
    const { engine } = await mountApp(engineWithHistory());
    const items = screen.getAllByTestId('history-item');
    expect(items.map((i) => i.dataset.jobId)).toEqual(['job-var', 'job-new', 'job-old']);
    expect(items.map((i) => i.getAttribute('aria-label'))).toEqual([
      'Image to image: a watercolor',
      'Edit: add snow to the trees',
      'Generate: a green triangle',
    ]);
    expect(items.map((i) => i.textContent?.trim())).toEqual(['I', 'E', 'G']);
    expect(items[0]!.title).toContain('Negative: photo\nseed 55 · 12 steps · cfg scale 5 · DDIM · strength 0.3 · 512×384');
    expect(items[1]!.title).toContain('seed 99 · 6 steps · guidance 4 · Euler (flow matching) · 64×64');
    await waitFor(() => expect(byTestId('history').querySelectorAll('img')).toHaveLength(3));
    for (const img of byTestId('history').querySelectorAll('img')) expect(img.src).toMatch(/^blob:/);
    expect(engine.calls('readHistoryImage').map((p) => p.jobId).sort()).toEqual(['job-new', 'job-old', 'job-var']);
  });

  it('restores a generate output: shows it and brings back its prompt, negative prompt, sampler, seed, steps, guidance and size', async () => {
    const engine = engineWithHistory();
    engine.loaded = BIG_MODEL;
    await mountApp(engine);
    const old = screen.getAllByTestId('history-item')[2]!;
    await fireEvent.click(old);
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output'));
    expect(old.getAttribute('aria-pressed')).toBe('true');
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a green triangle');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('blurry');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('dpmpp-2m-karras');
    expect(byTestId<HTMLInputElement>('seed').value).toBe('1234');
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('true');
    expect(byTestId<HTMLInputElement>('steps').value).toBe('9');
    expect(byTestId<HTMLInputElement>('guidance').value).toBe('6.5');
    expect(byTestId<HTMLInputElement>('width').value).toBe('96');
    expect(byTestId<HTMLInputElement>('height').value).toBe('48');
    expect(screen.getByText('Output · seed 1234 · 96×48')).toBeTruthy();

    // Run reproduces it: the restored settings go to the engine as they are.
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    expect(engine.calls('runJob')[0]).toEqual({
      kind: 'generate',
      prompt: 'a green triangle',
      negativePrompt: 'blurry',
      seed: 1234,
      steps: 9,
      guidance: 6.5,
      width: 96,
      height: 48,
      scheduler: 'dpmpp-2m-karras',
    });
  });

  it('restores an image-to-image output into the Edit tab with its strength, sampler and negative prompt', async () => {
    const engine = engineWithHistory();
    engine.loaded = BIG_MODEL;
    await mountApp(engine);
    await fireEvent.click(screen.getAllByTestId('history-item')[0]!);
    await waitFor(() => expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true'));
    expect(text('mode-edit')).toBe('Image to image');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a watercolor');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('photo');
    expect(byTestId<HTMLInputElement>('strength').value).toBe('0.3');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('ddim');
    expect(byTestId<HTMLInputElement>('seed').value).toBe('55');
    expect(byTestId<HTMLInputElement>('guidance').value).toBe('5');

    // then a generate output: back to Generate with its own sampler and negative prompt
    await fireEvent.click(screen.getAllByTestId('history-item')[2]!);
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('dpmpp-2m-karras');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('blurry');
  });

  it("keeps the loaded model's sampler when the output's is not one it has", async () => {
    await mountApp(engineWithHistory()); // the tiny FLUX model: flow-euler only
    await fireEvent.click(screen.getAllByTestId('history-item')[2]!);
    await waitFor(() => expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a green triangle'));
    expect(text('scheduler-name')).toBe('Euler (flow matching)');
    expect(screen.queryByTestId('negative-prompt')).toBeNull();
  });

  it('restores an edit output into Edit mode with its instruction', async () => {
    await mountApp(engineWithHistory());
    await fireEvent.click(screen.getAllByTestId('history-item')[1]!);
    await waitFor(() => expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true'));
    expect(text('mode-edit')).toBe('Edit');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('add snow to the trees');
    expect(screen.queryByTestId('strength')).toBeNull();
    expect(byTestId<HTMLInputElement>('seed').value).toBe('99');
    expect(byTestId<HTMLInputElement>('steps').value).toBe('6');
    expect(screen.queryByTestId('width')).toBeNull();
    expect(text('sliders')).toContain('add snow to the trees');
    // no source image is open in this session, so Edit cannot run yet; there is no before/after
    expect(screen.queryByTestId('before-after')).toBeNull();
  });

  it('puts new results first and keeps them across a re-sync', async () => {
    const { engine } = await mountApp(engineWithHistory());
    await fireEvent.click(byTestId('mode-generate'));
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    const made = metadata({ text: 'fresh', seed: 5, createdAt: '2025-03-03T00:00:00.000Z' });
    engine.emit('jobDone', { jobId: 'job-1', image: pngImage(64, 64, 7), file: '/data/history/job-1.png', metadata: made, seconds: 1 });
    await waitFor(() => expect(screen.getAllByTestId('history-item').map((i) => i.dataset.jobId)).toEqual(['job-1', 'job-var', 'job-new', 'job-old']));
    engine.history = [{ jobId: 'job-1', file: '/data/history/job-1.png', metadata: made }, ...engine.history];
    engine.drop();
    await waitFor(() => expect(engine.calls('listHistory')).toHaveLength(2));
    await waitFor(() => expect(text('engine-status')).toBe('Ready'));
    expect(screen.getAllByTestId('history-item').map((i) => i.dataset.jobId)).toEqual(['job-1', 'job-var', 'job-new', 'job-old']);
    expect(engine.calls('readHistoryImage').filter((p) => p.jobId === 'job-1')).toEqual([]); // its bytes came with jobDone
  });

  it('marks an output whose image cannot be read, and says why when clicked', async () => {
    const engine = engineWithHistory();
    engine.images.delete('job-old');
    await mountApp(engine);
    const old = screen.getAllByTestId('history-item')[2]!;
    await waitFor(() => expect(old.title).toMatch(/Image unavailable: no output "job-old"/));
    await fireEvent.click(old);
    await waitFor(() => expect(screen.getAllByTestId('toast').some((t) => /Could not load that output/.test(t.textContent ?? ''))).toBe(true));
  });
});
