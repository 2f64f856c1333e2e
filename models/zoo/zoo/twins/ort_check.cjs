// Loads every graph of the layout twins with onnxruntime-node, checks the session's input/output
// names against the plan and runs each graph once with deterministic pseudo-random inputs.
// Usage: node ort_check.cjs PLAN.json   (written by `python -m zoo.twins.build`)
// Prints one JSON line per graph and exits non-zero on the first failure.
'use strict';
const fs = require('fs');
const path = require('path');

function findOrt() {
  const tries = [process.env.ATELIER_ORT, 'onnxruntime-node',
    path.resolve(__dirname, '../../../../node_modules/onnxruntime-node')].filter(Boolean);
  for (const t of tries) {
    try { return require(t); } catch (e) { /* next */ }
  }
  throw new Error('onnxruntime-node not found (npm ci at the repository root)');
}

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
}

function f32ToF16(v) {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  let exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

function makeTensor(ort, spec, r) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const lo = spec.low ?? 0; const hi = spec.high ?? 1;
  switch (spec.dtype) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from({ length: n }, () => lo + (hi - lo) * r()), spec.shape);
    case 'float16': return new ort.Tensor('float16', Uint16Array.from({ length: n }, () => f32ToF16(lo + (hi - lo) * r())), spec.shape);
    case 'int32': return new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(lo + (hi - lo) * r())), spec.shape);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(lo + (hi - lo) * r()))), spec.shape);
    default: throw new Error(`cannot feed dtype ${spec.dtype} from JavaScript`);
  }
}

async function main() {
  const ort = findOrt();
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  let failed = 0;
  for (const job of plan) {
    const res = { graph: job.path };
    try {
      const session = await ort.InferenceSession.create(job.path, { executionProviders: ['cpu'], logSeverityLevel: 3 });
      const ins = session.inputNames; const outs = session.outputNames;
      const meta = (session.inputMetadata || []).map((m) => ({ name: m.name, type: m.type, shape: m.shape }));
      res.inputs = meta.length ? meta : ins;
      res.outputs = outs;
      if (JSON.stringify(ins) !== JSON.stringify(job.inputs.map((i) => i.name))) throw new Error(`inputs ${ins}`);
      if (JSON.stringify(outs) !== JSON.stringify(job.outputs)) throw new Error(`outputs ${outs}`);
      if (job.run) {
        const r = rng(1234);
        const feeds = {};
        for (const spec of job.inputs) feeds[spec.name] = makeTensor(ort, spec, r);
        const out = await session.run(feeds);
        res.ran = Object.fromEntries(Object.entries(out).map(([k, v]) => {
          let finite = true;
          if (v.type === 'float32') for (const x of v.data) if (!Number.isFinite(x)) { finite = false; break; }
          return [k, { type: v.type, dims: v.dims, finite }];
        }));
        for (const [k, v] of Object.entries(res.ran)) {
          const want = job.expect && job.expect[k];
          if (!v.finite) throw new Error(`${k} has non-finite values`);
          if (want && JSON.stringify(want.dims) !== JSON.stringify(v.dims)) throw new Error(`${k} dims ${v.dims} != ${want.dims}`);
          if (want && want.dtype !== v.type) throw new Error(`${k} type ${v.type} != ${want.dtype}`);
        }
      }
      res.ok = true;
      await session.release();
    } catch (e) {
      res.ok = false; res.error = String(e && e.message ? e.message : e); failed++;
    }
    console.log(JSON.stringify(res));
  }
  process.exit(failed ? 1 : 0);
}

main();
