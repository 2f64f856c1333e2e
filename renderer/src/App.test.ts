/** The app's flows end to end in jsdom: the real UI, stores and EngineClient against an in-memory engine. */
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import { BIG_MODEL, FakeEngine, FakeEngineError, TINY_MODEL, atelierPng, metadata, pngBytes, pngImage, textChunk } from '../test/fake-engine.js';
import { byTestId, mountApp, text, toastTexts, unmountAll } from '../test/harness.js';
import type { MethodParams, ModelInfo } from './engine/protocol.js';

afterEach(unmountAll);

/** The engine's normal hello reply (for overrides that fall back to it). */
function helloOf(engine: FakeEngine) {
  return {
    protocol: 1,
    engineVersion: '0.1.0',
    onnxruntimeVersion: '1.30.0',
    platform: 'linux-x64',
    providers: [],
    dataDir: '/data',
    loadedModel: engine.loaded,
    provider: engine.loaded ? engine.provider : null,
    adapters: engine.adapters,
  };
}

async function typePrompt(value: string): Promise<void> {
  await fireEvent.input(byTestId<HTMLTextAreaElement>('prompt'), { target: { value } });
}

async function clickRun(): Promise<void> {
  await fireEvent.click(byTestId('run'));
}

function pngFile(name = 'photo.png', width = 32, height = 24): File {
  return new File([pngBytes(width, height, 3) as Uint8Array<ArrayBuffer>], name, { type: 'image/png' });
}

/** The visible label of a form control. */
function labelOf(id: string): string {
  const control = byTestId(id);
  return (document.querySelector(`label[for="${control.id}"]`)?.textContent ?? '').trim();
}

async function pickModel(id: string): Promise<void> {
  await fireEvent.change(byTestId('model-picker'), { target: { value: id } });
  await waitFor(() => expect(text('engine-status')).toBe('Ready'));
  await waitFor(() => expect(byTestId<HTMLSelectElement>('model-picker').value).toBe(id));
}

async function openFile(file: File): Promise<void> {
  const input = byTestId<HTMLInputElement>('file-input');
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  await fireEvent.change(input);
  await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').alt).toBe(`Open image: ${file.name}`));
}

function runParams(engine: FakeEngine, index = 0): MethodParams<'runJob'> {
  const params = engine.calls('runJob')[index];
  if (!params) throw new Error(`no runJob call #${index}`);
  return params;
}

describe('startup', () => {
  it('says hello, lists models, loads the embedded model and lists the history', async () => {
    const { engine } = await mountApp();
    expect(engine.requests.map((r) => r.method)).toEqual(['hello', 'watermarkKeys', 'watermarkState', 'listHistory', 'listModels', 'loadModel']);
    expect(engine.calls('hello')[0]).toEqual({ client: 'atelier-renderer', protocol: 1 });
    expect(engine.calls('loadModel')).toEqual([{ modelId: 'tiny-shapes' }]);
    const picker = byTestId<HTMLSelectElement>('model-picker');
    expect(picker.value).toBe('tiny-shapes');
    expect([...picker.options].map((o) => o.textContent)).toEqual(['Tiny Shapes · flux-kontext', 'Stable Diffusion 1.5 · sd15']);
    expect(text('provider-badge')).toBe('cpu');
    expect(byTestId('engine-status').dataset.state).toBe('connected');
    expect(text('engine-version')).toBe('engine 0.1.0 · onnxruntime 1.30.0');
    // the model's defaults fill the settings
    expect(byTestId<HTMLInputElement>('steps').value).toBe('4');
    expect(byTestId<HTMLInputElement>('guidance').value).toBe('2.5');
    // a tiny fixed-size FLUX model: one sampler, shown by name; no size fields; no negative prompt
    expect(labelOf('guidance')).toBe('Guidance');
    expect(text('scheduler-name')).toBe('Euler (flow matching)');
    expect(screen.queryByTestId('scheduler')).toBeNull();
    expect(screen.queryByTestId('width')).toBeNull();
    expect(screen.queryByTestId('height')).toBeNull();
    expect(text('output-size')).toBe("Output: 64×64 (the model's size)");
    expect(screen.queryByTestId('negative-prompt')).toBeNull();
    expect([text('mode-generate'), text('mode-edit')]).toEqual(['Generate', 'Edit']);
    expect(labelOf('prompt')).toBe('Prompt');
  });

  it('keeps a model the engine already has loaded', async () => {
    const engine = new FakeEngine();
    engine.loaded = TINY_MODEL;
    await mountApp(engine);
    expect(engine.calls('loadModel')).toEqual([]);
  });

  it('shows a protocol mismatch instead of working with the engine', async () => {
    const engine = new FakeEngine();
    engine.protocol = 2;
    await mountApp(engine, {}, false);
    await waitFor(() => expect(text('engine-status')).toBe('Incompatible engine'));
    expect(text('fatal')).toMatch(/cannot talk to this window: client speaks protocol 1/);
    expect(byTestId<HTMLButtonElement>('run').disabled).toBe(true);
  });
});

describe('a generate job', () => {
  it('runs, shows progress with step previews, and shows the result', async () => {
    const { engine } = await mountApp();
    await typePrompt('a blue square');
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    const params = runParams(engine);
    expect(params).toMatchObject({ kind: 'generate', prompt: 'a blue square', steps: 4, guidance: 2.5, scheduler: 'flow-euler' });
    expect(params).not.toHaveProperty('width'); // the model makes only its own size
    expect(params).not.toHaveProperty('negativePrompt');
    expect(Number.isInteger(params.seed)).toBe(true);
    expect(byTestId<HTMLInputElement>('seed').value).toBe(String(params.seed));

    engine.emit('progress', { jobId: 'job-1', step: 1, total: 4, preview: pngImage(8, 8) });
    await waitFor(() => expect(text('progress')).toBe('Step 1/4'));
    const preview = byTestId<HTMLImageElement>('preview');
    expect(preview.src).toMatch(/^blob:/);
    expect(preview.style.width).toBe('64px'); // the 8x8 preview fills the output's size
    const firstPreview = preview.src;
    engine.emit('progress', { jobId: 'job-1', step: 2, total: 4, preview: pngImage(8, 8, 9) });
    await waitFor(() => expect(text('progress')).toBe('Step 2/4'));
    expect(byTestId<HTMLImageElement>('preview').src).not.toBe(firstPreview);

    engine.emit('jobDone', {
      jobId: 'job-1',
      image: pngImage(64, 64, 1),
      file: '/data/history/job-1.png',
      metadata: metadata({ text: 'a blue square', seed: params.seed ?? 0 }),
      seconds: 0.4,
    });
    await waitFor(() => expect(text('run')).toBe('Run'));
    expect(screen.queryByTestId('progress')).toBeNull();
    expect(screen.queryByTestId('preview')).toBeNull();
    const shown = byTestId<HTMLImageElement>('canvas-image');
    expect(shown.dataset.kind).toBe('output');
    expect(shown.src).toMatch(/^blob:/);
    const items = screen.getAllByTestId('history-item');
    expect(items).toHaveLength(1);
    expect(items[0]!.getAttribute('aria-pressed')).toBe('true');
    expect(screen.queryByTestId('error')).toBeNull();
  });

  it('runs with Ctrl+Enter and draws a new seed per run unless the seed is locked', async () => {
    const { engine } = await mountApp();
    await fireEvent.keyDown(window, { key: 'Enter', ctrlKey: true });
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    engine.emit('jobCancelled', { jobId: 'job-1' });
    await waitFor(() => expect(text('run')).toBe('Run'));

    await fireEvent.click(byTestId('seed-lock'));
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('true');
    await fireEvent.change(byTestId('seed'), { target: { value: '777' } });
    await fireEvent.keyDown(window, { key: 'Enter', metaKey: true });
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(2));
    expect(runParams(engine, 1).seed).toBe(777);
  });

  it('applies events that arrive before the runJob reply, and ignores other jobs', async () => {
    const { engine } = await mountApp();
    engine.overrides.runJob = () => {
      engine.emit('jobQueued', { jobId: 'job-7', kind: 'generate', position: 0 });
      engine.emit('progress', { jobId: 'job-other', step: 9, total: 9, preview: pngImage(8, 8) });
      engine.emit('jobStarted', { jobId: 'job-7', kind: 'generate' });
      engine.emit('progress', { jobId: 'job-7', step: 1, total: 4, preview: null });
      return { jobId: 'job-7' };
    };
    await clickRun();
    await waitFor(() => expect(text('progress')).toBe('Step 1/4'));

    // Another window's job: progress, failure and cancel do not touch this job.
    engine.emit('progress', { jobId: 'job-other', step: 3, total: 9, preview: pngImage(8, 8) });
    engine.emit('jobFailed', { jobId: 'job-other', code: 'internal', message: 'not ours' });
    engine.emit('jobCancelled', { jobId: 'job-other' });
    engine.emit('progress', { jobId: 'job-7', step: 2, total: 4, preview: null });
    await waitFor(() => expect(text('progress')).toBe('Step 2/4'));
    expect(screen.queryByTestId('preview')).toBeNull();
    expect(screen.queryByTestId('error')).toBeNull();
    expect(text('run')).toBe('Cancel');

    // Another window's finished job lands in the strip but not in the canvas.
    engine.emit('jobDone', { jobId: 'job-other', image: pngImage(64, 64), file: 'o.png', metadata: metadata({ text: 'theirs' }), seconds: 1 });
    await waitFor(() => expect(screen.getAllByTestId('history-item')).toHaveLength(1));
    expect(text('run')).toBe('Cancel');
    expect(screen.queryByTestId('canvas-image')).toBeNull();
  });
});

describe('cancel', () => {
  it('turns Run into Cancel and cancels the running job', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    engine.emit('progress', { jobId: 'job-1', step: 1, total: 4, preview: pngImage(8, 8) });
    await fireEvent.click(byTestId('run'));
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
    await waitFor(() => expect(text('run')).toBe('Run'));
    expect(toastTexts()).toContain('Cancelled.');
    expect(screen.queryByTestId('preview')).toBeNull();
    expect(screen.queryByTestId('error')).toBeNull();
  });

  it('cancels with Escape', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    await fireEvent.keyDown(window, { key: 'Escape' });
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-1' }]));
  });

  it('sends a cancel pressed before the runJob reply once the job has an id', async () => {
    const { engine } = await mountApp();
    let release: () => void = () => undefined;
    engine.overrides.runJob = () => new Promise((resolve) => (release = () => resolve({ jobId: 'job-slow' })));
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    await fireEvent.click(byTestId('run'));
    expect(engine.calls('cancel')).toEqual([]);
    release();
    await waitFor(() => expect(engine.calls('cancel')).toEqual([{ jobId: 'job-slow' }]));
    await waitFor(() => expect(text('run')).toBe('Run'));
  });
});

describe('failures', () => {
  it('shows the engine message of a failed job inline until the next run', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    engine.emit('jobFailed', { jobId: 'job-1', code: 'bad_input', message: 'the prompt has no tokens the model knows' });
    await waitFor(() => expect(text('error')).toContain('the prompt has no tokens the model knows'));
    expect(byTestId('error').dataset.code).toBe('bad_input');
    expect(text('run')).toBe('Run');
    await new Promise((r) => setTimeout(r, 20));
    expect(text('error')).toContain('the prompt has no tokens the model knows'); // does not go away by itself
    await clickRun();
    await waitFor(() => expect(screen.queryByTestId('error')).toBeNull());
  });

  it('shows a refused runJob as the job error', async () => {
    const { engine } = await mountApp();
    engine.overrides.runJob = () => {
      throw new FakeEngineError('invalid_params', 'runJob: steps: Too big: expected number to be <=200');
    };
    await clickRun();
    await waitFor(() => expect(text('error')).toContain('steps: Too big'));
    expect(text('run')).toBe('Run');
  });

  it('says so when the engine restarted, and re-syncs (loading the default model again)', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    engine.loaded = null; // the restarted engine has no model
    engine.emit('jobFailed', { jobId: 'job-1', code: 'engine_restarted', message: 'The engine process exited (code 134).' });
    await waitFor(() => expect(text('error')).toMatch(/engine process stopped and was restarted.*exited \(code 134\)/));
    await waitFor(() => expect(engine.calls('hello')).toHaveLength(2));
    await waitFor(() => expect(engine.calls('loadModel')).toHaveLength(2));
    await waitFor(() => expect(text('engine-status')).toBe('Ready'));
  });

  it('rides out an engine restart behind the shell (calls refused until it is back)', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    // What the shell's relay does when the engine process dies: fail the job, say there is no
    // model, log it, and refuse calls until the new process is up.
    let refusals = 3;
    const restarting = () => {
      if (refusals-- > 0) throw new FakeEngineError('engine_restarted', 'the engine is restarting; try again in a moment');
    };
    engine.overrides.hello = () => {
      restarting();
      delete engine.overrides.hello;
      return helloOf(engine);
    };
    engine.overrides.loadModel = () => {
      restarting();
      delete engine.overrides.loadModel;
      engine.loaded = TINY_MODEL;
      return { model: TINY_MODEL, provider: 'cpu', notice: null };
    };
    engine.loaded = null;
    engine.emit('jobFailed', { jobId: 'job-1', code: 'engine_restarted', message: 'job lost: the engine process was killed (SIGKILL); it is being restarted' });
    engine.emit('modelChanged', { model: null, provider: null });
    engine.emit('log', { level: 'error', message: 'the engine process was killed (SIGKILL); it is being restarted', time: '' });
    await waitFor(() => expect(text('error')).toMatch(/restarted, so this job was lost/));
    expect(toastTexts()).toContain('Engine: the engine process was killed (SIGKILL); it is being restarted');
    await waitFor(() => expect(text('engine-status')).toBe('Ready'), { timeout: 5_000 });
    expect(byTestId<HTMLSelectElement>('model-picker').value).toBe('tiny-shapes');
    expect(toastTexts().filter((t) => /Could not/.test(t))).toEqual([]);
    expect(engine.requests.filter((r) => r.method === 'hello').length).toBeGreaterThanOrEqual(3);
  });

  it('ends the job with a clear error when the connection drops, then reconnects and re-syncs', async () => {
    const { engine } = await mountApp();
    await clickRun();
    await waitFor(() => expect(text('run')).toBe('Cancel'));
    engine.drop('socket closed');
    await waitFor(() => expect(text('error')).toMatch(/Lost the connection to the engine/));
    expect(text('run')).toBe('Run');
    await waitFor(() => expect(engine.calls('hello')).toHaveLength(2));
    await waitFor(() => expect(text('engine-status')).toBe('Ready'));
    expect(engine.calls('listHistory')).toHaveLength(2);
  });

  it('loads the default model again when the engine says none is loaded', async () => {
    const { engine } = await mountApp();
    engine.loaded = null;
    engine.emit('modelChanged', { model: null, provider: null });
    await waitFor(() => expect(engine.calls('loadModel')).toHaveLength(2));
    await waitFor(() => expect(byTestId<HTMLSelectElement>('model-picker').value).toBe('tiny-shapes'));
  });
});

describe('the model picker', () => {
  it('loads the chosen model and applies its defaults; a failed load is reported and reverted', async () => {
    const { engine } = await mountApp();
    const picker = byTestId<HTMLSelectElement>('model-picker');
    await fireEvent.change(picker, { target: { value: 'sd15' } });
    await waitFor(() => expect(engine.calls('loadModel').at(-1)).toEqual({ modelId: 'sd15' }));
    await waitFor(() => expect(byTestId<HTMLInputElement>('steps').value).toBe('25'));
    expect(byTestId<HTMLInputElement>('width').value).toBe('512');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('euler-a');

    engine.overrides.loadModel = () => {
      throw new FakeEngineError('model_error', 'model.onnx is missing');
    };
    await fireEvent.change(picker, { target: { value: 'tiny-shapes' } });
    await waitFor(() => expect(toastTexts().some((t) => t.includes('Could not load Tiny Shapes: model.onnx is missing'))).toBe(true));
    await waitFor(() => expect(picker.value).toBe('sd15'));
  });

  it('follows a model another window loaded', async () => {
    const { engine } = await mountApp();
    engine.emit('modelChanged', { model: engine.models[1]!, provider: 'cuda' });
    await waitFor(() => expect(byTestId<HTMLSelectElement>('model-picker').value).toBe('sd15'));
    expect(text('provider-badge')).toBe('cuda');
  });
});

describe('opening images', () => {
  it('says which dropped file is not an image and keeps working', async () => {
    const { engine } = await mountApp();
    const notes = new File(['shopping list'], 'notes.txt', { type: 'text/plain' });
    await fireEvent.dragEnter(window, { dataTransfer: { types: ['Files'], files: [notes] } });
    expect(screen.getByTestId('drop-overlay')).toBeTruthy();
    await fireEvent.drop(window, { dataTransfer: { types: ['Files'], files: [notes] } });
    await waitFor(() => expect(toastTexts().join('\n')).toMatch(/notes\.txt is not an image: the browser cannot decode it \(text\/plain\)/));
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
    expect(screen.queryByTestId('canvas-image')).toBeNull();
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');

    // still works: a real image opens and switches to Edit
    await fireEvent.drop(window, { dataTransfer: { types: ['Files'], files: [pngFile()] } });
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('source'));
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(engine.connected).toBe(true);
  });

  it('opens a picked file in Edit mode and sends its original bytes with the edit', async () => {
    const { engine } = await mountApp();
    const input = byTestId<HTMLInputElement>('file-input');
    expect(input.accept).toBe('image/*');
    const file = pngFile('cat.png', 40, 30);
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    await fireEvent.change(input);
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('source'));
    expect(screen.getByText('cat.png · 40×30')).toBeTruthy();
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(screen.queryByTestId('width')).toBeNull();
    expect(labelOf('prompt')).toBe('Instruction');
    expect(screen.queryByTestId('strength')).toBeNull();
    expect(screen.queryByTestId('negative-prompt')).toBeNull();
    expect(text('scheduler-name')).toBe('Euler (flow matching)');
    expect(text('output-size')).toBe("Output: 64×64 (the model's size)");

    await typePrompt('make it snow');
    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    const params = runParams(engine);
    expect(params.kind).toBe('edit');
    if (params.kind !== 'edit') return;
    expect(params.instruction).toBe('make it snow');
    expect([...params.image]).toEqual([...pngBytes(40, 30, 3)]);
    expect(params).not.toHaveProperty('width');
    expect(params).not.toHaveProperty('scheduler'); // an instruction edit runs the model's sampler

    engine.emit('jobDone', { jobId: 'job-1', image: pngImage(64, 64, 5), file: 'e.png', metadata: metadata({ kind: 'edit', text: 'make it snow' }), seconds: 1 });
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output'));
    const toggle = byTestId('before-after');
    await fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('before');
    await fireEvent.click(toggle);
    expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('output');
  });

  it('opens an image pasted from the clipboard', async () => {
    await mountApp();
    await fireEvent.paste(window, { clipboardData: { types: ['Files'], files: [pngFile('image.png')] } });
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('source'));
  });

  it('uses the Electron bridge for Open… when there is one', async () => {
    let asked = 0;
    const bridge = {
      openImage: async () => {
        asked++;
        return { name: 'from-dialog.png', bytes: pngBytes(16, 16) };
      },
    };
    await mountApp(new FakeEngine(), { bridge });
    await fireEvent.keyDown(window, { key: 'o', ctrlKey: true });
    await waitFor(() => expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('source'));
    expect(asked).toBe(1);
    expect(screen.getByText('from-dialog.png · 16×16')).toBeTruthy();
  });

  it('blocks an edit until an image is open, and says why', async () => {
    await mountApp();
    await fireEvent.click(byTestId('mode-edit'));
    expect(byTestId<HTMLButtonElement>('run').disabled).toBe(true);
    const run = byTestId('run');
    const reason = document.getElementById(run.getAttribute('aria-describedby') ?? '');
    expect(reason?.textContent).toBe('Open an image to edit: Open…, drop a file, or paste.');
  });
});

describe("the model's settings", () => {
  it('offers an SD model its samplers, CFG scale, a negative prompt and the output size', async () => {
    const { engine } = await mountApp();
    await pickModel('sd15');
    const scheduler = byTestId<HTMLSelectElement>('scheduler');
    expect([...scheduler.options].map((o) => [o.value, o.textContent])).toEqual([
      ['euler-a', 'Euler a'],
      ['euler', 'Euler'],
      ['ddim', 'DDIM'],
      ['dpmpp-2m-karras', 'DPM++ 2M Karras'],
      ['dpmpp-2m', 'DPM++ 2M'],
      ['lcm', 'LCM'],
    ]);
    expect(scheduler.value).toBe('euler-a');
    expect(labelOf('scheduler')).toBe('Sampler');
    expect(screen.queryByTestId('scheduler-name')).toBeNull();
    expect(labelOf('guidance')).toBe('CFG scale');
    expect(byTestId<HTMLInputElement>('guidance').value).toBe('7.5');
    expect(labelOf('negative-prompt')).toBe('Negative prompt');
    expect(screen.queryByTestId('output-size')).toBeNull();
    expect(text('mode-edit')).toBe('Image to image');

    await typePrompt('a lighthouse at dusk');
    await fireEvent.input(byTestId('negative-prompt'), { target: { value: 'blurry, text' } });
    await fireEvent.change(scheduler, { target: { value: 'dpmpp-2m-karras' } });
    await fireEvent.change(byTestId('width'), { target: { value: '768' } });
    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    expect(runParams(engine)).toMatchObject({
      kind: 'generate',
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'blurry, text',
      scheduler: 'dpmpp-2m-karras',
      steps: 25,
      guidance: 7.5,
      width: 768,
      height: 512,
    });
    engine.emit('jobCancelled', { jobId: 'job-1' });
    await waitFor(() => expect(text('run')).toBe('Run'));

    // back to the tiny FLUX model: its one sampler, no negative prompt, no size fields
    await pickModel('tiny-shapes');
    expect(screen.queryByTestId('scheduler')).toBeNull();
    expect(text('scheduler-name')).toBe('Euler (flow matching)');
    expect(screen.queryByTestId('negative-prompt')).toBeNull();
    expect(screen.queryByTestId('width')).toBeNull();
    expect(labelOf('guidance')).toBe('Guidance');
    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(2));
    expect(runParams(engine, 1)).toMatchObject({ kind: 'generate', scheduler: 'flow-euler', prompt: 'a lighthouse at dusk' });
    expect(runParams(engine, 1)).not.toHaveProperty('negativePrompt');
  });

  it('runs image-to-image from the Edit tab of an SD model: prompt, negative prompt, strength, sampler', async () => {
    const { engine } = await mountApp();
    await pickModel('sd15');
    await openFile(pngFile('cat.png', 40, 30));
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(text('mode-edit')).toBe('Image to image');
    expect(labelOf('prompt')).toBe('Prompt');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('');
    expect(byTestId<HTMLInputElement>('strength').value).toBe('0.6');
    expect(byTestId<HTMLInputElement>('strength-slider').value).toBe('0.6');
    expect(byTestId('strength').getAttribute('aria-describedby')).toBe('strength-hint');
    expect(document.getElementById('strength-hint')?.textContent).toBe('0 keeps the image, 1 ignores it.');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('euler-a');
    expect(text('output-size')).toBe("Output: 592×448 (the image's shape at the model's size)");
    expect(screen.queryByTestId('sliders')).toBeNull(); // instruction sliders belong to instruction edits

    await typePrompt('a watercolor cat');
    await fireEvent.input(byTestId('negative-prompt'), { target: { value: 'photo' } });
    await fireEvent.input(byTestId('strength-slider'), { target: { value: '0.8' } });
    expect(byTestId<HTMLInputElement>('strength').value).toBe('0.8');
    await fireEvent.change(byTestId('strength'), { target: { value: '0.35' } });
    expect(byTestId<HTMLInputElement>('strength-slider').value).toBe('0.35');
    await fireEvent.change(byTestId('scheduler'), { target: { value: 'ddim' } });
    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    const params = runParams(engine);
    expect(params).toMatchObject({ kind: 'img2img', prompt: 'a watercolor cat', negativePrompt: 'photo', strength: 0.35, scheduler: 'ddim', steps: 25, guidance: 7.5 });
    if (params.kind !== 'img2img') return;
    expect([...params.image]).toEqual([...pngBytes(40, 30, 3)]);
    expect(params).not.toHaveProperty('width');

    // the step preview is laid out at the output's size
    engine.emit('progress', { jobId: 'job-1', step: 1, total: 25, preview: pngImage(8, 8) });
    await waitFor(() => expect(byTestId<HTMLImageElement>('preview').style.width).toBe('592px'));

    // the Generate tab keeps its own prompt; the negative prompt is shared
    await fireEvent.click(byTestId('mode-generate'));
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('photo');
    expect(screen.queryByTestId('strength')).toBeNull();
  });

  it('disables the Edit tab, with the reason, for a model that cannot edit', async () => {
    const engine = new FakeEngine();
    const textOnly: ModelInfo = { ...BIG_MODEL, id: 'sd-text', name: 'SD text only', tasks: ['generate'] };
    engine.models = [...engine.models, textOnly];
    await mountApp(engine);
    await fireEvent.click(byTestId('mode-edit'));
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    await pickModel('sd-text'); // the Edit tab was open: it moves to Generate
    const edit = byTestId('mode-edit');
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(edit.getAttribute('aria-disabled')).toBe('true');
    expect(edit.title).toBe('SD text only cannot edit images.');
    expect(document.getElementById(edit.getAttribute('aria-describedby') ?? '')?.textContent).toBe('SD text only cannot edit images.');
    await fireEvent.click(edit);
    expect(edit.getAttribute('aria-selected')).toBe('false');
    await fireEvent.keyDown(byTestId('mode-generate'), { key: 'ArrowRight' });
    expect(edit.getAttribute('aria-selected')).toBe('false');
    // an opened image is shown, but the tab stays on Generate
    await openFile(pngFile());
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(byTestId('mode-generate').getAttribute('aria-disabled')).toBe('false');
  });
});

describe('reopening a PNG made by Atelier', () => {
  function atelierFile(name: string, meta: Parameters<typeof metadata>[0], width = 512, height = 512): File {
    return new File([atelierPng(width, height, metadata(meta)) as Uint8Array<ArrayBuffer>], name, { type: 'image/png' });
  }

  it('restores a generate output: settings, sampler and negative prompt come back; the image opens as the source', async () => {
    const { engine } = await mountApp();
    await pickModel('sd15');
    await openFile(
      atelierFile('photo.png', {
        kind: 'generate',
        model: 'Stable Diffusion 1.5',
        text: 'a lighthouse',
        negativePrompt: 'fog',
        scheduler: 'dpmpp-2m-karras',
        seed: 123,
        steps: 20,
        guidance: 6,
        width: 640,
        height: 384,
      }),
    );
    expect(toastTexts()).toContain('Settings restored from photo.png (seed 123, 20 steps)');
    expect(screen.getByText('photo.png · 512×512')).toBeTruthy();
    expect(byTestId('mode-generate').getAttribute('aria-selected')).toBe('true');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a lighthouse');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('fog');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('dpmpp-2m-karras');
    expect(byTestId<HTMLInputElement>('seed').value).toBe('123');
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('true');
    expect(byTestId<HTMLInputElement>('steps').value).toBe('20');
    expect(byTestId<HTMLInputElement>('guidance').value).toBe('6');
    expect([byTestId<HTMLInputElement>('width').value, byTestId<HTMLInputElement>('height').value]).toEqual(['640', '384']);

    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    expect(runParams(engine)).toEqual({
      kind: 'generate',
      prompt: 'a lighthouse',
      negativePrompt: 'fog',
      seed: 123,
      steps: 20,
      guidance: 6,
      width: 640,
      height: 384,
      scheduler: 'dpmpp-2m-karras',
    });
  });

  it('restores an image-to-image output into the Edit tab with its strength', async () => {
    const { engine } = await mountApp();
    await pickModel('sd15');
    await openFile(
      atelierFile('variation.png', { kind: 'img2img', model: 'Stable Diffusion 1.5', text: 'a watercolor', strength: 0.3, scheduler: 'lcm', seed: 9, steps: 8 }),
    );
    expect(toastTexts()).toContain('Settings restored from variation.png (seed 9, 8 steps)');
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a watercolor');
    expect(byTestId<HTMLInputElement>('strength').value).toBe('0.3');
    expect(byTestId<HTMLSelectElement>('scheduler').value).toBe('lcm');
    expect(byTestId<HTMLTextAreaElement>('negative-prompt').value).toBe('');
    await clickRun();
    await waitFor(() => expect(engine.calls('runJob')).toHaveLength(1));
    expect(runParams(engine)).toMatchObject({ kind: 'img2img', prompt: 'a watercolor', strength: 0.3, scheduler: 'lcm', seed: 9, steps: 8 });
  });

  it('restores an instruction edit, and says when another model made the image', async () => {
    await mountApp();
    await openFile(atelierFile('kontext.png', { kind: 'edit', text: 'add snow', seed: 5, steps: 6 }, 64, 64));
    expect(toastTexts()).toContain('Settings restored from kontext.png (seed 5, 6 steps)');
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(labelOf('prompt')).toBe('Instruction');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('add snow');

    await openFile(atelierFile('from-sd.png', { kind: 'generate', model: 'Stable Diffusion 1.5', text: 'a boat', seed: 77, steps: 30, scheduler: 'ddim' }));
    expect(toastTexts()).toContain('Settings restored from from-sd.png (seed 77, 30 steps; made with Stable Diffusion 1.5)');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a boat');
    expect(text('scheduler-name')).toBe('Euler (flow matching)'); // the loaded model's sampler
  });

  it('opens other PNGs as before: Edit tab, settings untouched, no toast', async () => {
    await mountApp();
    await typePrompt('my prompt');
    const foreign = pngBytes(32, 32, 0, [textChunk('parameters', 'a cat\nSteps: 20, Seed: 1', false)]);
    await openFile(new File([foreign as Uint8Array<ArrayBuffer>], 'a1111.png', { type: 'image/png' }));
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(toastTexts()).toEqual([]);
    expect(byTestId('seed-lock').getAttribute('aria-pressed')).toBe('false');
    await fireEvent.click(byTestId('mode-generate'));
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('my prompt');

    const broken = pngBytes(32, 32, 0, [textChunk('atelier', '{"kind":"generate"')]);
    await openFile(new File([broken as Uint8Array<ArrayBuffer>], 'broken.png', { type: 'image/png' }));
    expect(byTestId('mode-edit').getAttribute('aria-selected')).toBe('true');
    expect(toastTexts()).toEqual([]);
  });

  it('restores from the Electron open dialog too', async () => {
    const bridge = { openImage: async () => ({ name: 'saved.png', bytes: atelierPng(64, 64, metadata({ text: 'a moon', seed: 31, steps: 3 })) }) };
    await mountApp(new FakeEngine(), { bridge });
    await fireEvent.keyDown(window, { key: 'o', ctrlKey: true });
    await waitFor(() => expect(toastTexts()).toContain('Settings restored from saved.png (seed 31, 3 steps)'));
    expect(byTestId<HTMLImageElement>('canvas-image').dataset.kind).toBe('source');
    expect(byTestId<HTMLTextAreaElement>('prompt').value).toBe('a moon');
  });
});
