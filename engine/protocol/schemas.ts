/**
 * The engine's RPC protocol: every request, response and event as a zod schema, with the
 * TypeScript types inferred from them.
 *
 * This module is the only code the engine shares with the renderer, and the renderer imports it
 * with `import type` only, so zod never ships in the UI bundle. The engine validates every
 * incoming message against these schemas (see engine/rpc/server.ts); the shells check only the
 * envelope and the size (app/common/relay.ts).
 *
 * Versioning: `PROTOCOL_VERSION` goes up on any incompatible change; `hello` reports it and a
 * client that speaks another version gets a `version_mismatch` error.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

/**
 * Largest encoded message either side accepts (images travel as PNG/JPEG bytes, not arrays):
 * 64 MiB. A literal type, so the renderer's restated copy is checked against it.
 */
export const MAX_MESSAGE_BYTES: 67108864 = 67_108_864;

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes (Uint8Array)' });
const text = (max: number) => z.string().max(max, `longer than ${max} characters`);
const id = z.string().min(1).max(128);

// ---------------------------------------------------------------------------------------------
// Shared value types

export const ProviderName = z.enum(['cpu', 'cuda', 'webgpu', 'dml', 'coreml']);
export type ProviderName = z.infer<typeof ProviderName>;

export const ProviderChoice = z.union([z.literal('auto'), ProviderName]);
export type ProviderChoice = z.infer<typeof ProviderChoice>;

export const ProviderInfo = z.object({
  name: ProviderName,
  /** Whether a session can be asked for on this provider (its files are present). */
  available: z.boolean(),
  /** Why it is unavailable, or a note about it (for `doctor` and the status bar). */
  detail: z.string(),
});
export type ProviderInfo = z.infer<typeof ProviderInfo>;

/** generate: text to image; edit: instruction edit (Kontext); img2img: prompt-guided variation of an image. */
export const JobKind = z.enum(['generate', 'edit', 'img2img']);
export type JobKind = z.infer<typeof JobKind>;

export const ModelDefaults = z.object({
  steps: z.number().int(),
  guidance: z.number(),
  width: z.number().int(),
  height: z.number().int(),
  /** The default sampler, one of ModelInfo.schedulers. */
  scheduler: z.string(),
});
export type ModelDefaults = z.infer<typeof ModelDefaults>;

export const ModelInfo = z.object({
  id: id,
  name: z.string(),
  family: z.string(),
  layout: z.string(),
  path: z.string(),
  /** The tiny default that ships with the app. */
  embedded: z.boolean(),
  tasks: z.array(JobKind),
  defaults: ModelDefaults,
  /** Samplers this model can use (engine/schedulers kinds), the default first. */
  schedulers: z.array(z.string()),
  /** Whether the model takes a negative prompt (classifier-free guidance models). */
  negativePrompt: z.boolean(),
  /** Whether the model only makes images of its default size (the tiny zoo models). */
  fixedSize: z.boolean(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const EncodedImage = z.object({
  mime: z.enum(['image/png', 'image/jpeg']),
  bytes,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type EncodedImage = z.infer<typeof EncodedImage>;

const seed = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const steps = z.number().int().min(1).max(200);
const guidance = z.number().min(0).max(50);
const side = z.number().int().min(16).max(4096);
const scheduler = z.string().min(1).max(40);
const negativePrompt = text(4000);

export const GenerateJob = z.object({
  kind: z.literal('generate'),
  prompt: text(4000),
  negativePrompt: negativePrompt.optional(),
  seed: seed.optional(),
  steps: steps.optional(),
  guidance: guidance.optional(),
  width: side.optional(),
  height: side.optional(),
  scheduler: scheduler.optional(),
});
export type GenerateJob = z.infer<typeof GenerateJob>;

/** SliderEdit (engine/methods/slideredit): one strength per sub-instruction of an edit. */
export const MAX_SLIDER_PARTS = 16;
export const SliderSettings = z
  .object({
    /** The sub-instructions, each found in the instruction in order; [] splits automatically (on "and", "then", commas, semicolons). */
    parts: z.array(text(4000)).max(MAX_SLIDER_PARTS),
    /** One per part, 0 (off) to 2 (exaggerated), 1 = as typed; [] gives 1 to every part. */
    strengths: z.array(z.number().min(0).max(2)).max(MAX_SLIDER_PARTS),
    /** An STLoRA .safetensors file to use instead of the model's own. */
    stlora: text(4096).optional(),
  })
  .strict();
export type SliderSettings = z.infer<typeof SliderSettings>;

/** A sub-instruction as the engine splits and tokenizes it. */
export const SliderPart = z.object({
  text: z.string(),
  /** Character range [start, end) in the instruction. */
  start: z.number().int(),
  end: z.number().int(),
  /** Its T5 token range [start, end), or null when no model is loaded to tokenize with. */
  tokens: z.tuple([z.number().int(), z.number().int()]).nullable(),
});
export type SliderPart = z.infer<typeof SliderPart>;

export const EditJob = z.object({
  kind: z.literal('edit'),
  /** The source image as encoded bytes (PNG, JPEG, WebP...). */
  image: bytes,
  instruction: text(4000),
  seed: seed.optional(),
  steps: steps.optional(),
  guidance: guidance.optional(),
  /** SliderEdit: strengths per sub-instruction (a slider move reruns only the denoising loop). */
  sliders: SliderSettings.optional(),
  /**
   * SliderEdit: a slider preview (a render made by moving a slider, not by Run), which a later
   * preview of the same edit may replace in the history. Needs `sliders`.
   */
  preview: z.boolean().optional(),
  /**
   * SliderEdit: the earlier preview this preview supersedes; once this one is saved, that one
   * leaves the history. Only a preview of the same model, instruction, seed, steps and guidance
   * can be replaced, so moving a slider keeps one output, not one per position.
   */
  replaces: id.optional(),
});
export type EditJob = z.infer<typeof EditJob>;

export const Img2ImgJob = z.object({
  kind: z.literal('img2img'),
  /** The starting image as encoded bytes. */
  image: bytes,
  prompt: text(4000),
  negativePrompt: negativePrompt.optional(),
  /** How much of the image is re-imagined: 0 keeps it, 1 ignores it. */
  strength: z.number().min(0).max(1).optional(),
  seed: seed.optional(),
  steps: steps.optional(),
  guidance: guidance.optional(),
  scheduler: scheduler.optional(),
});
export type Img2ImgJob = z.infer<typeof Img2ImgJob>;

export const JobRequest = z.discriminatedUnion('kind', [GenerateJob, EditJob, Img2ImgJob]);
export type JobRequest = z.infer<typeof JobRequest>;

/** Everything needed to reproduce an output; written into the PNG and shown in the UI. */
export const JobMetadata = z.object({
  kind: JobKind,
  model: z.string(),
  text: z.string(),
  seed: seed,
  steps: z.number().int(),
  guidance: z.number(),
  width: z.number().int(),
  height: z.number().int(),
  provider: ProviderName,
  createdAt: z.string(),
  engineVersion: z.string(),
  scheduler: z.string().optional(),
  negativePrompt: z.string().optional(),
  strength: z.number().optional(),
  /** SliderEdit's sub-instructions and their strengths. */
  sliders: z.object({ parts: z.array(z.string()), strengths: z.array(z.number()) }).optional(),
  /** A slider preview (EditJob.preview): the next preview of the same edit may replace it. */
  preview: z.literal(true).optional(),
  /** The id of the watermark key baked into the VAE decoder that made this image (methods/watermark). */
  watermarkKey: z.string().optional(),
});
export type JobMetadata = z.infer<typeof JobMetadata>;

export const HistoryEntry = z.object({
  jobId: id,
  file: z.string(),
  metadata: JobMetadata,
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

// ---------------------------------------------------------------------------------------------
// Adapters (LoRA, LoHa, LoKr files; engine/adapters)

/** bake: merged into the weights (no cost per step); live: branches whose strength changes between runs. */
export const AdapterMode = z.enum(['bake', 'live']);
export type AdapterMode = z.infer<typeof AdapterMode>;

/** How an adapter's targets map to the loaded model's graphs (at most MAX_COVERAGE_ROWS rows each). */
export const MAX_COVERAGE_ROWS = 500;
export const AdapterCoverage = z.object({
  targets: z.number().int(),
  mapped: z.number().int(),
  /** Every key of the file found a weight of the loaded model. */
  complete: z.boolean(),
  entries: z.array(
    z.object({
      component: z.string(),
      module: z.string(),
      sourceModule: z.string(),
      mapped: z.boolean(),
      graph: z.string().nullable(),
      weight: z.string().nullable(),
      reason: z.string().nullable(),
    }),
  ),
  unusedKeys: z.array(z.object({ key: z.string(), reason: z.string() })),
  /** One line: what did not map, grouped by reason. */
  summary: z.string(),
  /** Rows were left out beyond MAX_COVERAGE_ROWS (the counts are complete). */
  truncated: z.boolean(),
});
export type AdapterCoverage = z.infer<typeof AdapterCoverage>;

export const AdapterInfo = z.object({
  id: id,
  name: z.string(),
  bytes: z.number().int(),
  /** kohya, peft, bfl, slideredit, lycoris */
  format: z.string(),
  kinds: z.array(z.string()),
  ranks: z.array(z.number().int()),
  targets: z.number().int(),
  components: z.array(z.string()),
  /** Against the loaded model; null when no model is loaded. */
  coverage: AdapterCoverage.nullable(),
});
export type AdapterInfo = z.infer<typeof AdapterInfo>;

export const AdapterSetting = z
  .object({
    id: id,
    enabled: z.boolean(),
    weight: z.number().min(-16).max(16),
    mode: AdapterMode,
    /** Live only: one scale per text token (SliderEdit); set by methods, uniform until then. */
    perToken: z.boolean().optional(),
    /** Apply the targets that map even when others do not. */
    allowPartial: z.boolean().optional(),
  })
  .strict();
export type AdapterSetting = z.infer<typeof AdapterSetting>;

export const ActiveAdapter = z.object({
  id: id,
  name: z.string(),
  enabled: z.boolean(),
  weight: z.number(),
  mode: AdapterMode,
  perToken: z.boolean(),
  allowPartial: z.boolean(),
});
export type ActiveAdapter = z.infer<typeof ActiveAdapter>;

export const MAX_ADAPTERS = 16;

// ---------------------------------------------------------------------------------------------
// Watermark (engine/methods/watermark): owner keys, embedding into the VAE decoder, verification

/** The false-positive rate a verdict is tested at unless the caller picks another. */
export const DEFAULT_WATERMARK_FPR = 1e-6;
/** Files per verifyWatermark call. */
export const MAX_VERIFY_FILES = 64;

export const WatermarkKeyInfo = z.object({
  id: id,
  name: z.string(),
  /** The key's bits as hex, most significant bit first. */
  bits: z.string(),
  created: z.string(),
  /** The zoo's demo key: read-only. */
  builtIn: z.boolean(),
  /** How the app trained the key's LoRA (keys made here with training); absent otherwise. */
  training: z.object({ steps: z.number().int(), bitAccuracy: z.number(), psnrDb: z.number() }).optional(),
});
export type WatermarkKeyInfo = z.infer<typeof WatermarkKeyInfo>;

/** The loaded model's embedding switch and whether its outputs carry the key. */
export const WatermarkState = z.object({
  modelId: id.nullable(),
  enabled: z.boolean(),
  keyId: id.nullable(),
  keyName: z.string().nullable(),
  /** The key's LoRA is baked into the loaded model's VAE decoder: every output carries it. */
  active: z.boolean(),
  /** Why embedding is switched on but not active (the LoRA does not fit, the key is gone); jobs are refused meanwhile. */
  problem: z.string().nullable(),
});
export type WatermarkState = z.infer<typeof WatermarkState>;

const keyRef = z.object({ id: z.string(), name: z.string() });

export const WatermarkVerdict = z.object({
  /** The file's name as given. */
  name: z.string(),
  /** verified: a key matched at the chosen false-positive rate; error: the file could not be checked. */
  status: z.enum(['verified', 'not_verified', 'error']),
  /** One line for people: the verdict, or what is wrong with the file. */
  summary: z.string(),
  /** The key that matched (verified only). */
  key: keyRef.nullable(),
  /** The key with the most matching bits, matched or not. */
  closestKey: keyRef.nullable(),
  /** Matching bits K of n with the closest key. */
  k: z.number().int().nullable(),
  n: z.number().int().nullable(),
  /** P[Bin(n, 1/2) >= K], for one key (before the correction for several keys). */
  pValue: z.number().nullable(),
  /** The matching bits needed at this rate and number of keys. */
  thresholdK: z.number().int().nullable(),
  fpr: z.number(),
  /** How many keys were compared (the Bonferroni correction divides fpr by it). */
  keys: z.number().int(),
  perKeyFpr: z.number(),
  /** The extracted bits as hex. */
  bits: z.string().nullable(),
  /** The key id Atelier's PNG metadata names (not evidence: metadata is easy to copy or strip). */
  claimedKeyId: z.string().nullable(),
  /** What reading the file may have cost the watermark (grayscale, transparency, CMYK, animation, resize). */
  notes: z.array(z.string()),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
});
export type WatermarkVerdict = z.infer<typeof WatermarkVerdict>;

// ---------------------------------------------------------------------------------------------
// Methods: params validated by the engine, results typed for clients

export const methods = {
  hello: {
    params: z.object({ client: text(200), protocol: z.number().int() }),
    result: z.object({
      protocol: z.number().int(),
      engineVersion: z.string(),
      onnxruntimeVersion: z.string(),
      platform: z.string(),
      providers: z.array(ProviderInfo),
      dataDir: z.string(),
      loadedModel: ModelInfo.nullable(),
      provider: ProviderName.nullable(),
      /** The adapters active on the loaded model. */
      adapters: z.array(ActiveAdapter),
    }),
  },
  listModels: {
    params: z.object({}).strict(),
    result: z.object({ models: z.array(ModelInfo) }),
  },
  loadModel: {
    params: z.object({ modelId: id, provider: ProviderChoice.optional() }).strict(),
    result: z.object({ model: ModelInfo, provider: ProviderName, notice: z.string().nullable() }),
  },
  unloadModel: {
    params: z.object({}).strict(),
    result: z.object({ unloaded: z.boolean() }),
  },
  /**
   * Validates a model folder (as `atelier models validate`) and, when usable, adds it to the
   * catalog; the report says what was found and, for a bad folder, what is missing or mismatched.
   */
  importModel: {
    params: z.object({ path: text(4096) }).strict(),
    result: z.object({
      ok: z.boolean(),
      dir: z.string(),
      layout: z.string(),
      found: z.array(z.string()),
      problems: z.array(z.string()),
      notes: z.array(z.string()),
      model: ModelInfo.nullable(),
    }),
  },
  /** Removes an imported model from the catalog (its files stay where they are). */
  forgetModel: {
    params: z.object({ modelId: id }).strict(),
    result: z.object({ forgotten: z.boolean() }),
  },
  runJob: {
    params: JobRequest,
    result: z.object({ jobId: id }),
  },
  cancel: {
    params: z.object({ jobId: id }).strict(),
    result: z.object({ cancelled: z.boolean() }),
  },
  listHistory: {
    params: z.object({ limit: z.number().int().min(1).max(1000).optional() }).strict(),
    result: z.object({ entries: z.array(HistoryEntry) }),
  },
  readHistoryImage: {
    params: z.object({ jobId: id }).strict(),
    result: EncodedImage,
  },
  /** Reads an adapter file (bytes from the UI, or a .safetensors path) and maps it to the loaded model. */
  inspectAdapter: {
    params: z.union([z.object({ name: text(255), bytes }).strict(), z.object({ path: text(4096) }).strict()]),
    result: AdapterInfo,
  },
  /** SliderEdit: an instruction's sub-instructions (the automatic split, or `parts` checked) with their T5 tokens. */
  sliderParts: {
    params: z.object({ instruction: text(4000), parts: z.array(text(4000)).max(MAX_SLIDER_PARTS).optional() }).strict(),
    result: z.object({
      parts: z.array(SliderPart),
      /** Whether the loaded model can run SliderEdit (an edit model with an STLoRA), and why not. */
      available: z.boolean(),
      reason: z.string().nullable(),
    }),
  },
  /** The complete list of adapters on the loaded model (ids from inspectAdapter); [] removes them all. */
  setAdapters: {
    params: z.object({ adapters: z.array(AdapterSetting).max(MAX_ADAPTERS) }).strict(),
    result: z.object({ adapters: z.array(ActiveAdapter) }),
  },
  /** The watermark keys: the built-in demo key, then the user's. */
  watermarkKeys: {
    params: z.object({}).strict(),
    result: z.object({ keys: z.array(WatermarkKeyInfo) }),
  },
  /**
   * A new key with random bits: its LoRA generated, then trained for `trainingSteps` (default: the
   * watermark files' recipe; 0: the generated LoRA as it is), with `watermarkKeyTraining` events;
   * stored beside the key. One at a time; `cancelWatermarkKey` stops it (error code `cancelled`).
   */
  createWatermarkKey: {
    params: z.object({ name: text(100), trainingSteps: z.number().int().min(0).max(5000).optional() }).strict(),
    result: WatermarkKeyInfo,
  },
  /** Stops the key being trained, if any; nothing is stored. */
  cancelWatermarkKey: {
    params: z.object({}).strict(),
    result: z.object({ cancelled: z.boolean() }),
  },
  /** A key trained elsewhere: its key file (JSON text) and its peft LoRA (bytes), checked, stored under a new id. */
  importWatermarkKey: {
    params: z
      .object({
        keyFile: z.object({ name: text(255), text: z.string().max(64 * 1024) }).strict(),
        lora: z.object({ name: text(255), bytes }).strict(),
        name: text(100).optional(),
      })
      .strict(),
    result: WatermarkKeyInfo,
  },
  renameWatermarkKey: {
    params: z.object({ id: id, name: text(100) }).strict(),
    result: WatermarkKeyInfo,
  },
  deleteWatermarkKey: {
    params: z.object({ id: id }).strict(),
    result: z.object({ deleted: z.boolean() }),
  },
  watermarkState: {
    params: z.object({}).strict(),
    result: WatermarkState,
  },
  /** The loaded model's embedding switch (remembered per model); on needs a key that fits its VAE decoder. */
  setWatermark: {
    params: z.object({ enabled: z.boolean(), keyId: id.optional() }).strict(),
    result: WatermarkState,
  },
  /** Verdicts for image files (bytes) against every known key at a false-positive rate (default 1e-6). */
  verifyWatermark: {
    params: z
      .object({
        files: z.array(z.object({ name: text(255), bytes }).strict()).min(1).max(MAX_VERIFY_FILES),
        fpr: z.number().gt(0).lt(1).optional(),
      })
      .strict(),
    result: z.object({ results: z.array(WatermarkVerdict) }),
  },
} as const;

export type MethodName = keyof typeof methods;
export type MethodParams<M extends MethodName> = z.input<(typeof methods)[M]['params']>;
export type MethodResult<M extends MethodName> = z.infer<(typeof methods)[M]['result']>;

// ---------------------------------------------------------------------------------------------
// Events: engine -> clients

export const events = {
  jobQueued: z.object({ jobId: id, kind: JobKind, position: z.number().int() }),
  jobStarted: z.object({ jobId: id, kind: JobKind }),
  progress: z.object({
    jobId: id,
    step: z.number().int(),
    total: z.number().int(),
    preview: EncodedImage.nullable(),
  }),
  jobDone: z.object({
    jobId: id,
    image: EncodedImage,
    file: z.string(),
    metadata: JobMetadata,
    seconds: z.number(),
    /** The output this one replaced (EditJob.replaces), removed from the history. */
    replaced: id.optional(),
  }),
  jobFailed: z.object({ jobId: id, code: z.string(), message: z.string() }),
  jobCancelled: z.object({ jobId: id }),
  modelChanged: z.object({ model: ModelInfo.nullable(), provider: ProviderName.nullable() }),
  /** The active adapters changed (setAdapters, or a model change cleared them). */
  adaptersChanged: z.object({ adapters: z.array(ActiveAdapter) }),
  /** The embedding switch or its state changed (setWatermark, a model load). */
  watermarkChanged: WatermarkState,
  /** A key was created, renamed or deleted. */
  watermarkKeysChanged: z.object({ keys: z.array(WatermarkKeyInfo) }),
  /** A new key's training went one step further (createWatermarkKey). */
  watermarkKeyTraining: z.object({
    name: z.string(),
    step: z.number().int(),
    total: z.number().int(),
    /** Running bit accuracy over the trainer's attack views (0-1). */
    bitAccuracy: z.number(),
    psnrDb: z.number(),
  }),
  log: z.object({ level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string(), time: z.string() }),
} as const;

export type EventName = keyof typeof events;
export type EventData<E extends EventName> = z.infer<(typeof events)[E]>;
