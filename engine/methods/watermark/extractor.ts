/**
 * The bit extractor (extractor.onnx): RGB images of the extractor's size in, one logit per key
 * bit out (bit = 1 where the logit is > 0). Images go in batches; the graph's input and output
 * are checked against the manifest when it opens, so a wrong file is named instead of failing
 * inside ONNX Runtime.
 */
import { EngineError } from '../../errors.js';
import type { RgbImage } from '../../images/rgb.js';
import { planarFromRgb } from '../../images/rgb.js';
import type { ProviderChoice } from '../../protocol/index.js';
import { ort } from '../../runtime/ort.js';
import { openSession, type ModelSession } from '../../runtime/session.js';
import { float32Of, outputOf } from '../../runtime/tensors.js';
import type { WatermarkAssets } from './assets.js';

export const EXTRACTOR_INPUT = 'image';
export const EXTRACTOR_OUTPUT = 'bit_logits';
const BATCH = 64;

export class Extractor {
  private constructor(
    private readonly session: ModelSession,
    readonly bits: number,
    readonly width: number,
    readonly height: number,
  ) {}

  static async open(assets: WatermarkAssets, provider: ProviderChoice = 'cpu'): Promise<Extractor> {
    // a small graph: one thread that does not spin after a run, so sharp's decoding of the next file is not starved
    const session = await openSession(assets.extractorFile, { provider, intraOpThreads: 1, config: { 'session.intra_op.allow_spinning': '0' } });
    const [height, width] = assets.manifest.image_size;
    const fail = (what: string) => {
      void session.release();
      return new EngineError('model_error', `${assets.extractorFile}: ${what}`);
    };
    const input = session.inputs.find((i) => i.name === EXTRACTOR_INPUT);
    if (!input) throw fail(`no input "${EXTRACTOR_INPUT}" (it has: ${session.inputs.map((i) => i.name).join(', ')})`);
    if (input.type !== 'float32') throw fail(`input "${EXTRACTOR_INPUT}" is ${input.type}, expected float32`);
    const fixed = input.shape.slice(1);
    if (fixed.length !== 3 || [3, height, width].some((d, i) => typeof fixed[i] === 'number' && fixed[i] !== d)) {
      throw fail(`input "${EXTRACTOR_INPUT}" has shape [${input.shape.join(', ')}], expected [N, 3, ${height}, ${width}]`);
    }
    if (!session.outputs.some((o) => o.name === EXTRACTOR_OUTPUT)) throw fail(`no output "${EXTRACTOR_OUTPUT}" (it has: ${session.outputs.map((o) => o.name).join(', ')})`);
    return new Extractor(session, assets.manifest.bits, width, height);
  }

  /** One Float32Array of logits per image; every image must already be width x height. */
  async logits(images: readonly RgbImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const plane = 3 * this.width * this.height;
    for (let start = 0; start < images.length; start += BATCH) {
      const batch = images.slice(start, start + BATCH);
      const data = new Float32Array(batch.length * plane);
      batch.forEach((image, i) => {
        if (image.width !== this.width || image.height !== this.height) {
          throw new EngineError('internal', `the extractor reads ${this.width}x${this.height} images, got ${image.width}x${image.height}`);
        }
        data.set(planarFromRgb(image), i * plane);
      });
      const result = await this.session.run({ [EXTRACTOR_INPUT]: new ort.Tensor('float32', data, [batch.length, 3, this.height, this.width]) });
      const logits = float32Of(outputOf(result, EXTRACTOR_OUTPUT, this.session.file), EXTRACTOR_OUTPUT);
      if (logits.length !== batch.length * this.bits) {
        throw new EngineError('model_error', `${this.session.file}: "${EXTRACTOR_OUTPUT}" has ${logits.length} values for ${batch.length} images, expected ${this.bits} each`);
      }
      for (let i = 0; i < batch.length; i++) out.push(logits.slice(i * this.bits, (i + 1) * this.bits));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
