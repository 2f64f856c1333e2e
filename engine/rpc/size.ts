/**
 * A cheap upper-bound estimate of a decoded message's encoded size, so the engine can refuse an
 * oversized message that arrived over a transport that does not count bytes (process IPC).
 */
export function estimateSize(value: unknown, limit: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= limit) {
    const v = stack.pop();
    if (v === null || v === undefined || typeof v === 'boolean') total += 1;
    else if (typeof v === 'number') total += 9;
    else if (typeof v === 'string') total += v.length * 3 + 5;
    else if (ArrayBuffer.isView(v)) total += v.byteLength + 5;
    else if (v instanceof ArrayBuffer) total += v.byteLength + 5;
    else if (Array.isArray(v)) {
      total += 5;
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object') {
      total += 5;
      for (const [k, item] of Object.entries(v)) {
        total += k.length + 2;
        stack.push(item);
      }
    }
  }
  return total;
}
