"""A tiny FluxTransformer2DModel (diffusers structure and module names).

x_embedder, context_embedder, time_text_embed.{timestep_embedder,guidance_embedder,text_embedder}
.linear_{1,2}, transformer_blocks.N.{norm1.linear, norm1_context.linear, attn.{to_q,to_k,to_v,
add_q_proj,add_k_proj,add_v_proj,to_out.0,to_add_out,norm_q,norm_k,norm_added_q,norm_added_k},
ff.net.0.proj, ff.net.2, ff_context.net.0.proj, ff_context.net.2},
single_transformer_blocks.N.{norm.linear, proj_mlp, attn.{to_q,to_k,to_v,norm_q,norm_k}, proj_out},
norm_out.linear, proj_out. RoPE over 3-axis ids (FluxPosEmbed), AdaLN-Zero modulation from
timestep + guidance + pooled text, inputs packed 2x2 (B, N, 4C).
Forward inputs are exactly the ONNX graph's: hidden_states, encoder_hidden_states,
pooled_projections, timestep (sigma in [0, 1]; scaled by 1000 inside as diffusers does),
img_ids (N, 3), txt_ids (L, 3), guidance (B,) (scaled by 1000 inside).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

MMDIT_CONFIG = {
    "patch_size": 1, "in_channels": 64, "out_channels": None,
    "num_layers": 4, "num_single_layers": 6,
    "attention_head_dim": 32, "num_attention_heads": 4,
    "joint_attention_dim": 128, "pooled_projection_dim": 128,
    "guidance_embeds": True, "axes_dims_rope": [8, 12, 12],
}


def inner_dim(c):
    return c["attention_head_dim"] * c["num_attention_heads"]


def timestep_embedding(t, dim=256, max_period=10000):
    """diffusers get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, d):
        super().__init__()
        self.linear_1 = nn.Linear(cin, d)
        self.linear_2 = nn.Linear(d, d)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class CombinedTimestepGuidanceTextProjEmbeddings(nn.Module):
    def __init__(self, d, pooled_dim):
        super().__init__()
        self.timestep_embedder = TimestepEmbedding(256, d)
        self.guidance_embedder = TimestepEmbedding(256, d)
        self.text_embedder = TimestepEmbedding(pooled_dim, d)   # PixArtAlphaTextProjection(silu): linear_1, linear_2

    def forward(self, timestep, guidance, pooled):
        t = self.timestep_embedder(timestep_embedding(timestep))
        g = self.guidance_embedder(timestep_embedding(guidance))
        return t + g + self.text_embedder(pooled)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(ids, axes_dims, theta=10000.0):
    """FluxPosEmbed: ids (S, 3) -> cos, sin (S, sum(axes_dims)), repeat-interleaved pairs."""
    coss, sins = [], []
    for i, d in enumerate(axes_dims):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32, device=ids.device) / d))
        f = ids[:, i:i + 1].float() * freqs[None, :]
        coss.append(torch.cos(f).repeat_interleave(2, dim=1))
        sins.append(torch.sin(f).repeat_interleave(2, dim=1))
    return torch.cat(coss, -1), torch.cat(sins, -1)


def apply_rope(x, cos, sin):
    """x (B, H, S, D); diffusers apply_rotary_emb with use_real_unbind_dim=-1."""
    xr = x.reshape(*x.shape[:-1], -1, 2)
    x_real, x_imag = xr[..., 0], xr[..., 1]
    rot = torch.stack([-x_imag, x_real], dim=-1).flatten(3)
    return x * cos[None, None] + rot * sin[None, None]


class LayerNorm(nn.Module):
    """LayerNorm without learnable affine (diffusers elementwise_affine=False). Constant ones/zeros
    are passed explicitly: torch 1.13 exports an empty scale input otherwise, which onnx.checker rejects."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.d, self.eps = d, eps
        self.register_buffer("one", torch.ones(d), persistent=False)
        self.register_buffer("zero", torch.zeros(d), persistent=False)

    def forward(self, x):
        return F.layer_norm(x, (self.d,), self.one, self.zero, self.eps)


class AdaLayerNormZero(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear = nn.Linear(d, 6 * d)
        self.norm = LayerNorm(d, eps=1e-6)

    def forward(self, x, emb):
        emb = self.linear(F.silu(emb))
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = emb.chunk(6, dim=1)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return x, gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormZeroSingle(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear = nn.Linear(d, 3 * d)
        self.norm = LayerNorm(d, eps=1e-6)

    def forward(self, x, emb):
        emb = self.linear(F.silu(emb))
        shift_msa, scale_msa, gate_msa = emb.chunk(3, dim=1)
        return self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None], gate_msa


class AdaLayerNormContinuous(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear = nn.Linear(d, 2 * d)
        self.norm = LayerNorm(d, eps=1e-6)

    def forward(self, x, emb):
        scale, shift = self.linear(F.silu(emb)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class GELU(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.proj = nn.Linear(din, dout)

    def forward(self, x):
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, d, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GELU(d, d * mult), nn.Dropout(0.0), nn.Linear(d * mult, d)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class Attention(nn.Module):
    def __init__(self, d, heads, head_dim, joint: bool, pre_only: bool = False):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.to_q, self.to_k, self.to_v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        self.joint = joint
        if not pre_only:
            self.to_out = nn.ModuleList([nn.Linear(d, d), nn.Dropout(0.0)])
        if joint:
            self.add_q_proj, self.add_k_proj, self.add_v_proj = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
            self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)
            self.to_add_out = nn.Linear(d, d)

    def _heads(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, rot, ctx=None):
        q = self.norm_q(self._heads(self.to_q(x)))
        k = self.norm_k(self._heads(self.to_k(x)))
        v = self._heads(self.to_v(x))
        if ctx is not None:
            cq = self.norm_added_q(self._heads(self.add_q_proj(ctx)))
            ck = self.norm_added_k(self._heads(self.add_k_proj(ctx)))
            cv = self._heads(self.add_v_proj(ctx))
            q, k, v = torch.cat([cq, q], 2), torch.cat([ck, k], 2), torch.cat([cv, v], 2)
        cos, sin = rot
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        a = torch.softmax(q @ k.transpose(-1, -2) * (self.head_dim ** -0.5), dim=-1)
        h = (a @ v).transpose(1, 2).flatten(2)
        if ctx is not None:
            L = ctx.shape[1]
            c, h = h[:, :L], h[:, L:]
            return self.to_out[0](h), self.to_add_out(c)
        return h


class FluxTransformerBlock(nn.Module):
    def __init__(self, d, heads, head_dim):
        super().__init__()
        self.norm1 = AdaLayerNormZero(d)
        self.norm1_context = AdaLayerNormZero(d)
        self.attn = Attention(d, heads, head_dim, joint=True)
        self.norm2 = LayerNorm(d, eps=1e-6)
        self.ff = FeedForward(d)
        self.norm2_context = LayerNorm(d, eps=1e-6)
        self.ff_context = FeedForward(d)

    def forward(self, x, ctx, temb, rot):
        nx, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.norm1(x, temb)
        nc, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = self.norm1_context(ctx, temb)
        ax, ac = self.attn(nx, rot, nc)
        x = x + gate_msa[:, None] * ax
        nx = self.norm2(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        x = x + gate_mlp[:, None] * self.ff(nx)
        ctx = ctx + c_gate_msa[:, None] * ac
        nc = self.norm2_context(ctx) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None]
        ctx = ctx + c_gate_mlp[:, None] * self.ff_context(nc)
        return ctx, x


class FluxSingleTransformerBlock(nn.Module):
    def __init__(self, d, heads, head_dim, mlp_ratio=4.0):
        super().__init__()
        m = int(d * mlp_ratio)
        self.norm = AdaLayerNormZeroSingle(d)
        self.proj_mlp = nn.Linear(d, m)
        self.attn = Attention(d, heads, head_dim, joint=False, pre_only=True)
        self.proj_out = nn.Linear(d + m, d)

    def forward(self, x, temb, rot):
        r = x
        nx, gate = self.norm(x, temb)
        mlp = F.gelu(self.proj_mlp(nx), approximate="tanh")
        a = self.attn(nx, rot)
        return r + gate[:, None] * self.proj_out(torch.cat([a, mlp], dim=2))


class FluxTransformer2DModel(nn.Module):
    def __init__(self, c=MMDIT_CONFIG):
        super().__init__()
        self.config = dict(c)
        d = inner_dim(c)
        out = c["out_channels"] or c["in_channels"]
        self.axes = list(c["axes_dims_rope"])
        assert sum(self.axes) == c["attention_head_dim"]
        self.time_text_embed = CombinedTimestepGuidanceTextProjEmbeddings(d, c["pooled_projection_dim"])
        self.context_embedder = nn.Linear(c["joint_attention_dim"], d)
        self.x_embedder = nn.Linear(c["in_channels"], d)
        self.transformer_blocks = nn.ModuleList(
            [FluxTransformerBlock(d, c["num_attention_heads"], c["attention_head_dim"]) for _ in range(c["num_layers"])])
        self.single_transformer_blocks = nn.ModuleList(
            [FluxSingleTransformerBlock(d, c["num_attention_heads"], c["attention_head_dim"])
             for _ in range(c["num_single_layers"])])
        self.norm_out = AdaLayerNormContinuous(d)
        self.proj_out = nn.Linear(d, out)
        self._init()

    def _init(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # AdaLN-Zero: modulation starts at zero so every block starts as identity
        for b in self.transformer_blocks:
            for l in (b.norm1.linear, b.norm1_context.linear):
                nn.init.zeros_(l.weight)
                nn.init.zeros_(l.bias)
        for b in self.single_transformer_blocks:
            nn.init.zeros_(b.norm.linear.weight)
            nn.init.zeros_(b.norm.linear.bias)
        nn.init.zeros_(self.norm_out.linear.weight)
        nn.init.zeros_(self.norm_out.linear.bias)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)
        for e in (self.time_text_embed.timestep_embedder, self.time_text_embed.guidance_embedder):
            nn.init.normal_(e.linear_1.weight, std=0.02)
            nn.init.normal_(e.linear_2.weight, std=0.02)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids,
                guidance):
        x = self.x_embedder(hidden_states)
        temb = self.time_text_embed(timestep * 1000.0, guidance * 1000.0, pooled_projections)
        ctx = self.context_embedder(encoder_hidden_states)
        ids = torch.cat([txt_ids, img_ids], dim=0)
        rot = rope(ids, self.axes)
        for blk in self.transformer_blocks:
            ctx, x = blk(x, ctx, temb, rot)
        L = ctx.shape[1]
        h = torch.cat([ctx, x], dim=1)
        for blk in self.single_transformer_blocks:
            h = blk(h, temb, rot)
        x = h[:, L:]
        return self.proj_out(self.norm_out(x, temb))


# ---------------------------------------------------------------- depth growth
def config_for_state(state, prefix="", base=MMDIT_CONFIG):
    """The config of a transformer state dict (keys under `prefix`): `base` with the numbers of double-
    and single-stream blocks the dict holds, so a grown model's checkpoint needs no config of its own."""
    def count(name):
        pat = re.compile(re.escape(prefix + name) + r"\.(\d+)\.")
        return 1 + max((int(m.group(1)) for k in state for m in [pat.match(k)] if m), default=-1)
    return {**base, "num_layers": count("transformer_blocks"), "num_single_layers": count("single_transformer_blocks")}


# What a copied block's output passes through: zeroing these makes the copy add nothing to the residual
# streams (a double block's attention and MLP outputs of both streams; a single block's joint projection).
_OUTPUT_PROJECTIONS = {"transformer_blocks": ("attn.to_out.0", "attn.to_add_out", "ff.net.2", "ff_context.net.2"),
                       "single_transformer_blocks": ("proj_out",)}


def grow_depth(state, double_after=(), single_after=(), prefix=""):
    """Function-preserving depth growth (block expansion, as LLaMA Pro grows a trained LLM): after each
    listed double-stream block (indices of `state`) a copy of it is inserted, and likewise for the
    single-stream blocks, with the copy's output projections (_OUTPUT_PROJECTIONS) zeroed. A zeroed
    projection makes the copy an identity on both residual streams, so the grown model computes exactly
    what the trained one did, while its gradient is not zero (its input is the copy's activations), so
    the copies start learning at once; copying a trained block rather than drawing a fresh one starts
    them from features that already fit their place. (Zeroing the AdaLN gates instead, as a fresh block
    starts, also gives an identity, but then the copy's attention and MLP get no gradient until the
    gates have moved.) Returns the grown state dict (new tensors for the copies, renumbered keys);
    `config_for_state` reads its config back."""
    blocks = (prefix + "transformer_blocks.", prefix + "single_transformer_blocks.")
    out = {k: v for k, v in state.items() if not k.startswith(blocks)}
    c = config_for_state(state, prefix)
    for name, n, after in (("transformer_blocks", c["num_layers"], set(double_after)),
                           ("single_transformer_blocks", c["num_single_layers"], set(single_after))):
        bad = [i for i in after if not 0 <= i < n]
        if bad:
            raise ValueError(f"grow_depth: {name} has {n} blocks, no block {bad}")
        new = 0
        for i in range(n):
            src = f"{prefix}{name}.{i}."
            block = {k[len(src):]: v for k, v in state.items() if k.startswith(src)}
            for zero in (False, True) if i in after else (False,):
                for k, v in block.items():
                    silent = zero and any(k.startswith(p + ".") for p in _OUTPUT_PROJECTIONS[name])
                    out[f"{prefix}{name}.{new}.{k}"] = torch.zeros_like(v) if silent else v.clone()
                new += 1
    return out


def growth_change(state, grown, prefix="") -> float:
    """The largest change grow_depth made to the transformer's output, on a fixed random edit batch
    (context tokens included): 0 up to float rounding when the growth preserved the function."""
    def build(sd):
        tr = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        m = FluxTransformer2DModel(config_for_state(tr))
        m.load_state_dict(tr)
        return m.eval()
    c = config_for_state(state, prefix)
    g = torch.Generator().manual_seed(0)
    n_txt = 8
    args = (torch.randn(2, 32, c["in_channels"], generator=g),
            torch.randn(2, n_txt, c["joint_attention_dim"], generator=g),
            torch.randn(2, c["pooled_projection_dim"], generator=g), torch.rand(2, generator=g),
            torch.cat([image_ids(8, 8, 0), image_ids(8, 8, 1)]), torch.zeros(n_txt, 3), torch.ones(2))
    with torch.no_grad():
        return (build(state)(*args) - build(grown)(*args)).abs().max().item()


# ---------------------------------------------------------------- packing helpers
def pack(z):
    """(B, C, h, w) -> (B, h/2*w/2, 4C), diffusers FluxPipeline._pack_latents."""
    b, c, h, w = z.shape
    z = z.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return z.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(x, h, w):
    """(B, N, 4C) -> (B, C, h, w) for a latent of h x w."""
    b, n, c4 = x.shape
    c = c4 // 4
    x = x.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)


def image_ids(h, w, index=0):
    """ids [index, row, col] of the 2x2-packed tokens of an h x w latent (float32, (N, 3))."""
    hh, ww = h // 2, w // 2
    ids = torch.zeros(hh, ww, 3)
    ids[..., 0] = index
    ids[..., 1] = torch.arange(hh)[:, None]
    ids[..., 2] = torch.arange(ww)[None, :]
    return ids.reshape(hh * ww, 3)
