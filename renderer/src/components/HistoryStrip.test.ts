/** The history strip: listing past outputs, showing one, and restoring the settings that made it. */
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../engine/protocol.js';
import { FakeEngine, metadata, pngImage } from '../../test/fake-engine.js';
import { byTestId, mountApp, text, unmountAll } from '../../test/harness.js';

afterEach(unmountAll);

function engineWithHistory(): FakeEngine {
  const engine = new FakeEngine();
  const entries: HistoryEntry[] = [
    {
      jobId: 'job-new',
      file: '/data/history/job-new.png',
      metadata: metadata({ kind: 'edit', text: 'add snow to the trees', seed: 99, steps: 6, guidance: 4, createdAt: '2025-02-02T00:00:00.000Z' }),
    },
    {
      jobId: 'job-old',
      file: '/data/history/job-old.png',
      metadata: metadata({ kind: 'generate', text: 'a green triangle', seed: 1234, steps: 9, guidance: 6.5, width: 96, height: 48 }),
    },
  ];
  engine.history = entries;
  engine.images.set('job-new', pngImage(64, 64, 1));
  engine.images.set('job-old', pngImage(96, 48, 2));
  return engine;
}

describe('the history strip', () => {
  it('lists past outputs newest first with their thumbnails', async () => {
    const { engine } = await mountApp(engineWithHistory());
    const items = screen.getAllByTestId('history-item');
    expect(items.map((i) => i.dataset.jobId)).toEqual(['job-new', 'job-old']);
    expect(items.map((i) => i.getAttribute('aria-label'))).toEqual(['Edit: add snow to the trees', 'Generate: a green triangle']);
    await waitFor(() => expect(byTestId('history').querySelectorAll('img')).toHaveLength(2));
    for (const img of byTestId('history').querySelectorAll('img')) expect(img.src).toMatch(/^blob:/);
    expect(engine.calls('readHistoryImage').map((p) => p.jobId).sort()).toEqual(['job-new', 'job-old']);
  });

  it('restores a generate output: shows it and brings back its prompt, seed, steps, guidance and size', async () => {
    const { engine } = await mountApp(engineWithHistory());
    const old = screen.getAllByTestId('history-item')[1]!;
    await fireEvent.click(old);
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output'));
    expect(old.getAttribute('aria-pressed')).toBe('true');
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a green triangle');
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
    expect(engine.calls('runJob')[0]).toEqual({ kind: 'generate', prompt: 'a green triangle', seed: 1234, steps: 9, guidance: 6.5, width: 96, height: 48 });
  });

  it('restores an edit output into Edit mode with its instruction', async () => {
    await mountApp(engineWithHistory());
    await fireEvent.click(screen.getAllByTestId('history-item')[0]!);
    await waitFor(() => expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true'));
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('add snow to the trees');
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
    await waitFor(() => expect(screen.getAllByTestId('history-item').map((i) => i.dataset.jobId)).toEqual(['job-1', 'job-new', 'job-old']));
    engine.history = [{ jobId: 'job-1', file: '/data/history/job-1.png', metadata: made }, ...engine.history];
    engine.drop();
    await waitFor(() => expect(engine.calls('listHistory')).toHaveLength(2));
    await waitFor(() => expect(text('engine-status')).toBe('Ready'));
    expect(screen.getAllByTestId('history-item').map((i) => i.dataset.jobId)).toEqual(['job-1', 'job-new', 'job-old']);
    expect(engine.calls('readHistoryImage').filter((p) => p.jobId === 'job-1')).toEqual([]); // its bytes came with jobDone
  });

  it('marks an output whose image cannot be read, and says why when clicked', async () => {
    const engine = engineWithHistory();
    engine.images.delete('job-old');
    await mountApp(engine);
    const old = screen.getAllByTestId('history-item')[1]!;
    await waitFor(() => expect(old.title).toMatch(/Image unavailable: no output "job-old"/));
    await fireEvent.click(old);
    await waitFor(() => expect(screen.getAllByTestId('toast').some((t) => /Could not load that output/.test(t.textContent ?? ''))).toBe(true));
  });
});
