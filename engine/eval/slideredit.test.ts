/**
 * The statistics and judged quantities of `eval slideredit`: Spearman with ties and constant
 * series, the chi-square uniformity of a sweep's frame changes, and each part kind's progress and
 * judged attribute read from judgements (including a suppressed move leaving the object in its
 * source cell), and the shape of a sweep's judged outcome (monotone, off at strength 0, where it
 * turns on).
 */
import { describe, expect, it } from 'vitest';
import type { CellJudgement, Judgement } from './judge.js';
import type { EditItem } from './scenes.js';
import { median } from '../bench/report.js';
import { chiSquareUniformity, imageDistance, judgedSteps, spearman } from './slideredit-metrics.js';
import { evidenceOf, judgedAttribute, progressOf, targetAttribute } from './slideredit.js';

describe('spearman', () => {
  it('is 1 for any increasing relation, -1 for decreasing, and averages tied ranks', () => {
    expect(spearman([0, 1, 2, 3], [0.1, 0.2, 0.9, 5])).toBeCloseTo(1, 12);
    expect(spearman([0, 1, 2, 3], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // ranks of y: 1, 2.5, 2.5, 4 -> r = 0.9486832980505138 (scipy.stats.spearmanr)
    expect(spearman([0, 1, 2, 3], [1, 2, 2, 3])).toBeCloseTo(0.9486832980505138, 12);
  });

  it('is 0 when the judge saw no change, and refuses mismatched series', () => {
    expect(spearman([0, 1, 2], [0.5, 0.5, 0.5])).toBe(0);
    expect(() => spearman([0, 1], [1])).toThrow('same length');
  });
});

describe('chi-square uniformity of a sweep', () => {
  const frame = (v: number) => Uint8Array.of(v, v, v);
  it('is 0 for equal steps and K - 1 when one step holds all the change', () => {
    expect(chiSquareUniformity([frame(0), frame(10), frame(20), frame(30)])).toBeCloseTo(0, 12);
    expect(chiSquareUniformity([frame(0), frame(0), frame(90), frame(90)])).toBeCloseTo(2, 12);
  });

  it('follows Pearson\'s formula for uneven steps, and is null without any change', () => {
    // d = 10, 30 (x sqrt(3)/255): p = 0.25, 0.75; chi2 = 2 * ((0.25 - 0.5)^2 + (0.75 - 0.5)^2) = 0.25
    expect(chiSquareUniformity([frame(0), frame(10), frame(40)])).toBeCloseTo(0.25, 12);
    expect(chiSquareUniformity([frame(5), frame(5), frame(5)])).toBeNull();
    expect(imageDistance(frame(0), frame(255))).toBeCloseTo(Math.sqrt(3), 12);
  });
});

const classes = {
  shape: ['empty', 'circle', 'square', 'triangle', 'cross'],
  color: ['red', 'orange', 'yellow', 'green', 'blue', 'purple'],
  size: ['small', 'large'],
};
const onehot = (list: string[], value: string, p = 0.9) => Object.fromEntries(list.map((c) => [c, c === value ? p : (1 - p) / (list.length - 1)]));

/** A judgement with one object (shape, color, size) in `cell` on `background`. */
function judgement(background: string, cell: number, shape: string, color: string, size: string): Judgement {
  const cells: CellJudgement[] = Array.from({ length: 9 }, (_, c) => ({
    cell: c,
    cellName: String(c),
    shape: onehot(classes.shape, c === cell ? shape : 'empty', 0.95),
    color: onehot(classes.color, c === cell ? color : 'red'),
    size: onehot(classes.size, c === cell ? size : 'small'),
  }));
  return { scene: { background, objects: [{ shape, color, size, cell }] }, background: onehot(['white', 'gray', 'black', 'beige'], background, 0.8), cells };
}

const item: EditItem = {
  id: 'edit-x',
  source: 'edit/x.png',
  instruction: 'move the square to the right and make it blue and change the background to black',
  parts: [
    { kind: 'position', object: 0, value: 'right', text: 'move the square to the right' },
    { kind: 'color', object: 0, value: 'blue', text: 'make it blue' },
    { kind: 'background', object: null, value: 'black', text: 'change the background to black' },
  ],
  n_parts: 3,
  seed: 1,
  source_scene: { background: 'white', objects: [{ shape: 'square', color: 'red', size: 'small', cell: 3 }] },
  target_scene: { background: 'black', objects: [{ shape: 'square', color: 'blue', size: 'small', cell: 4 }] },
  requested: [],
};

describe('progress and judged attributes per part kind', () => {
  const [move, color, background] = item.parts as [EditItem['parts'][number], EditItem['parts'][number], EditItem['parts'][number]];
  const done = judgement('black', 4, 'square', 'blue', 'small');
  const suppressedMove = judgement('black', 3, 'square', 'blue', 'small');

  it('reads each kind\'s target probability, following the object to where it is', () => {
    expect(progressOf(done, item, background)).toBeCloseTo(0.8, 6);
    expect(progressOf(done, item, color)).toBeCloseTo(0.9, 6);
    expect(progressOf(suppressedMove, item, color)).toBeCloseTo(0.9, 6); // read in the source cell
    // occupancy = 1 - P(empty): 1 - 0.05 / 4 where the square is, 1 - 0.95 in an empty cell
    expect(progressOf(done, item, move)).toBeCloseTo(0.9875 - 0.05, 6);
    expect(progressOf(suppressedMove, item, move)).toBeCloseTo(0.05 - 0.9875, 6);
  });

  it('reads the evidence as log-odds of target over source, which keeps ranking where probabilities saturate', () => {
    // background: p(black) = 0.8, p(white) = 0.2 / 3
    expect(evidenceOf(done, item, background)).toBeCloseTo(Math.log(0.8) - Math.log(0.2 / 3), 9);
    // color in the object's cell: p(blue) = 0.9, p(red) = 0.1 / 5
    expect(evidenceOf(done, item, color)).toBeCloseTo(Math.log(0.9) - Math.log(0.1 / 5), 9);
    // a move: logit of occupancy in the target cell minus in the source cell
    const logit = (occupied: number) => Math.log(occupied) - Math.log(1 - occupied);
    expect(evidenceOf(done, item, move)).toBeCloseTo(logit(0.9875) - logit(0.05), 9);
    expect(evidenceOf(suppressedMove, item, move)).toBeCloseTo(-(logit(0.9875) - logit(0.05)), 9);
    // two frames whose probabilities both round to 1 still rank by their evidence
    const sure = judgement('black', 4, 'square', 'blue', 'small');
    const surer = judgement('black', 4, 'square', 'blue', 'small');
    sure.cells[4]!.color = { ...sure.cells[4]!.color, blue: 1, red: 1e-9 };
    surer.cells[4]!.color = { ...surer.cells[4]!.color, blue: 1, red: 1e-12 };
    expect(progressOf(sure, item, color)).toBe(progressOf(surer, item, color));
    expect(evidenceOf(surer, item, color)).toBeGreaterThan(evidenceOf(sure, item, color));
    // a probability float32 rounded to 0 is floored, not -Infinity
    surer.cells[4]!.color = { ...surer.cells[4]!.color, red: 0 };
    expect(Number.isFinite(evidenceOf(surer, item, color))).toBe(true);
  });

  it('gives the argmax attribute, and for a move which cell holds the object', () => {
    expect(judgedAttribute(done, item, move)).toBe('moved');
    expect(judgedAttribute(suppressedMove, item, move)).toBe('stayed');
    expect(judgedAttribute(suppressedMove, item, color)).toBe('blue');
    expect(judgedAttribute(judgement('white', 4, 'square', 'red', 'small'), item, background)).toBe('white');
  });
});

describe('the judged outcome of a sweep', () => {
  it('names what each part asks for, as judgedAttribute reads it', () => {
    const [move, color, background] = item.parts as [EditItem['parts'][number], EditItem['parts'][number], EditItem['parts'][number]];
    expect([targetAttribute(item, move), targetAttribute(item, color), targetAttribute(item, background)]).toEqual(['moved', 'blue', 'black']);
    const done = judgement('black', 4, 'square', 'blue', 'small');
    expect(item.parts.every((part) => judgedAttribute(done, item, part) === targetAttribute(item, part))).toBe(true);
  });

  it('tells a monotone step from one that is lost again, and where it turns on', () => {
    const on = true;
    const off = false;
    expect(judgedSteps([off, off, off, on, on, on, on, on, on])).toEqual({ monotone: true, offAtStart: true, firstReached: 3 });
    expect(judgedSteps([on, on, on])).toEqual({ monotone: true, offAtStart: false, firstReached: 0 }); // never suppressed
    expect(judgedSteps([off, off])).toEqual({ monotone: true, offAtStart: true, firstReached: null }); // never applied
    expect(judgedSteps([off, on, on, off, on])).toEqual({ monotone: false, offAtStart: true, firstReached: 1 }); // lost at a higher strength
    expect(() => judgedSteps([])).toThrow('at least one frame');
  });

  it('takes the transition median with the shared median of odd and even lists, which refuses an empty one', () => {
    expect(median([0.75, 0.25, 0.5])).toBe(0.5);
    expect(median([1, 0.5, 0.75, 0.25])).toBe(0.625);
    expect(() => median([])).toThrow('median of no values');
  });
});

