/**
 * Adam (Kingma & Ba, 2015) over one flat Float32Array of parameters, as a small stateful object:
 * `step(params, grad, lr?)` updates params in place with bias-corrected moments, like
 * torch.optim.Adam without weight decay (an optional per-step learning rate for schedules). The engine trains only small vectors (a watermark key's gains), so there is
 * no need for more.
 */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(size: number, options: AdamOptions) {
    if (!(options.lr > 0)) throw new Error(`Adam needs a positive learning rate, got ${options.lr}`);
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
  }

  get steps(): number {
    return this.t;
  }

  /** One update; `lr` overrides the constructor's for this step (a schedule). */
  step(params: Float32Array, grad: ArrayLike<number>, lr = this.lr): void {
    if (params.length !== this.m.length || grad.length !== this.m.length) {
      throw new Error(`Adam: ${params.length} parameters and ${grad.length} gradients for an optimizer of ${this.m.length}`);
    }
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      this.m[i] = this.beta1 * this.m[i]! + (1 - this.beta1) * g;
      this.v[i] = this.beta2 * this.v[i]! + (1 - this.beta2) * g * g;
      params[i]! -= (lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + this.eps);
    }
  }
}
