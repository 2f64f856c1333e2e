/**
 * Where a model's SliderEdit checkpoints are found: its atelier.json, a slideredit/ folder inside
 * it, one beside it (slideredit.json in the zoo's form, or the default file names), the zoo's
 * adapter test set; a job's own file first; clear errors for broken references.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../testing/models.js';
import { findCheckpoints, stloraFor } from './checkpoint.js';

function layout(): { root: string; model: string } {
  const root = tempDir();
  const model = path.join(root, 'kontext');
  mkdirSync(model);
  writeFileSync(path.join(model, 'atelier.json'), JSON.stringify({ format: 'atelier-model/1' }));
  return { root, model };
}

function touch(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'x');
  return file;
}

describe('SliderEdit checkpoints of a model', () => {
  it('reads the zoo\'s slideredit.json beside the model (file objects)', () => {
    const { root, model } = layout();
    const st = touch(path.join(root, 'slideredit', 'st.safetensors'));
    const gst = touch(path.join(root, 'slideredit', 'gst.safetensors'));
    writeFileSync(path.join(root, 'slideredit', 'slideredit.json'), JSON.stringify({ format: 'atelier-slideredit/1', stlora: { file: 'st.safetensors', rank: 16 }, gstlora: { file: 'gst.safetensors' } }));
    expect(findCheckpoints(model)).toMatchObject({ stlora: st, gstlora: gst });
  });

  it('falls back to the default names, a folder inside the model, one beside it, then the zoo adapter set', () => {
    const { root, model } = layout();
    expect(findCheckpoints(model)).toBeNull();
    const zoo = touch(path.join(root, 'adapters', 'stlora.slideredit.safetensors'));
    expect(findCheckpoints(model)).toMatchObject({ stlora: zoo, gstlora: null });
    const beside = touch(path.join(root, 'slideredit', 'stlora.safetensors'));
    const gst = touch(path.join(root, 'slideredit', 'gstlora.safetensors'));
    expect(findCheckpoints(model)).toMatchObject({ stlora: beside, gstlora: gst });
    // the model's own folder wins over a sibling one (which may belong to another model)
    const inside = touch(path.join(model, 'slideredit', 'stlora.safetensors'));
    expect(findCheckpoints(model)).toMatchObject({ stlora: inside, gstlora: null });
  });

  it('takes the model manifest\'s "slideredit" section first', () => {
    const { model } = layout();
    const st = touch(path.join(model, 'weights', 'slider.safetensors'));
    writeFileSync(path.join(model, 'atelier.json'), JSON.stringify({ format: 'atelier-model/1', slideredit: { stlora: 'weights/slider.safetensors' } }));
    expect(findCheckpoints(model)).toMatchObject({ stlora: st, gstlora: null });
  });

  it('names a broken reference, and a job\'s own file wins', () => {
    const { root, model } = layout();
    mkdirSync(path.join(root, 'slideredit'));
    writeFileSync(path.join(root, 'slideredit', 'slideredit.json'), JSON.stringify({ stlora: { file: 'gone.safetensors' } }));
    expect(() => findCheckpoints(model)).toThrow(/slideredit\.json: "stlora" names .*gone\.safetensors, which does not exist/);
    writeFileSync(path.join(root, 'slideredit', 'slideredit.json'), JSON.stringify({ stlora: 3 }));
    expect(() => findCheckpoints(model)).toThrow('"stlora" must be a file name or {"file": name}');
    writeFileSync(path.join(root, 'slideredit', 'slideredit.json'), '{');
    expect(() => findCheckpoints(model)).toThrow('not valid JSON');
    const own = touch(path.join(root, 'mine.safetensors'));
    expect(stloraFor(model, own)).toBe(own);
    expect(() => stloraFor(model, path.join(root, 'nope.safetensors'))).toThrow('STLoRA file not found');
  });
});
