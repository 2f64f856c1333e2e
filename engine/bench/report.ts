/**
 * How benchmarks and evaluations report: a readable table on stdout, or with --json exactly one
 * JSON object; --out FILE also writes the JSON there (atomically).
 */
import { writeJsonAtomic } from '../stores/atomic.js';

export type Figures = Record<string, number | string | boolean | null>;

export interface ReportOptions {
  json: boolean;
  out?: string;
}

export function formatTable(title: string, figures: Figures): string {
  const rows = Object.entries(figures).map(([k, v]) => [k, typeof v === 'number' ? formatNumber(v) : String(v)] as const);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [title, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(4);
}

export async function report(title: string, figures: Figures, options: ReportOptions): Promise<void> {
  if (options.out) await writeJsonAtomic(options.out, figures);
  process.stdout.write(options.json ? `${JSON.stringify(figures)}\n` : `${formatTable(title, figures)}\n`);
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
