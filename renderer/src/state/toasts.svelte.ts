/** Transient messages (a file that is not an image, a failed model load): shown, then gone. */

export type ToastKind = 'info' | 'error';

export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

export class Toasts {
  items = $state.raw<Toast[]>([]);
  private nextId = 1;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();

  constructor(private readonly lifetimeMs = { info: 5_000, error: 10_000 }) {}

  show(text: string, kind: ToastKind = 'info'): number {
    const id = this.nextId++;
    this.items = [...this.items.slice(-4), { id, kind, text }];
    this.timers.set(id, setTimeout(() => this.dismiss(id), this.lifetimeMs[kind]));
    return id;
  }

  error(text: string): number {
    return this.show(text, 'error');
  }

  dismiss(id: number): void {
    const timer = this.timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.items = [];
  }
}
