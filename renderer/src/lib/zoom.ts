/** Canvas zoom arithmetic: limits, steps, and the scroll offset that keeps a point under the cursor. */

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 32;

export function clampScale(scale: number): number {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}

/** The scale that fits a `width` x `height` image into a box (small images are scaled up). */
export function fitScale(width: number, height: number, boxWidth: number, boxHeight: number): number {
  if (width <= 0 || height <= 0 || boxWidth <= 0 || boxHeight <= 0) return 1;
  return clampScale(Math.min(boxWidth / width, boxHeight / height));
}

/** The zoom factor for a wheel event (pinch gestures arrive as wheel events with ctrlKey). */
export function wheelFactor(event: Pick<WheelEvent, 'deltaY' | 'deltaMode' | 'ctrlKey'>): number {
  const pixels = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaMode === 2 ? event.deltaY * 400 : event.deltaY;
  return Math.exp(-pixels * (event.ctrlKey ? 0.01 : 0.002));
}

/** The new scroll offset along one axis so the content point under `cursor` stays put. */
export function scrollToKeep(scroll: number, cursor: number, ratio: number): number {
  return Math.max(0, (scroll + cursor) * ratio - cursor);
}
