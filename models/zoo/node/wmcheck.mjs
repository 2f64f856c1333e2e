// Run the exported watermark graphs in onnxruntime-node, for parity with PyTorch (zoo.watermark export).
// usage: node wmcheck.mjs <request.json> <response.json>
// request: {dir, n, image: float[] (n*3*64*64, RGB in [-1, 1]), key_bits: float[] (48, 0 or 1),
//           trainer?: {file, gains: float[], gains_dims, indices: int[], clean: float[] (batch*3*64*64), w_img}}
// response: {bit_logits: float[] (n*48), lora: {<output name>: float[]},
//            trainer?: {loss, grads: float[]}} (the trainer fed the factors key_to_lora gave; grads: grad_gains,
//            then every grad.<A factor> output in the graph's order, flattened)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, "../../../package.json"));
const ort = require("onnxruntime-node");
const [reqPath, resPath] = process.argv.slice(2);
const req = JSON.parse(fs.readFileSync(reqPath, "utf8"));
const opts = { executionProviders: ["cpu"], intraOpNumThreads: 1 };
const extractor = await ort.InferenceSession.create(path.join(req.dir, "extractor.onnx"), opts);
const keyToLora = await ort.InferenceSession.create(path.join(req.dir, "key_to_lora.onnx"), opts);
const image = new ort.Tensor("float32", Float32Array.from(req.image), [req.n, 3, 64, 64]);
const logits = (await extractor.run({ image })).bit_logits;
const lora = await keyToLora.run({ key_bits: new ort.Tensor("float32", Float32Array.from(req.key_bits), [1, 48]) });
const out = { bit_logits: Array.from(logits.data), lora: {} };
for (const name of keyToLora.outputNames) out.lora[name] = Array.from(lora[name].data);
if (req.trainer) {
  const t = req.trainer;
  const trainer = await ort.InferenceSession.create(path.join(req.dir, t.file), opts);
  const n = t.indices.length;
  const feeds = {
    gains: new ort.Tensor("float32", Float32Array.from(t.gains), t.gains_dims),
    indices: new ort.Tensor("int64", BigInt64Array.from(t.indices.map(BigInt)), [n]),
    key_bits: new ort.Tensor("float32", Float32Array.from(req.key_bits), [48]),
    clean: new ort.Tensor("float32", Float32Array.from(t.clean), [n, 3, 64, 64]),
    w_img: new ort.Tensor("float32", Float32Array.from([t.w_img]), []),
  };
  for (const name of keyToLora.outputNames) feeds[name] = lora[name];
  const r = await trainer.run(feeds);
  const grads = [r.grad_gains, ...trainer.outputNames.filter((n) => n.startsWith("grad.")).map((n) => r[n])];
  out.trainer = { loss: r.loss.data[0], grads: grads.flatMap((t) => Array.from(t.data)) };
}
fs.writeFileSync(resPath, JSON.stringify(out));
