// Run the exported watermark graphs in onnxruntime-node, for parity with PyTorch (zoo.watermark export).
// usage: node wmcheck.mjs <request.json> <response.json>
// request: {dir, n, image: float[] (n*3*64*64, RGB in [-1, 1]), key_bits: float[] (48, 0 or 1)}
// response: {bit_logits: float[] (n*48), lora: {<output name>: float[]}}
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
fs.writeFileSync(resPath, JSON.stringify(out));
