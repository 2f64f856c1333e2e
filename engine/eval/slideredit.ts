/**
 * `eval slideredit`: SliderEdit on the tiny Kontext model's held-out multi-part edits
 * (models/tiny/eval/edit.json, items with >= 2 parts), judged by the zoo's attribute judge.
 *
 * Per item (source image, instruction, seed, the model's default steps and guidance), through the
 * engine's own SliderEdit session (cached encodings, the STLoRA as live branches):
 * - each part is swept over STRENGTHS (0, 0.25, ..., 2) with the other parts at 1; every frame is
 *   judged;
 * - progress of a part in a frame (what its slider should move):
 *     color / shape: the judge's probability of the target value in the object's cell;
 *     size: the probability of the target size class ("large" for "bigger") in the object's cell;
 *     background: the probability of the target background;
 *     position: occupancy(target cell) - occupancy(source cell), occupancy = 1 - P(empty);
 *   the object's cell in a frame is whichever of its source and target cells is more occupied
 *   (a suppressed move leaves it in the source cell);
 * - `spearman`: the mean over sweeps of Spearman's correlation between strength and progress (a
 *   sweep the judge sees no change in counts 0). A discrete attribute's probability is a step that
 *   then saturates, and a noise-free step over the 9 strengths already caps this at 0.866 (the step
 *   in the middle), so
 * - `spearman_log_odds` is the same correlation on the judge's evidence (evidenceOf): the log-odds
 *   of the target over the source value, which keeps ranking frames past the transition;
 * - the judged outcome per frame (whether the part's attribute reads its target value: the argmax
 *   as below; for a move, that the object is in the target cell), which says what a Spearman figure
 *   cannot: `judged_monotone`, the share of sweeps whose outcome, once reached, is never lost at a
 *   higher strength; `judged_suppressed_at_0`, the share that strength 0 keeps at the source value;
 *   `judged_applied_at_1`, the share the plain edit (strength 1) applies; and
 *   `judged_transition_strength_median`, over the sweeps that go from off to on, the median first
 *   strength that shows the part;
 * - `leakage`: the fraction of sweeps in which some other part's judged attribute (the argmax read
 *   as above; for a move, which of the two cells holds the object) differs, in some frame, from
 *   the frame with every strength at 1;
 * - `chi2`: the mean over sweeps of the chi-square uniformity statistic of the consecutive frame
 *   changes (engine/eval/slideredit-metrics.ts); `chi2_baseline`: the same for one global scale
 *   on all tokens, swept over the same strengths once per item (alpha = 1 - strength): the
 *   GSTLoRA as a scalar live weight when the model has one, else the STLoRA with alpha on every
 *   text token (`baseline` says which); both act on the prompt's pass only, as SliderEdit's
 *   STLoRA does (with a true-CFG model the negative pass runs plain);
 * - `exact_max_abs_diff`: the largest difference, over items, between the final latents of the
 *   plain edit (no STLoRA) and of SliderEdit with every strength at 1;
 * - `n`: sweeps measured (`items`: items).
 * By default every held-out multi-part item (400 items, 1,000 sweeps; about an hour on two CPU
 * cores): at 32 items (80 sweeps) retrainings of the same recipe on close base models read leakage
 * 7-15 sweeps, a spread as large as any change being measured, so the recorded figures take the
 * whole set. --limit N takes the first N items for a quick look. With `sweepsFile`
 * (`--sweeps FILE`), every sweep's record is written there as JSON (SweepRecord: the strengths, the
 * progress and each part's judged attribute per frame, whether it leaked), for finding where a
 * figure is lost.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdapterManager } from '../adapters/manager.js';
import { decodeImage } from '../images/codec.js';
import type { RgbImage } from '../images/rgb.js';
import { findCheckpoints } from '../methods/slideredit/checkpoint.js';
import { SliderEditSession, type SplitParts } from '../methods/slideredit/session.js';
import { describeModelFolder } from '../models/detect.js';
import { embeddedModelDir, packageRoot } from '../paths.js';
import { FluxPipeline } from '../pipelines/flux/pipeline.js';
import type { RunHooks } from '../pipelines/pipeline.js';
import { Judge, type Judgement } from './judge.js';
import { readEditSet, type EditItem } from './scenes.js';
import { writeJsonAtomic } from '../stores/atomic.js';
import { median, type Figures } from '../bench/report.js';
import { chiSquareUniformity, judgedSteps, mean, spearman, type JudgedSteps } from './slideredit-metrics.js';

export const STRENGTHS = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];

const share = (count: number, of: number): number | null => (of === 0 ? null : count / of);

export interface SliderEvalOptions {
  modelDir?: string;
  limit?: number;
  progress?: (line: string) => void;
  /** Write every sweep's SweepRecord here (JSON). */
  sweepsFile?: string;
}

/** One sweep of one part, as `sweepsFile` holds it. */
export interface SweepRecord {
  item: string;
  instruction: string;
  part: number;
  kind: string;
  text: string;
  strengths: number[];
  progress: number[];
  /** evidenceOf per frame. */
  evidence: number[];
  spearman: number;
  /** judged[f][k]: part k's judged attribute in frame f (judgedAttribute). */
  judged: string[][];
  /** The judged attributes of the frame with every strength at 1. */
  reference: string[];
  /** Per frame: whether the swept part's judged attribute is its target value (targetAttribute). */
  reached: boolean[];
  leaked: boolean;
  chi2: number | null;
}

type Part = EditItem['parts'][number];

function occupancy(j: Judgement, cell: number): number {
  return 1 - (j.cells[cell]!.shape.empty ?? 0);
}

/** The object's cell in a frame: its source or target cell, whichever is more occupied. */
function objectCell(j: Judgement, item: EditItem, object: number): number {
  const from = item.source_scene.objects[object]!.cell;
  const to = item.target_scene.objects[object]!.cell;
  return occupancy(j, to) >= occupancy(j, from) ? to : from;
}

function argmax(probs: Record<string, number>): string {
  return Object.entries(probs).reduce((best, e) => (e[1] > best[1] ? e : best), ['', -Infinity])[0];
}

/**
 * The judge's probabilities over a part's attribute (background: of the image; otherwise in the
 * object's cell, see objectCell) with the part's target and source values. Not for moves, which
 * are read from two cells' occupancy.
 */
function attributeProbs(j: Judgement, item: EditItem, part: Part): { probs: Record<string, number>; target: string; source: string } {
  if (part.kind === 'background') return { probs: j.background, target: item.target_scene.background, source: item.source_scene.background };
  const o = part.object!;
  const cell = j.cells[objectCell(j, item, o)]!;
  const target = item.target_scene.objects[o]!;
  const source = item.source_scene.objects[o]!;
  if (part.kind === 'color') return { probs: cell.color, target: target.color, source: source.color };
  if (part.kind === 'shape') return { probs: cell.shape, target: target.shape, source: source.shape };
  if (part.kind === 'size') return { probs: cell.size, target: target.size, source: source.size };
  throw new Error(`${item.id}: unknown part kind "${part.kind}"`);
}

/** The cells a move goes from and to. */
function moveCells(item: EditItem, part: Part): { from: number; to: number } {
  return { from: item.source_scene.objects[part.object!]!.cell, to: item.target_scene.objects[part.object!]!.cell };
}

/** How far a frame has gone toward the part's target (see the module comment). */
export function progressOf(j: Judgement, item: EditItem, part: Part): number {
  if (part.kind === 'position') {
    const { from, to } = moveCells(item, part);
    return occupancy(j, to) - occupancy(j, from);
  }
  const a = attributeProbs(j, item, part);
  return a.probs[a.target] ?? 0;
}

/** log p, with the judge's probabilities floored where float32 rounded them to 0. */
function logProb(p: number | undefined): number {
  return Math.log(Math.max(p ?? 0, 1e-30));
}

/**
 * The judge's evidence for the part's target over its source value (see the module comment): the
 * log-odds log p(target) - log p(source) in the object's cell (background: of the image);
 * position: logit(occupancy(target cell)) - logit(occupancy(source cell)). Unlike a probability
 * it does not saturate, so frames past the transition still rank by how clearly they show it.
 */
export function evidenceOf(j: Judgement, item: EditItem, part: Part): number {
  if (part.kind === 'position') {
    const { from, to } = moveCells(item, part);
    const logit = (cell: number) => logProb(occupancy(j, cell)) - logProb(j.cells[cell]!.shape.empty);
    return logit(to) - logit(from);
  }
  const a = attributeProbs(j, item, part);
  return logProb(a.probs[a.target]) - logProb(a.probs[a.source]);
}

/** The attribute value the part asks for, as judgedAttribute reads it ("moved" for a move). */
export function targetAttribute(item: EditItem, part: Part): string {
  if (part.kind === 'position') return 'moved';
  if (part.kind === 'background') return item.target_scene.background;
  const object = item.target_scene.objects[part.object!]!;
  if (part.kind === 'color') return object.color;
  if (part.kind === 'shape') return object.shape;
  if (part.kind === 'size') return object.size;
  throw new Error(`${item.id}: unknown part kind "${part.kind}"`);
}

/** The part's attribute as judged (an argmax), for telling whether it changed. */
export function judgedAttribute(j: Judgement, item: EditItem, part: Part): string {
  if (part.kind === 'position') return objectCell(j, item, part.object!) === moveCells(item, part).to ? 'moved' : 'stayed';
  return argmax(attributeProbs(j, item, part).probs);
}

interface Prepared {
  item: EditItem;
  session: SliderEditSession;
  split: SplitParts;
  plainLatents: Float32Array;
}

export async function evalSliderEdit(options: SliderEvalOptions = {}): Promise<Figures> {
  const modelDir = options.modelDir ?? embeddedModelDir();
  const evalDir = path.join(packageRoot(), 'models', 'tiny', 'eval');
  const items = readEditSet(path.join(evalDir, 'edit.json'))
    .items.filter((i) => i.n_parts >= 2)
    .slice(0, options.limit ?? Infinity);
  const checkpoints = findCheckpoints(modelDir);
  if (!checkpoints) throw new Error(`${modelDir}: no SliderEdit STLoRA found (build it in the zoo, see models/zoo/README.md)`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'atelier-eval-slideredit-'));
  const descriptor = describeModelFolder(modelDir, true);
  const pipeline = await FluxPipeline.load(descriptor, 'cpu', { graphCacheDir: path.join(work, 'graphs') });
  const judge = await Judge.load();
  const adapters = new AdapterManager(work);
  const host = pipeline.adapters;
  const stages = pipeline.editStages;
  const started = performance.now();
  const { steps, guidance } = descriptor.info.defaults;
  const hooks = (latents?: (l: Float32Array) => void): RunHooks => ({ signal: new AbortController().signal, ...(latents ? { onLatents: latents } : {}) });
  try {
    const stlora = (await adapters.add({ path: checkpoints.stlora })).id;
    const gstlora = checkpoints.gstlora ? (await adapters.add({ path: checkpoints.gstlora })).id : null;

    // 1. plain edits (no STLoRA) and the sessions' encodings
    const prepared: Prepared[] = [];
    for (const item of items) {
      const source = await decodeImage(readFileSync(path.join(evalDir, item.source)), { name: item.source });
      let plainLatents = new Float32Array(0);
      await pipeline.edit({ image: source, instruction: item.instruction, seed: item.seed, steps, guidance, width: source.width, height: source.height }, hooks((l) => (plainLatents = l.slice())));
      const session = await SliderEditSession.create(stages, source, item.instruction);
      const auto = session.split();
      const split = auto.parts.map((p) => p.text).join('|') === item.parts.map((p) => p.text).join('|') ? auto : session.split(item.parts.map((p) => p.text));
      prepared.push({ item, session, split, plainLatents });
    }
    options.progress?.(`${prepared.length} plain edits`);

    // 2. SliderEdit sweeps
    await adapters.setMethodAdapters(host, [{ id: stlora, enabled: true, weight: 1, mode: 'live', perToken: true, promptOnly: true }]);
    const render = (p: Prepared, strengths: number[], latents?: (l: Float32Array) => void) =>
      p.session.render(p.session.scales(p.split, strengths), (v) => adapters.setTokenScales(stlora, v), { seed: p.item.seed, steps, guidance }, hooks(latents));
    let exact = 0;
    const correlations: number[] = [];
    const byKind = new Map<string, number[]>();
    const chi2: number[] = [];
    let leaks = 0;
    let sweeps = 0;
    let flat = 0;
    const records: SweepRecord[] = [];
    const evidenceCorrelations: number[] = [];
    const outcomes: JudgedSteps[] = [];
    let appliedAtOne = 0;
    for (const [n, p] of prepared.entries()) {
      const ones = p.split.parts.map(() => 1);
      let latents = new Float32Array(0);
      const reference = await render(p, ones, (l) => (latents = l.slice()));
      for (let i = 0; i < latents.length; i++) exact = Math.max(exact, Math.abs(latents[i]! - p.plainLatents[i]!));
      const [referenceJudged] = await judge.judge([reference]);
      const attributes = (j: Judgement) => p.item.parts.map((o) => judgedAttribute(j, p.item, o));
      const referenceAttributes = attributes(referenceJudged!);
      for (const [i, part] of p.item.parts.entries()) {
        const frames: RgbImage[] = [];
        for (const s of STRENGTHS) frames.push(s === 1 ? reference : await render(p, ones.map((v, k) => (k === i ? s : v))));
        const judged = await judge.judge(frames);
        const progress = judged.map((j) => progressOf(j, p.item, part));
        const evidence = judged.map((j) => evidenceOf(j, p.item, part));
        const rho = spearman(STRENGTHS, progress);
        evidenceCorrelations.push(spearman(STRENGTHS, evidence));
        if (progress.every((v) => v === progress[0])) flat++; // the judge saw no change (not merely rho 0)
        correlations.push(rho);
        byKind.set(part.kind, [...(byKind.get(part.kind) ?? []), rho]);
        const frameAttributes = judged.map(attributes);
        const target = targetAttribute(p.item, part);
        const reached = frameAttributes.map((f) => f[i] === target);
        outcomes.push(judgedSteps(reached));
        if (reached[STRENGTHS.indexOf(1)]) appliedAtOne++;
        const leaked = frameAttributes.some((f) => f.some((a, k) => k !== i && a !== referenceAttributes[k]));
        if (leaked) leaks++;
        const c = chiSquareUniformity(frames.map((f) => f.data));
        if (c !== null) chi2.push(c);
        sweeps++;
        if (options.sweepsFile) records.push({ item: p.item.id, instruction: p.item.instruction, part: i, kind: part.kind, text: part.text, strengths: STRENGTHS, progress, evidence, spearman: rho, judged: frameAttributes, reference: referenceAttributes, reached, leaked, chi2: c });
      }
      options.progress?.(`item ${n + 1}/${prepared.length}: spearman ${mean(correlations)?.toFixed(3)} leakage ${(leaks / sweeps).toFixed(3)}`);
    }

    // 3. the baseline: one global scale on all tokens
    const baselineChi2: number[] = [];
    if (gstlora) await adapters.setMethodAdapters(host, [{ id: gstlora, enabled: true, weight: 0, mode: 'live', promptOnly: true }]);
    const tokens = stages.t5().maxLength;
    for (const p of prepared) {
      const frames: RgbImage[] = [];
      for (const s of STRENGTHS) {
        const alpha = 1 - s;
        if (gstlora) await adapters.setMethodAdapters(host, [{ id: gstlora, enabled: true, weight: alpha, mode: 'live', promptOnly: true }]);
        const scales = new Float32Array(tokens).fill(alpha);
        frames.push(await p.session.render(scales, (v) => (gstlora ? undefined : adapters.setTokenScales(stlora, v)), { seed: p.item.seed, steps, guidance }, hooks()));
      }
      const c = chiSquareUniformity(frames.map((f) => f.data));
      if (c !== null) baselineChi2.push(c);
    }

    if (options.sweepsFile) await writeJsonAtomic(options.sweepsFile, { format: 'atelier-slideredit-sweeps/1', sweeps: records });
    // the first strength showing the part, over the sweeps that turn on (off at 0, never lost after)
    const transitions = outcomes.flatMap((s) => (s.monotone && s.firstReached !== null && s.firstReached > 0 ? [STRENGTHS[s.firstReached]!] : []));
    const figures: Figures = {
      suite: 'slideredit',
      model: descriptor.info.name,
      stlora: path.relative(packageRoot(), checkpoints.stlora),
      steps,
      strengths: STRENGTHS.join(','),
      spearman: mean(correlations),
      spearman_log_odds: mean(evidenceCorrelations),
      judged_monotone: share(outcomes.filter((s) => s.monotone).length, sweeps),
      judged_suppressed_at_0: share(outcomes.filter((s) => s.offAtStart).length, sweeps),
      judged_applied_at_1: share(appliedAtOne, sweeps),
      judged_transition_strength_median: transitions.length === 0 ? null : median(transitions),
      leakage: share(leaks, sweeps),
      chi2: mean(chi2),
      chi2_baseline: mean(baselineChi2),
      baseline: gstlora ? `GSTLoRA (${path.basename(checkpoints.gstlora!)}) at one global scale` : 'STLoRA with one scale on every text token (no GSTLoRA found)',
      exact_max_abs_diff: exact,
      n: sweeps,
      items: prepared.length,
      sweeps_without_change: flat,
    };
    for (const [kind, values] of byKind) figures[`spearman_${kind}`] = mean(values);
    figures.seconds = (performance.now() - started) / 1000;
    return figures;
  } finally {
    await judge.release();
    await pipeline.release();
    rmSync(work, { recursive: true, force: true });
  }
}
