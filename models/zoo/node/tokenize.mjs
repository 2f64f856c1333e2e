// Tokenize texts with @huggingface/tokenizers (the library the TypeScript engine uses).
// usage: node tokenize.mjs <clip tokenizer dir> <t5 tokenizer dir> <texts.json> <out.json>
// The library is looked up in $ZOO_TOKENIZERS_JS/node_modules, the repo's node_modules, /tmp/tok.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const roots = [process.env.ZOO_TOKENIZERS_JS, path.resolve(here, "../../.."), "/tmp/tok"].filter(Boolean);
let lib = null;
for (const r of roots) {
  const p = path.join(r, "node_modules/@huggingface/tokenizers/dist/tokenizers.mjs");
  if (fs.existsSync(p)) { lib = await import(pathToFileURL(p).href); break; }
}
if (!lib) { console.error("@huggingface/tokenizers not found in " + roots.join(", ")); process.exit(3); }
const load = (d) => new lib.Tokenizer(JSON.parse(fs.readFileSync(path.join(d, "tokenizer.json"), "utf8")),
  JSON.parse(fs.readFileSync(path.join(d, "tokenizer_config.json"), "utf8")));
const [clipDir, t5Dir, textsPath, outPath] = process.argv.slice(2);
const c = load(clipDir), t = load(t5Dir);
const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
const out = texts.map((s) => ({
  clip: c.encode(s).ids, t5: t.encode(s).ids,
  clip_nospecial: c.encode(s, { add_special_tokens: false }).ids,
  t5_nospecial: t.encode(s, { add_special_tokens: false }).ids,
}));
fs.writeFileSync(outPath, JSON.stringify(out));
