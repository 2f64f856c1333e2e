/**
 * Scoring a judged image against the evaluation sets' ground truth, exactly as the zoo builder
 * scores it (models/zoo/zoo/evaluate.py), so both sides' figures are comparable:
 * - text-to-image: the judged scene equals the requested one (background, occupied cells, and
 *   each cell's shape, color and size; no extra shapes);
 * - edits: every requested change is present (applied) and every other attribute of the source,
 *   and the absence of shapes elsewhere, is kept (preserved).
 */
import type { EditItem, Scene } from './scenes.js';

export function t2iCorrect(judged: Scene, requested: Scene): boolean {
  const key = (scene: Scene) =>
    scene.objects
      .map((o) => `${o.cell}|${o.shape}|${o.color}|${o.size}`)
      .sort()
      .join(';');
  return judged.background === requested.background && key(judged) === key(requested);
}

export interface EditScore {
  applied: boolean;
  preserved: boolean;
  failures: string[];
}

const ATTRIBUTES = ['shape', 'color', 'size', 'position'] as const;

export function editScore(judged: Scene, item: EditItem): EditScore {
  const target = item.target_scene;
  const byCell = new Map(judged.objects.map((o) => [o.cell, o]));
  const requested = new Set(item.requested.map((r) => `${r.object ?? 'none'}|${r.attribute}`));
  let applied = true;
  let preserved = true;
  const failures: string[] = [];
  target.objects.forEach((o, i) => {
    const j = byCell.get(o.cell);
    for (const attribute of ATTRIBUTES) {
      const ok = j !== undefined && (attribute === 'position' || j[attribute] === o[attribute]);
      const isRequested = requested.has(`${i}|${attribute}`);
      if (!ok) failures.push(`${isRequested ? 'requested' : 'kept'} ${attribute}`);
      if (isRequested) applied &&= ok;
      else preserved &&= ok;
    }
  });
  const backgroundOk = judged.background === target.background;
  const backgroundRequested = requested.has('none|background');
  if (!backgroundOk) failures.push(`${backgroundRequested ? 'requested' : 'kept'} background`);
  if (backgroundRequested) applied &&= backgroundOk;
  else preserved &&= backgroundOk;
  const targetCells = new Set(target.objects.map((o) => o.cell));
  if (judged.objects.some((o) => !targetCells.has(o.cell))) {
    preserved = false;
    failures.push('extra shape');
  }
  return { applied, preserved, failures };
}
