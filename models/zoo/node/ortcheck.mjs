// Run the exported tiny Kontext pipeline in onnxruntime-node: parity with Python and timing.
// usage: node ortcheck.mjs <request.json> <response.json>
// request: {model_dir, steps, guidance, cfg (true CFG scale or null), sigmas[], shift, scale, repeats,
//           negative: {clip_ids[], t5_ids[]} (the empty prompt, for cfg),
//           items: [{clip_ids[], t5_ids[], noise[] (1*16*8*8), source[] (1*3*64*64 in [-1,1]) | null}]}
// response: {items: [{image: uint8[] (64*64*3 HWC)}], seconds_t2i, seconds_edit}
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, "../../../package.json"));
const ort = require("onnxruntime-node");
const [reqPath, resPath] = process.argv.slice(2);
const req = JSON.parse(fs.readFileSync(reqPath, "utf8"));
const opts = { executionProviders: ["cpu"], intraOpNumThreads: req.threads || 1, graphOptimizationLevel: "all",
  extra: { session: { "intra_op.allow_spinning": req.spinning ? "1" : "0" } } };
const S = async (d) => ort.InferenceSession.create(path.join(req.model_dir, d, "model.onnx"), opts);
const [te, te2, tr, venc, vdec] = await Promise.all(["text_encoder", "text_encoder_2", "transformer", "vae_encoder", "vae_decoder"].map(S));
const T = (type, data, dims) => new ort.Tensor(type, data, dims);

function pack(z) { // (1,16,8,8) -> (1,16,64)
  const out = new Float32Array(16 * 64);
  for (let c = 0; c < 16; c++) for (let h = 0; h < 8; h++) for (let w = 0; w < 8; w++) {
    const tok = (h >> 1) * 4 + (w >> 1), ch = c * 4 + (h & 1) * 2 + (w & 1);
    out[tok * 64 + ch] = z[(c * 8 + h) * 8 + w];
  }
  return out;
}
function unpack(x) {
  const z = new Float32Array(16 * 64);
  for (let c = 0; c < 16; c++) for (let h = 0; h < 8; h++) for (let w = 0; w < 8; w++) {
    const tok = (h >> 1) * 4 + (w >> 1), ch = c * 4 + (h & 1) * 2 + (w & 1);
    z[(c * 8 + h) * 8 + w] = x[tok * 64 + ch];
  }
  return z;
}
function ids(index) { const a = new Float32Array(16 * 3); for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) { const i = r * 4 + c; a[i * 3] = index; a[i * 3 + 1] = r; a[i * 3 + 2] = c; } return a; }

function rows(a, b) { // two (1, ...) tensors -> one (2, ...)
  const data = new Float32Array(a.data.length * 2); data.set(a.data); data.set(b.data, a.data.length);
  return T("float32", data, [2, ...a.dims.slice(1)]);
}

async function encode(clipIds, t5Ids) {
  const c = await te.run({ input_ids: T("int32", Int32Array.from(clipIds), [1, clipIds.length]) });
  const t = await te2.run({ input_ids: T("int64", BigInt64Array.from(t5Ids.map(BigInt)), [1, t5Ids.length]) });
  return { pooled: c.pooler_output, sequence: t.last_hidden_state };
}

async function run(item) {
  const Lt = item.t5_ids.length;
  const text = await encode(item.clip_ids, item.t5_ids);
  const negative = req.cfg ? await encode(req.negative.clip_ids, req.negative.t5_ids) : null;
  let ctxTokens = null;
  if (item.source) {
    const e = await venc.run({ sample: T("float32", Float32Array.from(item.source), [1, 3, 64, 64]) });
    const lp = e.latent_parameters.data; const mean = new Float32Array(16 * 64);
    for (let i = 0; i < 16 * 64; i++) mean[i] = (lp[i] - req.shift) * req.scale;
    ctxTokens = pack(mean);
  }
  const N = ctxTokens ? 32 : 16;
  const imgIds = new Float32Array(N * 3); imgIds.set(ids(0)); if (ctxTokens) imgIds.set(ids(1), 48);
  let x = pack(Float32Array.from(item.noise));
  // true CFG runs the prompt and the empty prompt as one batch of two rows, as the engine does
  const B = negative ? 2 : 1;
  const enc = negative ? { sequence: rows(text.sequence, negative.sequence), pooled: rows(text.pooled, negative.pooled) } : text;
  const hs = new Float32Array(B * N * 64);
  const velocity = async (sigma) => (await tr.run({
    hidden_states: T("float32", hs, [B, N, 64]), encoder_hidden_states: enc.sequence,
    pooled_projections: enc.pooled, timestep: T("float32", new Float32Array(B).fill(sigma), [B]),
    img_ids: T("float32", imgIds, [N, 3]), txt_ids: T("float32", new Float32Array(Lt * 3), [Lt, 3]),
    guidance: T("float32", new Float32Array(B).fill(req.guidance), [B]),
  })).out_hidden_states.data;
  for (let i = 0; i < req.steps; i++) {
    for (let b = 0; b < B; b++) { hs.set(x, b * N * 64); if (ctxTokens) hs.set(ctxTokens, (b * N + 16) * 64); }
    const out = await velocity(req.sigmas[i]);
    let v = out.subarray(0, 16 * 64);
    if (negative) {
      const u = out.subarray(N * 64, N * 64 + 16 * 64), g = new Float32Array(16 * 64);
      for (let k = 0; k < 16 * 64; k++) g[k] = u[k] + req.cfg * (v[k] - u[k]);
      v = g;
    }
    const dt = Math.fround(req.sigmas[i + 1] - req.sigmas[i]);
    const nx = new Float32Array(16 * 64); for (let k = 0; k < 16 * 64; k++) nx[k] = x[k] + dt * v[k];
    x = nx;
  }
  const z = unpack(x); for (let k = 0; k < z.length; k++) z[k] = z[k] / req.scale + req.shift;
  const d = await vdec.run({ latent_sample: T("float32", z, [1, 16, 8, 8]) });
  const s = d.sample.data, img = new Array(64 * 64 * 3);
  for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 64 * 64; p++) img[p * 3 + ch] = Math.round(Math.min(Math.max((s[ch * 4096 + p] + 1) / 2, 0), 1) * 255);
  return img;
}
const out = [];
for (const it of req.items) out.push({ image: await run(it) });
async function time(item) { await run(item); const t0 = performance.now(); for (let r = 0; r < req.repeats; r++) await run(item); return (performance.now() - t0) / 1000 / req.repeats; }
const t2iItem = req.items.find((i) => !i.source), editItem = req.items.find((i) => i.source);
const res = { items: out, seconds_t2i: t2iItem ? await time(t2iItem) : null, seconds_edit: editItem ? await time(editItem) : null };
fs.writeFileSync(resPath, JSON.stringify(res));
