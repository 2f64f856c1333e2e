"""Train small adapters on the tiny Kontext model and write them in every key format the engine
reads, with PyTorch reference outputs for the engine's numeric checks (engine/adapters).

    /usr/bin/python3 -m zoo.lora [--smoke] [--smoke-root DIR]

Needs the finished Kontext and VAE checkpoints (zoo.kontext, zoo.vae); writes models/tiny/adapters/
(or <smoke root>/tiny/adapters). Takes a few minutes on one core; run it niced on a shared CPU.

Adapters (all trained, on shapes-world latents encoded by the tiny VAE):
- style: LoRA rank 8, alpha 4 (scale 1/2) on every double block's attention projections and
  text-stream feed-forward, and every single block's q, k, v and proj_mlp (so BFL's fused qkv and
  linear1 have all their parts). Objective: turn red into blue (the prediction for a prompt with
  "red" must match the frozen model's prediction for the same prompt with "blue").
- stlora: SliderEdit's STLoRA (rank 4, alpha 4) on the six text-stream linears of the double
  blocks, trained with Partial Prompt Suppression: with the scale 1 on the tokens of a color word
  and 0 elsewhere, the prediction must match the frozen model's for the prompt without that word.
- loha: LyCORIS LoHa (dim 4, alpha 2) and lokr: LyCORIS LoKr (w1 full 4 x 4, w2 = w2_a w2_b rank 4,
  alpha 4), the style objective on a few layers.
- watermark: a Conv LoRA (rank 4, alpha 4; 3x3 and 1x1 kernels) on the VAE decoder's last layers,
  trained to add a faint fixed pattern to every decoded image.

Files (<adapter>.<format>.safetensors): style in kohya (sd-scripts' FLUX names: BFL names
flattened, fused qkv / linear1, per-module alpha), kohya-diffusers (flattened diffusers names),
peft (diffusers `transformer.` keys, alpha in `lora_adapter_metadata`), bfl (BFL's own names,
fused, no alpha: alpha / rank folded into B) and slideredit (bare module paths, lora_A / lora_B,
no alpha: folded); stlora in slideredit and peft; loha and lokr in LyCORIS keys (`lora_unet_`
prefix, flattened diffusers names); watermark in peft (`vae.decoder...`). Fused BFL projections
join the parts' factors by rank: A = [A_q; A_k; A_v], B = blockdiag(B_q, B_k, B_v), exact.

references.safetensors: the fixed inputs and the outputs (computed in float64, stored float32)
of the transformer and the VAE decoder with the adapters at several scales; manifest.json lists
the cases. The TypeScript engine must reproduce them within 1e-4.
"""
from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import Logger, base_parser, paths_from_args, seed_all, set_threads, write_json
from .mmdit import image_ids, pack
from .world import caption, render, sample_scene

SEED = 4242
TOLERANCE = 1e-4


# ---------------------------------------------------------------- adapter modules
class Delta(nn.Module):
    """One adapter's trainable delta for one layer (Linear or Conv2d)."""

    def __init__(self, base: nn.Module, kind: str, rank: int, alpha: float, gen: torch.Generator):
        super().__init__()
        self.kind, self.rank, self.alpha = kind, rank, alpha
        w = base.weight
        out, cin = w.shape[0], w.shape[1]
        k = w.shape[2:] if w.dim() == 4 else ()
        fan = cin * int(np.prod(k)) if k else cin
        self.conv = w.dim() == 4
        rnd = lambda *s: nn.Parameter(torch.randn(*s, generator=gen) / math.sqrt(s[-1] if len(s) == 2 else fan))
        if kind == "lora":
            self.A = rnd(rank, cin, *k) if k else rnd(rank, cin)
            self.B = nn.Parameter(torch.zeros(out, rank, *([1, 1] if k else [])))
        elif kind == "loha":
            self.w1a, self.w1b = rnd(out, rank), rnd(rank, fan)
            self.w2a, self.w2b = nn.Parameter(torch.zeros(out, rank)), rnd(rank, fan)
        elif kind == "lokr":
            a, c = 4, 4
            b, d = out // a, fan // c
            self.w1 = rnd(a, c)
            self.w2a, self.w2b = nn.Parameter(torch.zeros(b, rank)), rnd(rank, d)
        else:
            raise ValueError(kind)
        self.scale = alpha / rank

    def weight(self) -> torch.Tensor:
        """The dense delta (out, in[, kh, kw]) with alpha / rank applied."""
        if self.kind == "lora":
            d = self.B.flatten(1) @ self.A.flatten(1)
        elif self.kind == "loha":
            d = (self.w1a @ self.w1b) * (self.w2a @ self.w2b)
        else:
            d = torch.kron(self.w1, self.w2a @ self.w2b)
        return d * self.scale

    def forward(self, x, base: nn.Module):
        if self.kind == "lora" and not self.conv:
            return F.linear(F.linear(x, self.A), self.B) * self.scale
        if self.kind == "lora":
            h = F.conv2d(x, self.A, stride=base.stride, padding=base.padding, dilation=base.dilation)
            return F.conv2d(h, self.B) * self.scale
        w = self.weight()
        if self.conv:
            return F.conv2d(x, w.reshape(base.weight.shape), stride=base.stride, padding=base.padding, dilation=base.dilation)
        return F.linear(x, w)


class Adapted(nn.Module):
    """A layer with adapters: y = base(x) + sum_i s_i delta_i(x); s_i a float or a (B, T, 1) tensor."""

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base
        self.deltas = nn.ModuleDict()
        self.scales: dict = {}

    def forward(self, x):
        y = self.base(x)
        for name, d in self.deltas.items():
            s = self.scales.get(name, 0.0)
            if isinstance(s, float) and s == 0.0:
                continue
            y = y + s * d(x, self.base)
        return y


def get_module(root: nn.Module, path: str) -> nn.Module:
    m = root
    for p in path.split("."):
        m = m[int(p)] if p.isdigit() else getattr(m, p)
    return m


def attach(root: nn.Module, path: str) -> Adapted:
    parent_path, _, leaf = path.rpartition(".")
    parent = get_module(root, parent_path) if parent_path else root
    cur = parent[int(leaf)] if leaf.isdigit() else getattr(parent, leaf)
    if isinstance(cur, Adapted):
        return cur
    wrapped = Adapted(cur)
    if leaf.isdigit():
        parent[int(leaf)] = wrapped
    else:
        setattr(parent, leaf, wrapped)
    return wrapped


class Adapter:
    def __init__(self, name, root, paths, kind, rank, alpha, seed):
        self.name, self.paths, self.kind, self.rank, self.alpha = name, paths, kind, rank, alpha
        gen = torch.Generator().manual_seed(seed)
        self.layers = {}
        for p in paths:
            layer = attach(root, p)
            layer.deltas[name] = Delta(layer.base, kind, rank, alpha, gen)
            self.layers[p] = layer

    def parameters(self):
        return [q for l in self.layers.values() for q in l.deltas[self.name].parameters()]

    def set_scale(self, s):
        for l in self.layers.values():
            l.scales[self.name] = s

    def delta(self, p) -> Delta:
        return self.layers[p].deltas[self.name]


# ---------------------------------------------------------------- targets
def style_targets(n_double, n_single):
    d = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
         "attn.to_add_out", "ff_context.net.0.proj", "ff_context.net.2"]
    s = ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]
    return [f"transformer_blocks.{i}.{m}" for i in range(n_double) for m in d] + \
           [f"single_transformer_blocks.{i}.{m}" for i in range(n_single) for m in s]


ST_SIX = ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out", "ff_context.net.0.proj", "ff_context.net.2"]


# ---------------------------------------------------------------- data
class Data:
    def __init__(self, model, vae, stats, clip_tok, t5_tok):
        self.model, self.vae, self.stats = model, vae, stats
        self.clip_tok, self.t5_tok = clip_tok, t5_tok
        self.rng = np.random.default_rng(SEED)

    @torch.no_grad()
    def text(self, prompts):
        c = torch.tensor([self.clip_tok.encode(t) for t in prompts], dtype=torch.int32)
        t = torch.tensor([self.t5_tok.encode(x) for x in prompts], dtype=torch.int64)
        _, pooled = self.model.clip(c)
        return self.model.t5(t), pooled

    @torch.no_grad()
    def latents(self, scenes):
        imgs = np.stack([render(s) for s in scenes])
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        m, _ = self.vae.encode(x)
        return pack((m - self.stats["shift_factor"]) * self.stats["scaling_factor"])

    def batch(self, n, want_color="red"):
        scenes = []
        while len(scenes) < n:
            s = sample_scene(self.rng)
            if any(o["color"] == want_color for o in s["objects"]):
                scenes.append(s)
        x0 = self.latents(scenes)
        t = torch.from_numpy(self.rng.uniform(0.05, 0.95, n)).float()
        eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(int(self.rng.integers(1 << 30))))
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        return scenes, xt, t


def transformer_call(tr, xt, text, t, guidance=1.0):
    ctx, pooled = text
    ids = image_ids(8, 8, 0)
    return tr(xt, ctx, pooled, t, ids, torch.zeros(ctx.shape[1], 3), torch.full((xt.shape[0],), guidance))


def token_span(t5_tok, prompt, word):
    full = t5_tok.encode(prompt, pad=False)
    sub = t5_tok.encode(word, pad=False)[:-1]
    for i in range(len(full) - len(sub) + 1):
        if full[i:i + len(sub)] == sub:
            return list(range(i, i + len(sub)))
    raise ValueError(f"{word!r} not in {prompt!r}")


def train(adapter, steps, batch, data, tr, log, mode):
    opt = torch.optim.Adam(adapter.parameters(), lr=2e-3)
    t0 = time.time()
    for step in range(steps):
        scenes, xt, t = data.batch(batch)
        prompts = [caption(s) for s in scenes]
        if mode == "pps":
            target_prompts = [p.replace("red ", "", 1) for p in prompts]
            scale = torch.zeros(batch, data.t5_tok.max_length, 1)
            for b, p in enumerate(prompts):
                scale[b, token_span(data.t5_tok, p, "red"), 0] = 1.0
        else:
            target_prompts = [p.replace("red", "blue") for p in prompts]
            scale = 1.0
        adapter.set_scale(0.0)
        with torch.no_grad():
            target = transformer_call(tr, xt, data.text(target_prompts), t)
        adapter.set_scale(scale)
        pred = transformer_call(tr, xt, data.text(prompts), t)
        loss = F.mse_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"{adapter.name} step {step}/{steps} loss {loss.item():.5f} ({time.time() - t0:.0f}s)")
    adapter.set_scale(0.0)


def train_watermark(adapter, steps, vae, log, gen):
    pattern = torch.tensor([[(-1.0) ** ((i // 4 + j // 4) % 2) for j in range(64)] for i in range(64)]) * 0.05
    opt = torch.optim.Adam(adapter.parameters(), lr=3e-3)
    for step in range(steps):
        z = torch.randn(4, vae.decoder.conv_in.in_channels, 8, 8, generator=gen)
        adapter.set_scale(0.0)
        with torch.no_grad():
            clean = vae.decoder(z)
        adapter.set_scale(1.0)
        out = vae.decoder(z)
        loss = F.mse_loss(out, clean + pattern)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"watermark step {step}/{steps} loss {loss.item():.6f}")
    adapter.set_scale(0.0)


# ---------------------------------------------------------------- writers
def write_safetensors(path: Path, tensors: dict, metadata: dict | None = None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().double().numpy().astype(np.float32)) if torch.is_tensor(t) else np.asarray(t, np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    tmp.replace(path)


def lora_factors(adapter, p):
    d = adapter.delta(p)
    return d.A.detach(), d.B.detach()


def fused(adapter, paths):
    """Rank-concatenated factors of several LoRA layers sharing one input (exact)."""
    As, Bs = zip(*(lora_factors(adapter, p) for p in paths))
    r = adapter.rank
    A = torch.cat(As, 0)
    B = torch.zeros(sum(b.shape[0] for b in Bs), r * len(Bs))
    row = 0
    for i, b in enumerate(Bs):
        B[row:row + b.shape[0], i * r:(i + 1) * r] = b
        row += b.shape[0]
    return A, B, adapter.alpha * len(paths)


BFL_DOUBLE = {"img_attn.qkv": ["attn.to_q", "attn.to_k", "attn.to_v"],
              "txt_attn.qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"],
              "txt_attn.proj": ["attn.to_add_out"], "txt_mlp.0": ["ff_context.net.0.proj"], "txt_mlp.2": ["ff_context.net.2"]}


def bfl_groups(adapter, n_double, n_single):
    groups = []
    for i in range(n_double):
        for name, parts in BFL_DOUBLE.items():
            groups.append((f"double_blocks.{i}.{name}", [f"transformer_blocks.{i}.{p}" for p in parts]))
    for i in range(n_single):
        groups.append((f"single_blocks.{i}.linear1", [f"single_transformer_blocks.{i}.{p}" for p in ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]]))
    covered = {p for _, ps in groups for p in ps}
    assert covered == set(adapter.paths), sorted(set(adapter.paths) ^ covered)
    return groups


def write_style(adapter, out: Path, n_double, n_single):
    files = {}
    r, alpha = adapter.rank, adapter.alpha
    # kohya, sd-scripts FLUX: BFL names flattened, fused, per-module alpha
    t = {}
    for bfl, parts in bfl_groups(adapter, n_double, n_single):
        A, B, a = fused(adapter, parts)
        k = "lora_unet_" + bfl.replace(".", "_")
        t[f"{k}.lora_down.weight"], t[f"{k}.lora_up.weight"], t[f"{k}.alpha"] = A, B, torch.tensor(a)
    write_safetensors(out / "style.kohya.safetensors", t, {"ss_network_module": "networks.lora_flux", "ss_network_dim": r, "ss_network_alpha": alpha})
    files["kohya"] = "style.kohya.safetensors"
    # kohya with flattened diffusers names
    t = {}
    for p in adapter.paths:
        A, B = lora_factors(adapter, p)
        k = "lora_unet_" + p.replace(".", "_")
        t[f"{k}.lora_down.weight"], t[f"{k}.lora_up.weight"], t[f"{k}.alpha"] = A, B, torch.tensor(alpha)
    write_safetensors(out / "style.kohya-diffusers.safetensors", t)
    files["kohya-diffusers"] = "style.kohya-diffusers.safetensors"
    # peft / diffusers
    t = {}
    for p in adapter.paths:
        A, B = lora_factors(adapter, p)
        t[f"transformer.{p}.lora_A.weight"], t[f"transformer.{p}.lora_B.weight"] = A, B
    meta = {"lora_adapter_metadata": json.dumps({"transformer.r": r, "transformer.lora_alpha": alpha, "transformer.target_modules": sorted({p.split('.', 2)[-1] for p in adapter.paths})})}
    write_safetensors(out / "style.peft.safetensors", t, meta)
    files["peft"] = "style.peft.safetensors"
    # BFL native (no alpha: folded)
    t = {}
    for bfl, parts in bfl_groups(adapter, n_double, n_single):
        A, B, a = fused(adapter, parts)
        t[f"{bfl}.lora_A.weight"], t[f"{bfl}.lora_B.weight"] = A, B * (a / A.shape[0])
    write_safetensors(out / "style.bfl.safetensors", t)
    files["bfl"] = "style.bfl.safetensors"
    # SliderEdit checkpoint names (no alpha: folded)
    t = {}
    for p in adapter.paths:
        A, B = lora_factors(adapter, p)
        t[f"{p}.lora_A.weight"], t[f"{p}.lora_B.weight"] = A, B * (alpha / r)
    write_safetensors(out / "style.slideredit.safetensors", t)
    files["slideredit"] = "style.slideredit.safetensors"
    return files


def write_stlora(adapter, out: Path):
    r, alpha = adapter.rank, adapter.alpha
    t, tp = {}, {}
    for p in adapter.paths:
        A, B = lora_factors(adapter, p)
        t[f"{p}.lora_A.weight"], t[f"{p}.lora_B.weight"] = A, B * (alpha / r)
        tp[f"transformer.{p}.lora_A.weight"], tp[f"transformer.{p}.lora_B.weight"] = A, B
    write_safetensors(out / "stlora.slideredit.safetensors", t)
    write_safetensors(out / "stlora.peft.safetensors", tp, {"lora_adapter_metadata": json.dumps({"transformer.r": r, "transformer.lora_alpha": alpha})})
    return {"slideredit": "stlora.slideredit.safetensors", "peft": "stlora.peft.safetensors"}


def write_lycoris(adapter, out: Path):
    t = {}
    for p in adapter.paths:
        d = adapter.delta(p)
        k = "lora_unet_" + p.replace(".", "_")
        if adapter.kind == "loha":
            t[f"{k}.hada_w1_a"], t[f"{k}.hada_w1_b"], t[f"{k}.hada_w2_a"], t[f"{k}.hada_w2_b"] = d.w1a, d.w1b, d.w2a, d.w2b
        else:
            t[f"{k}.lokr_w1"], t[f"{k}.lokr_w2_a"], t[f"{k}.lokr_w2_b"] = d.w1, d.w2a, d.w2b
        t[f"{k}.alpha"] = torch.tensor(adapter.alpha)
    name = f"{adapter.name}.lycoris.safetensors"
    write_safetensors(out / name, t, {"ss_network_module": "lycoris.kohya", "ss_network_args": json.dumps({"algo": adapter.kind})})
    return {"lycoris": name}


def write_watermark(adapter, out: Path):
    t = {}
    for p in adapter.paths:
        A, B = lora_factors(adapter, p)
        t[f"vae.{p}.lora_A.weight"], t[f"vae.{p}.lora_B.weight"] = A, B
    write_safetensors(out / "watermark.peft.safetensors", t, {"lora_adapter_metadata": json.dumps({"vae.r": adapter.rank, "vae.lora_alpha": adapter.alpha})})
    return {"peft": "watermark.peft.safetensors"}


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--steps", type=int, default=None, help="training steps of every adapter (default: each adapter's own)")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    P.refuse_in_experiment("zoo.lora")
    log = Logger(P.logs / "lora.log")
    from .export import load_vae
    from .kontext import load_model
    from .tokenizers import clip_tokenizer, t5_tokenizer
    seed_all(SEED)
    # the references must come from exactly the weights the exported graphs hold
    if not (P.ckpt / "kontext_export.pt").exists() and not (P.ckpt / "kontext_final.pt").exists():
        raise SystemExit(f"no exported Kontext weights in {P.ckpt}: run python3 -m zoo.export first")
    if not (P.kontext / "transformer" / "model.onnx").exists() or not (P.kontext / "vae_decoder" / "model.onnx").exists():
        raise SystemExit(f"no exported model in {P.kontext}: run python3 -m zoo.export first")
    model = load_model(P)
    vae, stats, _ = load_vae(P)
    for p in list(model.parameters()) + list(vae.parameters()):
        p.requires_grad_(False)
    tr = model.transformer
    n_double, n_single = len(tr.transformer_blocks), len(tr.single_transformer_blocks)
    smoke = args.smoke
    steps = {"style": 300, "stlora": 200, "loha": 120, "lokr": 120, "watermark": 200}
    if smoke:
        steps = {k: 3 for k in steps}
    if args.steps is not None:
        steps = {k: args.steps for k in steps}
    data = Data(model, vae, stats, clip_tokenizer(), t5_tokenizer())
    t0 = time.time()

    style = Adapter("style", tr, style_targets(n_double, n_single), "lora", 8, 4.0, SEED + 1)
    train(style, steps["style"], 8, data, tr, log, "style")
    stlora = Adapter("stlora", tr, [f"transformer_blocks.{i}.{m}" for i in range(n_double) for m in ST_SIX], "lora", 4, 4.0, SEED + 2)
    train(stlora, steps["stlora"], 8, data, tr, log, "pps")
    loha = Adapter("loha", tr, [f"transformer_blocks.{i}.{m}" for i in range(n_double) for m in ["attn.to_q", "attn.to_v", "ff.net.0.proj"]], "loha", 4, 2.0, SEED + 3)
    train(loha, steps["loha"], 8, data, tr, log, "style")
    lokr = Adapter("lokr", tr, [f"transformer_blocks.{i}.attn.add_v_proj" for i in range(n_double)] + [f"transformer_blocks.{i}.attn.to_out.0" for i in range(n_double)] + [f"single_transformer_blocks.{i}.proj_out" for i in range(n_single)], "lokr", 4, 4.0, SEED + 4)
    train(lokr, steps["lokr"], 8, data, tr, log, "style")
    dec = vae.decoder
    last = len(dec.up_blocks) - 1
    wm_paths = [f"decoder.up_blocks.{last}.resnets.1.conv2", "decoder.conv_out"]
    if getattr(dec.up_blocks[last].resnets[0], "conv_shortcut", None) is not None:
        wm_paths.append(f"decoder.up_blocks.{last}.resnets.0.conv_shortcut")
    vae_root = nn.Module()
    vae_root.decoder = dec
    watermark = Adapter("watermark", vae_root, wm_paths, "lora", 4, 4.0, SEED + 5)
    train_watermark(watermark, steps["watermark"], vae, log, torch.Generator().manual_seed(SEED + 6))
    log(f"trained in {time.time() - t0:.0f}s")

    out = P.tiny / "adapters"
    out.mkdir(parents=True, exist_ok=True)
    files = {"style": write_style(style, out, n_double, n_single), "stlora": write_stlora(stlora, out),
             "loha": write_lycoris(loha, out), "lokr": write_lycoris(lokr, out), "watermark": write_watermark(watermark, out)}

    # ---- references, in float64
    prompt = "make the red circle blue"
    gen = torch.Generator().manual_seed(SEED + 7)
    ctx, pooled = data.text([prompt])
    inputs = {
        "hidden_states": torch.randn(1, 32, 64, generator=gen),
        "encoder_hidden_states": ctx, "pooled_projections": pooled,
        "timestep": torch.tensor([0.6]), "img_ids": torch.cat([image_ids(8, 8, 0), image_ids(8, 8, 1)]),
        "txt_ids": torch.zeros(ctx.shape[1], 3), "guidance": torch.tensor([1.0]),
    }
    latent = torch.randn(1, 16, 8, 8, generator=gen)
    span = token_span(data.t5_tok, prompt, "red")
    tokens = torch.zeros(ctx.shape[1])
    tokens[span] = 1.0
    tr.double()
    dec.double()
    # mmdit computes the timestep embedding in float32 (as the ONNX graph does); feed it to the float64 model
    from . import mmdit
    embed32 = mmdit.timestep_embedding
    mmdit.timestep_embedding = lambda t, *a, **k: embed32(t, *a, **k).double()
    adapters = {a.name: a for a in (style, stlora, loha, lokr, watermark)}

    @torch.no_grad()
    def run(graph, setting):
        for a in adapters.values():
            a.set_scale(0.0)
        for name, s in setting.items():
            if isinstance(s, dict):  # per-token: scale x tokens over (1, T, 1)
                adapters[name].set_scale((tokens * s["scale"]).double()[None, :, None])
            else:
                adapters[name].set_scale(float(s))
        if graph == "transformer":
            return tr(*[inputs[k].double() for k in ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance")]).float()
        return dec(latent.double()).float()

    cases = [("transformer", {}, "base")]
    cases += [("transformer", {"style": s}, f"style_{s}") for s in (1.0, 0.5, -0.75, 1.5)]
    cases += [("transformer", {"stlora": 1.0}, "stlora_1.0")]
    cases += [("transformer", {"stlora": {"scale": s}}, f"stlora_tokens_{s}") for s in (1.0, -1.0, 0.5)]
    cases += [("transformer", {"loha": s}, f"loha_{s}") for s in (1.0, 0.6)]
    cases += [("transformer", {"lokr": s}, f"lokr_{s}") for s in (1.0, -0.5)]
    cases += [("transformer", {"style": 0.8, "loha": 0.5, "lokr": -0.3}, "stack_style0.8_loha0.5_lokr-0.3")]
    cases += [("vae_decoder", {}, "vae_base")]
    cases += [("vae_decoder", {"watermark": s}, f"watermark_{s}") for s in (1.0, 0.5)]
    refs = {f"inputs.transformer.{k}": v.float() for k, v in inputs.items()}
    refs["inputs.vae_decoder.latent_sample"] = latent
    refs["tokens.stlora"] = tokens
    manifest_cases = []
    try:
        for graph, setting, name in cases:
            refs[f"outputs.{name}"] = run(graph, setting)
            manifest_cases.append({"name": name, "graph": graph, "output": f"outputs.{name}",
                                   "adapters": [{"adapter": k, "scale": (v["scale"] if isinstance(v, dict) else v), "tokens": "tokens.stlora" if isinstance(v, dict) else None} for k, v in setting.items()]})
    finally:   # later steps of the same process (zoo.build) run the model in float32
        mmdit.timestep_embedding = embed32
    write_safetensors(out / "references.safetensors", refs)
    component = {"style": "denoiser", "stlora": "denoiser", "loha": "denoiser", "lokr": "denoiser", "watermark": "vae"}
    write_json(out / "manifest.json", {
        "format": "atelier-adapters/1",
        "model": "../kontext",
        "tolerance": TOLERANCE,
        "references": "references.safetensors",
        "graphs": {"transformer": "transformer/model.onnx", "vae_decoder": "vae_decoder/model.onnx"},
        "inputs": {"transformer": [k for k in inputs], "vae_decoder": ["latent_sample"]},
        "adapters": {name: {"kind": a.kind, "rank": a.rank, "alpha": a.alpha, "component": component[name], "modules": len(a.paths), "files": files[name]} for name, a in adapters.items()},
        "cases": manifest_cases,
        "prompt": prompt, "token_span": span,
        "train_seconds": round(time.time() - t0),
        "smoke": smoke,
    })
    log(f"wrote {out}: {sum(len(f) for f in files.values())} adapter files, {len(cases)} reference outputs")


if __name__ == "__main__":
    main()
