/** `eval --record`: figures merged into the report beside the model, nothing else touched, bad reports named. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../testing/models.js';
import { recordFigures, reportFileFor } from './record.js';

function zooLike(): { modelDir: string; report: string } {
  const root = tempDir();
  const modelDir = path.join(root, 'kontext');
  mkdirSync(path.join(modelDir, 'transformer'), { recursive: true });
  writeFileSync(path.join(modelDir, 'transformer', 'model.onnx'), 'graph bytes');
  const report = path.join(root, 'report.json');
  writeFileSync(report, JSON.stringify({ t2i_all_correct: 0.5, eval_watermark: { bit_acc_clean: 0.1 } }));
  return { modelDir, report };
}

describe('eval --record and bench --record', () => {
  it('files the figures under eval_<suite> with the date and the denoiser hash, keeping every other key', async () => {
    const { modelDir, report } = zooLike();
    expect(reportFileFor(modelDir)).toBe(report);
    await recordFigures(modelDir, 'slideredit', { spearman: 0.5, n: 8 }, new Date('2026-11-28T12:00:00Z'));
    await recordFigures(modelDir, 'watermark', { bit_acc_clean: 0.9 }, new Date('2026-11-28T12:00:00Z'));
    await recordFigures(modelDir, 'slideredit', { ratio: 0.8 }, new Date('2026-11-29T12:00:00Z'), 'bench');
    const saved = JSON.parse(readFileSync(report, 'utf8'));
    expect(saved.bench_slideredit).toMatchObject({ ratio: 0.8, measured: '2026-11-29' });
    expect(saved.t2i_all_correct).toBe(0.5);
    expect(saved.eval_slideredit).toEqual({ spearman: 0.5, n: 8, measured: '2026-11-28', denoiser_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(saved.eval_watermark).toMatchObject({ bit_acc_clean: 0.9 });
  });

  it('names a missing or broken report', async () => {
    const { modelDir, report } = zooLike();
    writeFileSync(report, '{ not json');
    await expect(recordFigures(modelDir, 'watermark', {})).rejects.toThrow(/report\.json is not valid JSON/);
    writeFileSync(report, '[1, 2]');
    await expect(recordFigures(modelDir, 'watermark', {})).rejects.toThrow(/does not hold a JSON object/);
    await expect(recordFigures(path.join(tempDir(), 'nowhere', 'kontext'), 'watermark', {})).rejects.toThrow(/no quality report at/);
  });
});
