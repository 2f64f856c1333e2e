/**
 * SliderEdit in the UI: one chip with a slider per sub-instruction (as the engine splits them),
 * keyboard operation and ARIA values, debounced re-renders that cancel the render in flight and
 * show step previews, merging chips and editing the split, the sweep row, Run with sliders, and a
 * model without an STLoRA.
 */
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeEngine, metadata, pngBytes, pngImage } from '../../test/fake-engine.js';
import { byTestId, mountApp, text, toastTexts, unmountAll } from '../../test/harness.js';
import type { MethodParams } from '../engine/protocol.js';

afterEach(unmountAll);

const INSTRUCTION = 'make the sky red, add snow and move it left';

async function editWithImage(engine = new FakeEngine()) {
  const mounted = await mountApp(engine);
  const input = byTestId<HTMLInputElement>('file-input');
  const file = new File([pngBytes(64, 64, 3) as Uint8Array<ArrayBuffer>], 'photo.png', { type: 'image/png' });
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  await fireEvent.change(input);
  await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').alt).toBe('Open image: photo.png'));
  await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: INSTRUCTION } });
  await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(3));
  return mounted;
}

const sliders = () => screen.getAllByTestId('slider');
const values = () => sliders().map((s) => Number(s.getAttribute('aria-valuenow')));

type EditParams = Extract<MethodParams<'runJob'>, { kind: 'edit' }>;

function sliderJobs(engine: FakeEngine): EditParams[] {
  return engine.calls('runJob').filter((p): p is EditParams => p.kind === 'edit' && p.sliders !== undefined);
}

function done(engine: FakeEngine, jobId: string, fill: number, replaced?: string) {
  engine.emit('jobDone', { jobId, image: pngImage(64, 64, fill), file: `/out/${jobId}.png`, metadata: metadata({ kind: 'edit', text: INSTRUCTION }), seconds: 0.1, ...(replaced ? { replaced } : {}) });
}

describe('instruction sliders', () => {
  it('shows one chip and one ARIA slider per sub-instruction', async () => {
    const { engine } = await editWithImage();
    expect(screen.getAllByTestId('slider-chip').map((c) => c.querySelector('.text')?.textContent)).toEqual(['make the sky red', 'add snow', 'move it left']);
    expect(engine.calls('sliderParts').at(-1)).toEqual({ instruction: INSTRUCTION });
    const first = sliders()[0]!;
    expect([first.getAttribute('aria-valuemin'), first.getAttribute('aria-valuemax'), first.getAttribute('aria-valuenow')]).toEqual(['0', '2', '1']);
    expect(first.getAttribute('aria-valuetext')).toBe('1 (as typed)');
    expect(first.getAttribute('aria-label')).toBe('make the sky red');
    expect(first.tabIndex).toBe(0);
  });

  it('works from the keyboard: arrows, Page Up/Down, Home, End', async () => {
    await editWithImage();
    const slider = sliders()[1]!;
    slider.focus();
    await fireEvent.keyDown(slider, { key: 'ArrowRight' });
    expect(values()[1]).toBe(1.05);
    await fireEvent.keyDown(slider, { key: 'PageUp' });
    expect(values()[1]).toBe(1.3);
    await fireEvent.keyDown(slider, { key: 'ArrowDown' });
    expect(values()[1]).toBe(1.25);
    await fireEvent.keyDown(slider, { key: 'PageDown' });
    expect(values()[1]).toBe(1);
    await fireEvent.keyDown(slider, { key: 'Home' });
    expect(values()[1]).toBe(0);
    expect(slider.getAttribute('aria-valuetext')).toBe('0 (off)');
    await fireEvent.keyDown(slider, { key: 'ArrowLeft' });
    expect(values()[1]).toBe(0);
    await fireEvent.keyDown(slider, { key: 'End' });
    expect(values()[1]).toBe(2);
    expect(screen.getAllByTestId('slider-value').map((v) => v.textContent)).toEqual(['1.00', '2.00', '1.00']);
    expect(values()).toEqual([1, 2, 1]);
  });

  it('re-renders once after a quick series of moves, cancels the render in flight, shows step previews', async () => {
    const { engine } = await editWithImage();
    const slider = sliders()[2]!;
    await fireEvent.keyDown(slider, { key: 'ArrowLeft' });
    await fireEvent.keyDown(slider, { key: 'ArrowLeft' });
    await fireEvent.keyDown(slider, { key: 'ArrowLeft' });
    expect(sliderJobs(engine)).toHaveLength(0); // debounced
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    const first = sliderJobs(engine)[0]!;
    expect(first.sliders).toEqual({ parts: ['make the sky red', 'add snow', 'move it left'], strengths: [1, 1, 0.85] });
    expect(first.instruction).toBe(INSTRUCTION);
    engine.emit('progress', { jobId: 'job-1', step: 1, total: 4, preview: pngImage(8, 8) });
    await waitFor(() => expect(screen.queryByTestId('preview')).not.toBeNull());
    // a move while job-1 renders: it is cancelled, then the new strengths render with the same seed
    await fireEvent.keyDown(sliders()[0]!, { key: 'Home' });
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    const second = sliderJobs(engine)[1]!;
    expect(second.sliders?.strengths).toEqual([0, 1, 0.85]);
    expect(second.seed).toBe(first.seed);
    engine.emit('progress', { jobId: 'job-2', step: 2, total: 4, preview: pngImage(8, 8, 5) });
    await waitFor(() => expect(text('progress')).toBe('Step 2/4'));
    done(engine, 'job-2', 7);
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output'));
    expect(screen.queryByTestId('sliders-pending')).toBeNull();
  });

  it('merges chips, edits the split, refuses a split that does not fit, and returns to the automatic one', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[2]!, { key: 'End' }); // a strength kept across splits by its text
    await fireEvent.click(screen.getAllByTestId('slider-merge')[0]!);
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(2));
    expect(engine.calls('sliderParts').at(-1)).toEqual({ instruction: INSTRUCTION, parts: ['make the sky red, add snow', 'move it left'] });
    expect(values()).toEqual([1, 2]);

    await fireEvent.click(byTestId('sliders-split-edit'));
    expect(byTestId<HTMLInputElement>('sliders-split-input').value).toBe('make the sky red, add snow | move it left');
    await fireEvent.input(byTestId('sliders-split-input'), { target: { value: 'make the sky red | make it green' } });
    await fireEvent.click(byTestId('sliders-split-apply'));
    await waitFor(() => expect(text('sliders-error')).toBe(`sub-instruction "make it green" is not part of the instruction "${INSTRUCTION}"`));
    expect(screen.getAllByTestId('slider-chip')).toHaveLength(2);

    await fireEvent.input(byTestId('sliders-split-input'), { target: { value: 'make the sky red | add snow and move it left' } });
    await fireEvent.click(byTestId('sliders-split-apply'));
    await waitFor(() => expect(screen.getAllByTestId('slider-chip').map((c) => c.querySelector('.text')?.textContent)).toEqual(['make the sky red', 'add snow and move it left']));
    expect(screen.queryByTestId('sliders-error')).toBeNull();

    await fireEvent.click(byTestId('sliders-split-auto'));
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(3));
    expect(engine.calls('sliderParts').at(-1)).toEqual({ instruction: INSTRUCTION });
  });

  it('sweeps one part over 0, 0.5, 1, 1.5, 2 and takes a frame\'s strength', async () => {
    const { engine } = await editWithImage();
    await fireEvent.click(screen.getAllByTestId('slider-sweep')[1]!);
    for (const [i, value] of [0, 0.5, 1, 1.5, 2].entries()) {
      await waitFor(() => expect(sliderJobs(engine)).toHaveLength(i + 1));
      expect(sliderJobs(engine)[i]!.sliders?.strengths).toEqual([1, value, 1]);
      done(engine, `job-${i + 1}`, i);
    }
    await waitFor(() => expect(screen.getAllByTestId('sweep-frame').every((f) => f.querySelector('img') !== null)).toBe(true));
    expect(screen.getAllByTestId('sweep-frame').map((f) => f.dataset.value)).toEqual(['0', '0.5', '1', '1.5', '2']);
    expect(text('sweep-row')).toContain('Sweep of “add snow”');
    expect(sliderJobs(engine).every((p) => p.preview === undefined && p.replaces === undefined)).toBe(true); // frames are kept
    const seeds = new Set(sliderJobs(engine).map((p) => p.seed));
    expect(seeds.size).toBe(1);
    await fireEvent.click(screen.getAllByTestId('sweep-frame')[3]!);
    expect(values()).toEqual([1, 1.5, 1]);
  });

  it('Run sends the sliders once a strength is moved', async () => {
    const { engine } = await editWithImage();
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    expect(engine.calls('runJob')[0]).toMatchObject({ kind: 'edit', instruction: INSTRUCTION });
    expect(sliderJobs(engine)).toEqual([]);
    done(engine, 'job-1', 1);
    await waitFor(() => expect(text('run')).toBe('Run'));
    await fireEvent.keyDown(sliders()[0]!, { key: 'PageDown' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    done(engine, 'job-2', 2);
    await waitFor(() => expect(text('run')).toBe('Run'));
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    expect(sliderJobs(engine)[1]!.sliders?.strengths).toEqual([0.75, 1, 1]);
  });

  it('restores the split and strengths of an output made with sliders', async () => {
    const engine = new FakeEngine();
    const sliders = { parts: ['make the sky red, add snow', 'move it left'], strengths: [0.5, 1.75] };
    engine.history = [{ jobId: 'old-1', file: '/out/old-1.png', metadata: metadata({ kind: 'edit', text: INSTRUCTION, sliders }) }];
    engine.images.set('old-1', pngImage(64, 64, 2));
    await mountApp(engine);
    await fireEvent.click(screen.getAllByTestId('history-item')[0]!);
    await waitFor(() => expect(screen.getAllByTestId('slider-chip').map((c) => c.querySelector('.text')?.textContent)).toEqual(sliders.parts));
    expect(values()).toEqual([0.5, 1.75]);
    expect(engine.calls('sliderParts').at(-1)).toEqual({ instruction: INSTRUCTION, parts: sliders.parts });
  });

  it('says why when the model has no STLoRA, and its sliders do nothing', async () => {
    const engine = new FakeEngine();
    engine.slidersAvailable = false;
    await editWithImage(engine);
    expect(text('sliders-unavailable')).toBe('This model has no SliderEdit STLoRA.');
    expect(sliders()[0]!.getAttribute('aria-disabled')).toBe('true');
    await fireEvent.keyDown(sliders()[0]!, { key: 'End' });
    expect(values()[0]).toBe(1);
  });

  it('ends at the newest values when moves arrive while a render is slow to stop, without a "Cancelled" toast', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[2]!, { key: 'ArrowLeft' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    // the engine takes its time to stop job-1: the cancel is accepted, the event comes later
    engine.overrides.cancel = () => ({ cancelled: true });
    await fireEvent.keyDown(sliders()[0]!, { key: 'Home' });
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await fireEvent.keyDown(sliders()[1]!, { key: 'End' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // past the debounce of the second move
    expect(sliderJobs(engine)).toHaveLength(1); // nothing starts while job-1 still runs
    engine.emit('jobCancelled', { jobId: 'job-1' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    expect(sliderJobs(engine)[1]!.sliders?.strengths).toEqual([0, 2, 0.95]);
    done(engine, 'job-2', 3);
    await waitFor(() => expect(screen.queryByTestId('sliders-pending')).toBeNull());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sliderJobs(engine)).toHaveLength(2); // no older position rendered after the newest
    expect(toastTexts()).toEqual([]);
  });

  it('keeps the split and strengths across a visit to another tab, and leaves the seed lock alone', async () => {
    const { engine } = await editWithImage();
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('false');
    await fireEvent.keyDown(sliders()[0]!, { key: 'Home' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    done(engine, 'job-1', 1);
    await waitFor(() => expect(text('run')).toBe('Run'));
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('false');
    await fireEvent.click(byTestId('mode-generate'));
    expect(screen.queryByTestId('sliders')).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 400)); // longer than the split's debounce
    await fireEvent.click(byTestId('mode-edit'));
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(3));
    expect(values()).toEqual([0, 1, 1]);
  });

  it('disables the sliders during a sweep, and Close stops it quietly', async () => {
    const { engine } = await editWithImage();
    await fireEvent.click(screen.getAllByTestId('slider-sweep')[0]!);
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    expect(sliders().every((s) => s.getAttribute('aria-disabled') === 'true')).toBe(true);
    await fireEvent.keyDown(sliders()[1]!, { key: 'End' });
    expect(values()).toEqual([1, 1, 1]);
    await fireEvent.click(byTestId('sweep-close'));
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await waitFor(() => expect(text('run')).toBe('Run'));
    expect(screen.queryByTestId('sweep-row')).toBeNull();
    expect(sliders().every((s) => s.getAttribute('aria-disabled') === 'false')).toBe(true);
    expect(sliderJobs(engine)).toHaveLength(1);
    expect(toastTexts()).toEqual([]);
  });

  it('a slider move pending when the user switches to Generate and runs cancels nothing', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[0]!, { key: 'Home' });
    await fireEvent.click(byTestId('mode-generate'));
    await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: 'a red circle' } });
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 300)); // past the slider's debounce
    expect(engine.calls('runJob')[0]!.kind).toBe('generate');
    expect(engine.calls('cancel')).toEqual([]);
    expect(sliderJobs(engine)).toEqual([]);
  });

  it('a slider render replaces the previous one in the history; a Run\'s output is kept', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[0]!, { key: 'ArrowLeft' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    expect(sliderJobs(engine)[0]!.replaces).toBeUndefined();
    expect(sliderJobs(engine)[0]!.preview).toBe(true);
    done(engine, 'job-1', 1);
    await waitFor(() => expect(screen.getAllByTestId('history-item')).toHaveLength(1));
    await fireEvent.keyDown(sliders()[0]!, { key: 'ArrowLeft' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    expect(sliderJobs(engine)[1]!.replaces).toBe('job-1');
    done(engine, 'job-2', 2, 'job-1');
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output'));
    expect(screen.getAllByTestId('history-item')).toHaveLength(1);
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(3));
    expect(sliderJobs(engine)[2]!.replaces).toBeUndefined(); // Run keeps its output
    expect(sliderJobs(engine)[2]!.preview).toBeUndefined();
    done(engine, 'job-3', 3);
    await waitFor(() => expect(screen.getAllByTestId('history-item')).toHaveLength(2));
    await fireEvent.keyDown(sliders()[0]!, { key: 'ArrowLeft' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(4));
    expect(sliderJobs(engine)[3]!.replaces).toBeUndefined(); // never the Run's output
  });

  it('Run right after a new instruction never sends the old parts', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[2]!, { key: 'Home' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    done(engine, 'job-1', 1);
    await waitFor(() => expect(text('run')).toBe('Run'));
    const next = 'make the sky red and turn it around';
    await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: next } });
    await fireEvent.click(byTestId('run')); // before the split's debounce
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(2));
    const run = engine.calls('runJob')[1] as EditParams;
    expect(run.instruction).toBe(next);
    // "make the sky red" kept its strength (1) and the new part starts at 1: nothing to send
    expect(run.sliders).toBeUndefined();
  });

  it('a frame clicked while the sweep still renders stops the sweep there and takes its strength', async () => {
    const { engine } = await editWithImage();
    await fireEvent.click(screen.getAllByTestId('slider-sweep')[0]!);
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    done(engine, 'job-1', 1);
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    await waitFor(() => expect(screen.getAllByTestId('sweep-frame')[0]!.querySelector('img')).not.toBeNull());
    await fireEvent.click(screen.getAllByTestId('sweep-frame')[0]!); // strength 0, while frame 0.5 renders
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-2' }]));
    expect(values()).toEqual([0, 1, 1]);
    expect(screen.getAllByTestId('sweep-frame')[0]!.querySelector('img')).not.toBeNull(); // the frames stay
    // the sliders work again, and the picked strength renders once job-2 is gone
    expect(sliders().every((el) => el.getAttribute('aria-disabled') === 'false')).toBe(true);
    engine.emit('jobCancelled', { jobId: 'job-2' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(3));
    expect(sliderJobs(engine)[2]!.sliders?.strengths).toEqual([0, 1, 1]);
    expect(sliderJobs(engine)[2]!.preview).toBe(true);
    expect(toastTexts()).toEqual([]);
  });

  it('a sweep started while a slider render runs waits for it to stop, then renders every frame', async () => {
    const { engine } = await editWithImage();
    await fireEvent.keyDown(sliders()[0]!, { key: 'ArrowLeft' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    engine.overrides.cancel = () => ({ cancelled: true }); // the engine stops job-1 a little later
    await fireEvent.click(screen.getAllByTestId('slider-sweep')[2]!);
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sliderJobs(engine)).toHaveLength(1); // nothing starts while job-1 still runs
    engine.emit('jobCancelled', { jobId: 'job-1' });
    for (const [i, value] of [0, 0.5, 1, 1.5, 2].entries()) {
      await waitFor(() => expect(sliderJobs(engine)).toHaveLength(i + 2));
      expect(sliderJobs(engine)[i + 1]!.sliders?.strengths).toEqual([0.95, 1, value]);
      done(engine, `job-${i + 2}`, i);
    }
    await waitFor(() => expect(screen.getAllByTestId('sweep-frame').every((f) => f.querySelector('img') !== null)).toBe(true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sliderJobs(engine)).toHaveLength(6); // the interrupted slider position did not come back after the sweep
  });

  it('keeps each of two identical sub-instructions\' strengths apart across a new split', async () => {
    const { engine } = await editWithImage();
    const twice = 'make it bigger and make it bigger';
    await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: twice } });
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(2));
    await fireEvent.keyDown(sliders()[0]!, { key: 'PageDown' });
    await fireEvent.keyDown(sliders()[1]!, { key: 'End' });
    expect(values()).toEqual([0.75, 2]);
    await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: `${twice} and add snow` } });
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(3));
    expect(values()).toEqual([0.75, 2, 1]);
    expect(engine.calls('sliderParts').at(-1)).toEqual({ instruction: `${twice} and add snow` });
  });

  it('Sweep waits for an open image: disabled, saying why', async () => {
    const mounted = await mountApp(new FakeEngine());
    void mounted;
    await fireEvent.click(byTestId('mode-edit'));
    await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value: INSTRUCTION } });
    await waitFor(() => expect(screen.getAllByTestId('slider-chip')).toHaveLength(3));
    const sweep = screen.getAllByTestId<HTMLButtonElement>('slider-sweep')[0]!;
    expect(sweep.disabled).toBe(true);
    expect(sweep.title).toBe(text('sliders-blocker'));
  });

  it('a sweep closed while the job before it winds down submits nothing', async () => {
    const { engine } = await editWithImage();
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    engine.overrides.cancel = () => ({ cancelled: true }); // the engine stops the Run a little later
    await fireEvent.click(screen.getAllByTestId('slider-sweep')[0]!);
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await fireEvent.click(byTestId('sweep-close'));
    engine.emit('jobCancelled', { jobId: 'job-1' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.calls('runJob')).toHaveLength(1);
    expect(screen.queryByTestId('sweep-row')).toBeNull();
  });

  it('resets one slider by double-click and all of them with Reset, rendering once each time', async () => {
    const { engine } = await editWithImage();
    const reset = byTestId<HTMLButtonElement>('sliders-reset');
    expect(reset.disabled).toBe(true); // nothing to reset
    await fireEvent.keyDown(sliders()[0]!, { key: 'Home' });
    await fireEvent.keyDown(sliders()[2]!, { key: 'End' });
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(1));
    done(engine, 'job-1', 1);
    await fireEvent.dblClick(sliders()[2]!);
    expect(values()).toEqual([0, 1, 1]);
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(2));
    expect(sliderJobs(engine)[1]!.sliders?.strengths).toEqual([0, 1, 1]);
    done(engine, 'job-2', 2, 'job-1');
    expect(reset.disabled).toBe(false);
    await fireEvent.click(reset);
    expect(values()).toEqual([1, 1, 1]);
    await waitFor(() => expect(sliderJobs(engine)).toHaveLength(3));
    expect(sliderJobs(engine)[2]!.sliders?.strengths).toEqual([1, 1, 1]);
    done(engine, 'job-3', 3, 'job-2');
    await waitFor(() => expect(reset.disabled).toBe(true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sliderJobs(engine)).toHaveLength(3);
  });
});

