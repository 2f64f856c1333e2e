/**
 * The CLI's progress line: a bar redrawn in place on a TTY (stderr), nothing when stderr is not a
 * terminal or output is JSON, so pipes and logs stay clean.
 */
export class ProgressLine {
  private readonly enabled: boolean;
  private lastWidth = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    quiet = false,
  ) {
    this.enabled = !quiet && stream.isTTY === true;
  }

  update(label: string, step: number, total: number): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = total > 0 ? Math.round((step / total) * width) : 0;
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${total}`;
    this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastWidth - line.length))}`);
    this.lastWidth = line.length;
  }

  done(): void {
    if (!this.enabled || this.lastWidth === 0) return;
    this.stream.write('\n');
    this.lastWidth = 0;
  }
}
