"""Tiny torch modules whose parameter/module names mimic the real ones.

Module paths follow transformers' CLIPTextModel / CLIPTextModelWithProjection / T5EncoderModel /
CLIPVisionModel (safety checker) and diffusers' UNet2DConditionModel / AutoencoderKL /
FluxTransformer2DModel, so torch.onnx.export names nodes like the real exports do
(e.g. /text_model/encoder/layers.0/self_attn/q_proj/MatMul,
/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul,
/transformer_blocks.0/attn/to_q/MatMul). Widths, depths and vocabularies are tiny; the math is a
faithful-enough simplification (random weights; only wiring matters).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class LayerNormNoAffine(nn.Module):
    """nn.LayerNorm(elementwise_affine=False); torch 1.13 exports that with an empty scale input, which
    the ONNX checker rejects, so pass constant ones/zeros (folded into initializers)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x):
        return F.layer_norm(x, (self.dim,), torch.ones(self.dim), torch.zeros(self.dim), self.eps)


# --------------------------------------------------------------------------- CLIP text (transformers)

class CLIPTextEmbeddings(nn.Module):
    def __init__(self, vocab, dim, max_pos):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(max_pos, dim)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)

    def forward(self, input_ids):
        seq = input_ids.shape[-1]
        return self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :seq])


class CLIPAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        b, s, d = x.shape
        q = self.q_proj(x) * (self.head_dim ** -0.5)
        k, v = self.k_proj(x), self.v_proj(x)
        q, k, v = (t.view(b, s, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        w = q @ k.transpose(-1, -2)
        if mask is not None:
            w = w + mask
        o = torch.softmax(w, dim=-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, s, d))


class CLIPMLP(nn.Module):
    def __init__(self, dim, hidden, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(dim, hidden), nn.Linear(hidden, dim), act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim, heads, act):
        super().__init__()
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.mlp = CLIPMLP(dim, 4 * dim, act)
        self.layer_norm2 = nn.LayerNorm(dim)

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, dim, heads, layers, act):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(dim, heads, act) for _ in range(layers)])

    def forward(self, h, mask=None):
        states = [h]
        for layer in self.layers:
            h = layer(h, mask)
            states.append(h)
        return h, states


class CLIPTextTransformer(nn.Module):
    def __init__(self, vocab, dim, heads, layers, max_pos, act):
        super().__init__()
        self.embeddings = CLIPTextEmbeddings(vocab, dim, max_pos)
        self.encoder = CLIPEncoder(dim, heads, layers, act)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, input_ids):
        h = self.embeddings(input_ids)
        seq = input_ids.shape[-1]
        mask = torch.full((seq, seq), torch.finfo(torch.float32).min).triu(1)[None, None]
        h, states = self.encoder(h, mask)
        last = self.final_layer_norm(h)
        # transformers' legacy pooling: the EOS token has the highest id -> argmax of the ids
        eos = input_ids.to(torch.int32).argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0]), eos]
        return last, pooled, states


class CLIPTextModel(nn.Module):
    """transformers.CLIPTextModel -> (last_hidden_state, pooler_output[, hidden_states.*])."""

    def __init__(self, vocab, dim=32, heads=2, layers=2, max_pos=77, act=quick_gelu,
                 output_hidden_states=False):
        super().__init__()
        self.text_model = CLIPTextTransformer(vocab, dim, heads, layers, max_pos, act)
        self.output_hidden_states = output_hidden_states

    def forward(self, input_ids):
        last, pooled, states = self.text_model(input_ids)
        out = (last, pooled)
        if self.output_hidden_states:
            out = out + tuple(states)
        return out


class CLIPTextModelWithProjection(nn.Module):
    """transformers.CLIPTextModelWithProjection -> (text_embeds, last_hidden_state[, hidden_states.*])."""

    def __init__(self, vocab, dim=32, heads=2, layers=2, max_pos=77, proj=32, act=gelu_tanh,
                 output_hidden_states=False):
        super().__init__()
        self.text_model = CLIPTextTransformer(vocab, dim, heads, layers, max_pos, act)
        self.text_projection = nn.Linear(dim, proj, bias=False)
        self.output_hidden_states = output_hidden_states

    def forward(self, input_ids):
        last, pooled, states = self.text_model(input_ids)
        out = (self.text_projection(pooled), last)
        if self.output_hidden_states:
            out = out + tuple(states)
        return out


class CLIPPooledOnly(nn.Module):
    """CLIPTextModel with both outputs, renamed by the caller (BFL / TensorRT-demo clip.opt)."""

    def __init__(self, vocab, dim=32, heads=2, layers=2, max_pos=77):
        super().__init__()
        self.text_model = CLIPTextTransformer(vocab, dim, heads, layers, max_pos, quick_gelu)

    def forward(self, input_ids):
        last, pooled, _ = self.text_model(input_ids)
        return last, pooled


# --------------------------------------------------------------------------- T5 encoder (transformers)

class T5LayerNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class T5Attention(nn.Module):
    def __init__(self, dim, heads, d_kv, has_bias, buckets=32, max_distance=128):
        super().__init__()
        self.heads, self.d_kv, self.buckets, self.max_distance = heads, d_kv, buckets, max_distance
        inner = heads * d_kv
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.Linear(dim, inner, bias=False)
        self.v = nn.Linear(dim, inner, bias=False)
        self.o = nn.Linear(inner, dim, bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(buckets, heads)

    def _bucket(self, rel):
        nb = self.buckets // 2
        ret = (rel > 0).to(torch.long) * nb
        rel = rel.abs()
        max_exact = nb // 2
        is_small = rel < max_exact
        large = max_exact + (torch.log(rel.float() / max_exact + 1e-6)
                             / math.log(self.max_distance / max_exact) * (nb - max_exact)).to(torch.long)
        large = torch.min(large, torch.full_like(large, nb - 1))
        return ret + torch.where(is_small, rel, large)

    def compute_bias(self, q_len, k_len):
        ctx = torch.arange(q_len)[:, None]
        mem = torch.arange(k_len)[None, :]
        values = self.relative_attention_bias(self._bucket(mem - ctx))
        return values.permute(2, 0, 1).unsqueeze(0)

    def forward(self, x, bias=None):
        b, s, _ = x.shape
        q, k, v = (t(x).view(b, s, self.heads, self.d_kv).transpose(1, 2) for t in (self.q, self.k, self.v))
        if bias is None:
            bias = self.compute_bias(s, s)
        w = q @ k.transpose(-1, -2) + bias
        o = torch.softmax(w.float(), dim=-1) @ v
        return self.o(o.transpose(1, 2).reshape(b, s, self.heads * self.d_kv)), bias


class T5LayerSelfAttention(nn.Module):
    def __init__(self, dim, heads, d_kv, has_bias):
        super().__init__()
        self.SelfAttention = T5Attention(dim, heads, d_kv, has_bias)
        self.layer_norm = T5LayerNorm(dim)

    def forward(self, x, bias=None):
        y, bias = self.SelfAttention(self.layer_norm(x), bias)
        return x + y, bias


class T5DenseGatedActDense(nn.Module):
    def __init__(self, dim, d_ff):
        super().__init__()
        self.wi_0 = nn.Linear(dim, d_ff, bias=False)
        self.wi_1 = nn.Linear(dim, d_ff, bias=False)
        self.wo = nn.Linear(d_ff, dim, bias=False)

    def forward(self, x):
        return self.wo(gelu_tanh(self.wi_0(x)) * self.wi_1(x))


class T5LayerFF(nn.Module):
    def __init__(self, dim, d_ff):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(dim, d_ff)
        self.layer_norm = T5LayerNorm(dim)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, dim, heads, d_kv, d_ff, has_bias):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(dim, heads, d_kv, has_bias), T5LayerFF(dim, d_ff)])

    def forward(self, x, bias=None):
        x, bias = self.layer[0](x, bias)
        return self.layer[1](x), bias


class T5Stack(nn.Module):
    def __init__(self, shared, dim, heads, d_kv, d_ff, layers):
        super().__init__()
        self.embed_tokens = shared
        self.block = nn.ModuleList([T5Block(dim, heads, d_kv, d_ff, i == 0) for i in range(layers)])
        self.final_layer_norm = T5LayerNorm(dim)

    def forward(self, input_ids):
        h = self.embed_tokens(input_ids)
        bias = None
        for blk in self.block:
            h, bias = blk(h, bias)
        return self.final_layer_norm(h)


class T5EncoderModel(nn.Module):
    """transformers.T5EncoderModel (v1.1 gated-gelu) -> last_hidden_state."""

    def __init__(self, vocab, dim=32, heads=2, d_kv=16, d_ff=64, layers=2):
        super().__init__()
        self.shared = nn.Embedding(vocab, dim)
        self.encoder = T5Stack(self.shared, dim, heads, d_kv, d_ff, layers)

    def forward(self, input_ids):
        return self.encoder(input_ids)


# --------------------------------------------------------------------------- CLIP vision / safety checker

class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, dim, image_size, patch):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(dim) * 0.02)
        self.patch_embedding = nn.Conv2d(3, dim, patch, stride=patch, bias=False)
        n = (image_size // patch) ** 2 + 1
        self.position_embedding = nn.Embedding(n, dim)
        self.register_buffer("position_ids", torch.arange(n).unsqueeze(0), persistent=False)

    def forward(self, pixel_values):
        p = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(p.shape[0], 1, -1)
        return torch.cat([cls, p], dim=1) + self.position_embedding(self.position_ids)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, dim, heads, layers, image_size, patch):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(dim, image_size, patch)
        self.pre_layrnorm = nn.LayerNorm(dim)
        self.encoder = CLIPEncoder(dim, heads, layers, quick_gelu)
        self.post_layernorm = nn.LayerNorm(dim)

    def forward(self, pixel_values):
        h, _ = self.encoder(self.pre_layrnorm(self.embeddings(pixel_values)))
        return h, self.post_layernorm(h[:, 0, :])


def cosine_distance(image_embeds, text_embeds):
    a = image_embeds / image_embeds.norm(dim=1, keepdim=True)
    b = text_embeds / text_embeds.norm(dim=1, keepdim=True)
    return a @ b.t()


class StableDiffusionSafetyChecker(nn.Module):
    """diffusers StableDiffusionSafetyChecker.forward_onnx (clip_input, images) -> (images, has_nsfw)."""

    def __init__(self, dim=32, proj=16, image_size=32, patch=16, concepts=17, special=3):
        super().__init__()
        self.vision_model = CLIPVisionTransformer(dim, 2, 1, image_size, patch)
        self.visual_projection = nn.Linear(dim, proj, bias=False)
        self.concept_embeds = nn.Parameter(torch.randn(concepts, proj))
        self.special_care_embeds = nn.Parameter(torch.randn(special, proj))
        # thresholds far above any cosine distance: a random twin never flags an image
        self.concept_embeds_weights = nn.Parameter(torch.full((concepts,), 2.0))
        self.special_care_embeds_weights = nn.Parameter(torch.full((special,), 2.0))

    def forward(self, clip_input, images):
        pooled = self.vision_model(clip_input)[1]
        image_embeds = self.visual_projection(pooled)
        special_cos = cosine_distance(image_embeds, self.special_care_embeds)
        cos = cosine_distance(image_embeds, self.concept_embeds)
        special_scores = special_cos - self.special_care_embeds_weights
        special_care = torch.any(special_scores > 0, dim=1)
        special_adjustment = (special_care * 0.01).unsqueeze(1).expand(-1, cos.shape[1])
        concept_scores = (cos - self.concept_embeds_weights) + special_adjustment
        has_nsfw = torch.any(concept_scores > 0, dim=1)
        images = torch.where(has_nsfw[:, None, None, None], torch.zeros_like(images), images)
        return images, has_nsfw


# --------------------------------------------------------------------------- diffusers building blocks

def timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0.0, max_period=10000):
    """diffusers.models.embeddings.get_timestep_embedding."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32) / (half - downscale_freq_shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps=1e-5):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "conv_shortcut"):
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    """diffusers Attention (to_q/to_k/to_v/to_out.0), optional cross-attention and group_norm."""

    def __init__(self, dim, heads, cross_dim=None, bias=False, group_norm=None):
        super().__init__()
        self.heads = heads
        if group_norm:
            self.group_norm = nn.GroupNorm(group_norm, dim, eps=1e-6)
        kv = cross_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(kv, dim, bias=bias)
        self.to_v = nn.Linear(kv, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def attend(self, x, ctx):
        b, s, d = x.shape
        hd = d // self.heads
        q = self.to_q(x).view(b, -1, self.heads, hd).transpose(1, 2)
        k = self.to_k(ctx).view(b, -1, self.heads, hd).transpose(1, 2)
        v = self.to_v(ctx).view(b, -1, self.heads, hd).transpose(1, 2)
        w = torch.softmax((q @ k.transpose(-1, -2)) * (hd ** -0.5), dim=-1)
        o = (w @ v).transpose(1, 2).reshape(b, s, d)
        return self.to_out[1](self.to_out[0](o))

    def forward(self, x, ctx=None):
        if not hasattr(self, "group_norm"):
            return self.attend(x, x if ctx is None else ctx)
        # VAE mid-block spatial self-attention with residual
        b, c, h, w = x.shape
        y = self.group_norm(x).view(b, c, h * w).transpose(1, 2)
        y = self.attend(y, y).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class GELUProj(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x):
        return gelu_tanh(self.proj(x))


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4, geglu=True):
        super().__init__()
        inner = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner) if geglu else GELUProj(dim, inner),
                                  nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, cross_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, cross_dim=cross_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, dim, heads, cross_dim, groups, linear_projection, layers=1):
        super().__init__()
        self.linear = linear_projection
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Linear(dim, dim) if linear_projection else nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, heads, cross_dim) for _ in range(layers)])
        self.proj_out = nn.Linear(dim, dim) if linear_projection else nn.Conv2d(dim, dim, 1)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        res = x
        x = self.norm(x)
        if self.linear:
            x = self.proj_in(x.permute(0, 2, 3, 1).reshape(b, h * w, c))
        else:
            x = self.proj_in(x).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for blk in self.transformer_blocks:
            x = blk(x, ctx)
        if self.linear:
            x = self.proj_out(x).reshape(b, h, w, c).permute(0, 3, 1, 2)
        else:
            x = self.proj_out(x.reshape(b, h, w, c).permute(0, 3, 1, 2))
        return x + res


class Downsample2D(nn.Module):
    def __init__(self, c, vae=False):
        super().__init__()
        self.vae = vae
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0 if vae else 1)

    def forward(self, x):
        if self.vae:  # diffusers pads (0, 1, 0, 1) when padding == 0
            x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0)
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups, layers, add_down, attn=None):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, temb, groups) for i in range(layers)])
        if attn:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, *attn) for _ in range(layers)])
        if add_down:
            self.downsamplers = nn.ModuleList([Downsample2D(cout)])

    def forward(self, x, temb, ctx):
        skips = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
            skips.append(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    def __init__(self, cin, prev, cout, temb, groups, layers, add_up, attn=None):
        super().__init__()
        rs = []
        for i in range(layers + 1):
            skip = cin if i == layers else cout
            rin = prev if i == 0 else cout
            rs.append(ResnetBlock2D(rin + skip, cout, temb, groups))
        self.resnets = nn.ModuleList(rs)
        if attn:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, *attn) for _ in range(layers + 1)])
        if add_up:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x, skips, temb, ctx):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, c, temb, groups, attn):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, temb, groups), ResnetBlock2D(c, c, temb, groups)])
        self.attentions = nn.ModuleList([Transformer2DModel(c, *attn)])

    def forward(self, x, temb, ctx):
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, ctx)
        return self.resnets[1](x, temb)


class UNet2DConditionModel(nn.Module):
    """diffusers UNet2DConditionModel (tiny). down_types/up_types entries: 'CrossAttn...' or plain."""

    def __init__(self, in_channels=4, channels=(16, 32), down_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                 up_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_dim=32, heads=2, groups=4, layers=1,
                 linear_projection=False, addition_time_embed_dim=None, projection_dim=None, n_time_ids=6):
        super().__init__()
        c0 = channels[0]
        temb = 4 * c0
        self.c0 = c0
        self.conv_in = nn.Conv2d(in_channels, c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, temb)
        self.addition_time_embed_dim = addition_time_embed_dim
        if addition_time_embed_dim:
            self.add_embedding = TimestepEmbedding(projection_dim + n_time_ids * addition_time_embed_dim, temb)
        attn = (heads, cross_dim, groups, linear_projection)
        downs, cout = [], c0
        for i, t in enumerate(down_types):
            cin, cout = cout, channels[i]
            downs.append(DownBlock(cin, cout, temb, groups, layers, i < len(channels) - 1,
                                   attn if t.startswith("CrossAttn") else None))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = UNetMidBlock2DCrossAttn(channels[-1], temb, groups, attn)
        rev = list(reversed(channels))
        ups, prev = [], rev[0]
        for i, t in enumerate(up_types):
            cout, cin = rev[i], rev[min(i + 1, len(rev) - 1)]
            ups.append(UpBlock(cin, prev, cout, temb, groups, layers, i < len(rev) - 1,
                               attn if t.startswith("CrossAttn") else None))
            prev = cout
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(groups, c0)
        self.conv_out = nn.Conv2d(c0, in_channels, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds=None, time_ids=None):
        t = timestep.reshape(-1).expand(sample.shape[0])  # scalar / (1,) / (B,) like diffusers
        emb = self.time_embedding(timestep_embedding(t, self.c0))
        if self.addition_time_embed_dim:
            tid = timestep_embedding(time_ids.flatten(), self.addition_time_embed_dim)
            tid = tid.reshape(text_embeds.shape[0], -1)
            emb = emb + self.add_embedding(torch.cat([text_embeds, tid.to(text_embeds.dtype)], dim=-1))
        x = self.conv_in(sample)
        skips = [x]
        for blk in self.down_blocks:
            x, s = blk(x, emb, encoder_hidden_states)
            skips += s
        x = self.mid_block(x, emb, encoder_hidden_states)
        for blk in self.up_blocks:
            n = len(blk.resnets)
            x = blk(x, skips[-n:], emb, encoder_hidden_states)
            skips = skips[:-n]
        return self.conv_out(F.silu(self.conv_norm_out(x)))


# --------------------------------------------------------------------------- AutoencoderKL (diffusers)

class VAEMidBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, None, groups, 1e-6), ResnetBlock2D(c, c, None, groups, 1e-6)])
        self.attentions = nn.ModuleList([Attention(c, 1, bias=True, group_norm=groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class VAEDownBlock(nn.Module):
    def __init__(self, cin, cout, groups, layers, add_down):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6)
                                      for i in range(layers)])
        if add_down:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, vae=True)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.downsamplers[0](x) if hasattr(self, "downsamplers") else x


class VAEUpBlock(nn.Module):
    def __init__(self, cin, cout, groups, layers, add_up):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6)
                                      for i in range(layers + 1)])
        if add_up:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if hasattr(self, "upsamplers") else x


class VAEEncoder(nn.Module):
    def __init__(self, channels, latent, groups, layers):
        super().__init__()
        self.conv_in = nn.Conv2d(3, channels[0], 3, padding=1)
        blocks, cout = [], channels[0]
        for i, c in enumerate(channels):
            blocks.append(VAEDownBlock(cout, c, groups, layers, i < len(channels) - 1))
            cout = c
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = VAEMidBlock(channels[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, channels[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(channels[-1], 2 * latent, 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class VAEDecoder(nn.Module):
    def __init__(self, channels, latent, groups, layers):
        super().__init__()
        rev = list(reversed(channels))
        self.conv_in = nn.Conv2d(latent, rev[0], 3, padding=1)
        self.mid_block = VAEMidBlock(rev[0], groups)
        blocks, cin = [], rev[0]
        for i, c in enumerate(rev):
            blocks.append(VAEUpBlock(cin, c, groups, layers, i < len(rev) - 1))
            cin = c
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(groups, channels[0], eps=1e-6)
        self.conv_out = nn.Conv2d(channels[0], 3, 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    """diffusers AutoencoderKL (tiny): 4 blocks -> 3 downsamples -> VAE scale factor 8."""

    def __init__(self, latent_channels=4, channels=(4, 4, 8, 8), groups=2, layers=1, quant_conv=True):
        super().__init__()
        self.encoder = VAEEncoder(channels, latent_channels, groups, layers)
        self.decoder = VAEDecoder(channels, latent_channels, groups, layers)
        if quant_conv:
            self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
            self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)

    def parameters_of(self, sample):
        h = self.encoder(sample)
        return self.quant_conv(h) if hasattr(self, "quant_conv") else h

    def sample_latent(self, sample):
        """latent_dist.sample(): mean + std * randn (RandomNormalLike in the graph)."""
        mean, logvar = torch.chunk(self.parameters_of(sample), 2, dim=1)
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        return mean + std * torch.randn_like(mean)

    def decode(self, z):
        if hasattr(self, "post_quant_conv"):
            z = self.post_quant_conv(z)
        return self.decoder(z)


def set_forward(module, fn):
    """Replace module.forward on the instance, as diffusers' conversion script and Optimum do
    (vae.forward = vae.decode ...): the module stays the export root, so node scopes have no
    wrapper prefix (/decoder/up_blocks.0/..., /transformer_blocks.0/...)."""
    module.forward = fn
    return module


def cast_io(module, in_dtypes, out_dtype):
    """Graph I/O in another dtype around float32 compute: in_dtypes maps argument index -> dtype
    to cast to on entry; every output is cast to out_dtype (Cast nodes in the graph)."""
    inner = module.forward

    def forward(*xs):
        xs = [x.to(in_dtypes[i]) if i in in_dtypes else x for i, x in enumerate(xs)]
        out = inner(*xs)
        return tuple(o.to(out_dtype) for o in out) if isinstance(out, tuple) else out.to(out_dtype)

    return set_forward(module, forward)


# --------------------------------------------------------------------------- FluxTransformer2DModel (diffusers)

class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class AdaLayerNormZero(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 6 * dim)
        self.norm = LayerNormNoAffine(dim)

    def forward(self, x, emb):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.linear(F.silu(emb)).chunk(6, dim=1)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return x, gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormZeroSingle(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 3 * dim)
        self.norm = LayerNormNoAffine(dim)

    def forward(self, x, emb):
        shift, scale, gate = self.linear(F.silu(emb)).chunk(3, dim=1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None], gate


class AdaLayerNormContinuous(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = LayerNormNoAffine(dim)

    def forward(self, x, emb):
        scale, shift = self.linear(F.silu(emb)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


def apply_rotary(x, cos, sin):
    """diffusers apply_rotary_emb(use_real=True, use_real_unbind_dim=-1); x: (B, H, S, D)."""
    b, h, s, d = x.shape
    pairs = x.reshape(b, h, s, d // 2, 2)
    x_real, x_imag = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([-x_imag, x_real], dim=-1).reshape(b, h, s, d)
    return x * cos + rotated * sin


class FluxPosEmbed(nn.Module):
    def __init__(self, theta, axes_dim):
        super().__init__()
        self.theta, self.axes_dim = theta, axes_dim

    def forward(self, ids):
        pos = ids.float()
        coss, sins = [], []
        for i, d in enumerate(self.axes_dim):
            freqs = 1.0 / (self.theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
            f = pos[:, i:i + 1] * freqs[None, :]
            c, s = torch.cos(f), torch.sin(f)
            coss.append(torch.stack([c, c], dim=-1).reshape(f.shape[0], d))  # repeat_interleave(2)
            sins.append(torch.stack([s, s], dim=-1).reshape(f.shape[0], d))
        return torch.cat(coss, dim=-1), torch.cat(sins, dim=-1)


class FluxAttention(nn.Module):
    def __init__(self, dim, heads, context=True, pre_only=False):
        super().__init__()
        self.heads = heads
        hd = dim // heads
        self.norm_q, self.norm_k = RMSNorm(hd), RMSNorm(hd)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        if not pre_only:
            self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        if context:
            self.norm_added_q, self.norm_added_k = RMSNorm(hd), RMSNorm(hd)
            self.add_q_proj, self.add_k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
            self.add_v_proj = nn.Linear(dim, dim)
            self.to_add_out = nn.Linear(dim, dim)

    def _heads(self, t):
        b, s, d = t.shape
        return t.view(b, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, rope, ctx=None):
        q, k, v = self._heads(self.to_q(x)), self._heads(self.to_k(x)), self._heads(self.to_v(x))
        q, k = self.norm_q(q), self.norm_k(k)
        if ctx is not None:
            cq, ck, cv = (self._heads(self.add_q_proj(ctx)), self._heads(self.add_k_proj(ctx)),
                          self._heads(self.add_v_proj(ctx)))
            cq, ck = self.norm_added_q(cq), self.norm_added_k(ck)
            q, k, v = torch.cat([cq, q], 2), torch.cat([ck, k], 2), torch.cat([cv, v], 2)
        cos, sin = rope
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        w = torch.softmax((q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5), dim=-1)
        b, h, s, hd = q.shape
        o = (w @ v).transpose(1, 2).reshape(b, s, h * hd)
        if ctx is None:
            return o
        n = ctx.shape[1]
        c_out, x_out = o[:, :n], o[:, n:]
        return self.to_out[1](self.to_out[0](x_out)), self.to_add_out(c_out)


class FluxTransformerBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.norm1_context = AdaLayerNormZero(dim), AdaLayerNormZero(dim)
        self.attn = FluxAttention(dim, heads)
        self.norm2 = LayerNormNoAffine(dim)
        self.ff = FeedForward(dim, geglu=False)
        self.norm2_context = LayerNormNoAffine(dim)
        self.ff_context = FeedForward(dim, geglu=False)

    def forward(self, x, ctx, temb, rope):
        nx, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.norm1(x, temb)
        nc, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = self.norm1_context(ctx, temb)
        a, ca = self.attn(nx, rope, nc)
        x = x + gate_msa[:, None] * a
        x = x + gate_mlp[:, None] * self.ff(self.norm2(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None])
        ctx = ctx + c_gate_msa[:, None] * ca
        ctx = ctx + c_gate_mlp[:, None] * self.ff_context(
            self.norm2_context(ctx) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None])
        return ctx, x


class FluxSingleTransformerBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm = AdaLayerNormZeroSingle(dim)
        self.proj_mlp = nn.Linear(dim, 4 * dim)
        self.attn = FluxAttention(dim, heads, context=False, pre_only=True)
        self.proj_out = nn.Linear(5 * dim, dim)

    def forward(self, x, temb, rope):
        nx, gate = self.norm(x, temb)
        mlp = gelu_tanh(self.proj_mlp(nx))
        a = self.attn(nx, rope)
        return x + gate[:, None] * self.proj_out(torch.cat([a, mlp], dim=2))


class PixArtAlphaTextProjection(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class CombinedTimestepGuidanceTextProjEmbeddings(nn.Module):
    def __init__(self, dim, pooled_dim, guidance=True):
        super().__init__()
        self.timestep_embedder = TimestepEmbedding(256, dim)
        if guidance:
            self.guidance_embedder = TimestepEmbedding(256, dim)
        self.text_embedder = PixArtAlphaTextProjection(pooled_dim, dim)

    def forward(self, timestep, guidance, pooled):
        emb = self.timestep_embedder(timestep_embedding(timestep, 256))
        if guidance is not None:
            emb = emb + self.guidance_embedder(timestep_embedding(guidance, 256))
        return emb + self.text_embedder(pooled)


class FluxTransformer2DModel(nn.Module):
    """diffusers FluxTransformer2DModel (tiny). in_channels stays 64 (16 latent channels packed 2x2)."""

    def __init__(self, in_channels=64, heads=2, head_dim=16, layers=1, single_layers=1, joint_dim=32,
                 pooled_dim=32, axes_dims_rope=(4, 6, 6), guidance=True):
        super().__init__()
        dim = heads * head_dim
        assert sum(axes_dims_rope) == head_dim
        self.pos_embed = FluxPosEmbed(10000, list(axes_dims_rope))
        self.time_text_embed = CombinedTimestepGuidanceTextProjEmbeddings(dim, pooled_dim, guidance)
        self.context_embedder = nn.Linear(joint_dim, dim)
        self.x_embedder = nn.Linear(in_channels, dim)
        self.transformer_blocks = nn.ModuleList([FluxTransformerBlock(dim, heads) for _ in range(layers)])
        self.single_transformer_blocks = nn.ModuleList(
            [FluxSingleTransformerBlock(dim, heads) for _ in range(single_layers)])
        self.norm_out = AdaLayerNormContinuous(dim)
        self.proj_out = nn.Linear(dim, in_channels)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids,
                guidance=None):
        x = self.x_embedder(hidden_states)
        t = timestep.to(x.dtype) * 1000
        g = guidance.to(x.dtype) * 1000 if guidance is not None else None
        temb = self.time_text_embed(t, g, pooled_projections)
        ctx = self.context_embedder(encoder_hidden_states)
        rope = self.pos_embed(torch.cat([txt_ids, img_ids], dim=0))
        for blk in self.transformer_blocks:
            ctx, x = blk(x, ctx, temb, rope)
        x = torch.cat([ctx, x], dim=1)
        for blk in self.single_transformer_blocks:
            x = blk(x, temb, rope)
        x = x[:, ctx.shape[1]:, ...]
        return self.proj_out(self.norm_out(x, temb))
