"""Tiny CLIP-like and T5-like text encoders with transformers' module names.

CLIP-like (CLIPTextModel): text_model.embeddings.{token_embedding,position_embedding},
text_model.encoder.layers.N.{layer_norm1,self_attn.{q,k,v,out}_proj,layer_norm2,mlp.fc1,mlp.fc2},
text_model.final_layer_norm; causal attention, quick-gelu; pooled output = hidden state at the
EOS position (argmax of input_ids, EOS being the highest id).
T5-like (T5EncoderModel): shared, encoder.block.N.layer.0.{SelfAttention.{q,k,v,o},layer_norm},
encoder.block.0.layer.0.SelfAttention.relative_attention_bias, encoder.block.N.layer.1.
{DenseReluDense.{wi_0,wi_1,wo},layer_norm}, encoder.final_layer_norm; RMS norms, no biases,
bidirectional relative position buckets, gated-gelu FFN (T5 v1.1, as FLUX's T5-XXL).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_CONFIG = {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
               "max_position_embeddings": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
               "projection_dim": 128}
T5_CONFIG = {"d_model": 128, "d_kv": 32, "d_ff": 256, "num_layers": 2, "num_heads": 4,
             "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
             "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": 1e-6, "max_length": 32}


# ---------------------------------------------------------------- CLIP
class CLIPAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, l, d = x.shape
        sh = lambda t: t.view(b, l, self.h, d // self.h).transpose(1, 2)
        q, k, v = sh(self.q_proj(x)), sh(self.k_proj(x)), sh(self.v_proj(x))
        a = torch.softmax(q @ k.transpose(-1, -2) * (d // self.h) ** -0.5 + mask, dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, l, d))


class CLIPMLP(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.self_attn = CLIPAttention(d, c["num_attention_heads"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(d, c["intermediate_size"])

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, c, vocab_size):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"])])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c, vocab_size):
        super().__init__()
        self.embeddings = CLIPEmbeddings(c, vocab_size)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class CLIPTextModel(nn.Module):
    def __init__(self, vocab_size, c=CLIP_CONFIG):
        super().__init__()
        self.config = dict(c, vocab_size=vocab_size)
        self.text_model = CLIPTextTransformer(c, vocab_size)

    def forward(self, input_ids):
        """input_ids (B, L) integer -> (last_hidden_state (B, L, D), pooler_output (B, D))"""
        ids = input_ids.long()
        tm = self.text_model
        L = ids.shape[1]
        pos = torch.arange(L, device=ids.device)
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(pos)[None]
        mask = torch.full((L, L), float("-inf"), device=ids.device).triu(1)[None, None]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        x = tm.final_layer_norm(x)
        eos = ids.argmax(dim=-1)
        pooled = x[torch.arange(x.shape[0], device=x.device), eos]
        return x, pooled


# ---------------------------------------------------------------- T5
class T5LayerNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def relative_position_bucket(rel, num_buckets=32, max_distance=128):
    """transformers' T5 bidirectional bucketing (numpy, int64)."""
    nb = num_buckets // 2
    ret = (rel > 0).astype(np.int64) * nb
    n = np.abs(rel)
    max_exact = nb // 2
    is_small = n < max_exact
    with np.errstate(divide="ignore"):
        large = max_exact + (np.log(np.maximum(n, 1) / max_exact) / math.log(max_distance / max_exact)
                             * (nb - max_exact)).astype(np.int64)
    large = np.minimum(large, nb - 1)
    return ret + np.where(is_small, n, large)


class T5Attention(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        d, h, dk = c["d_model"], c["num_heads"], c["d_kv"]
        self.h, self.dk = h, dk
        self.q = nn.Linear(d, h * dk, bias=False)
        self.k = nn.Linear(d, h * dk, bias=False)
        self.v = nn.Linear(d, h * dk, bias=False)
        self.o = nn.Linear(h * dk, d, bias=False)
        nn.init.normal_(self.q.weight, std=(d * dk) ** -0.5)
        nn.init.normal_(self.k.weight, std=d ** -0.5)
        nn.init.normal_(self.v.weight, std=d ** -0.5)
        nn.init.normal_(self.o.weight, std=(h * dk) ** -0.5)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(c["relative_attention_num_buckets"], h)
            L = c["max_length"]
            ctx = np.arange(L)[:, None]
            mem = np.arange(L)[None, :]
            b = relative_position_bucket(mem - ctx, c["relative_attention_num_buckets"],
                                         c["relative_attention_max_distance"])
            self.register_buffer("buckets", torch.from_numpy(b), persistent=False)

    def position_bias(self, L):
        b = self.buckets[:L, :L]
        return self.relative_attention_bias(b).permute(2, 0, 1)[None]     # (1, H, L, L)

    def forward(self, x, bias):
        b, l, _ = x.shape
        sh = lambda t: t.view(b, l, self.h, self.dk).transpose(1, 2)
        q, k, v = sh(self.q(x)), sh(self.k(x)), sh(self.v(x))
        a = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, l, self.h * self.dk))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        self.SelfAttention = T5Attention(c, has_bias)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])


class T5DenseGatedActDense(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, ff = c["d_model"], c["d_ff"]
        self.wi_0 = nn.Linear(d, ff, bias=False)
        self.wi_1 = nn.Linear(d, ff, bias=False)
        self.wo = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.wo(F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x))


class T5LayerFF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(c)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])


class T5Block(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(c, has_bias), T5LayerFF(c)])

    def forward(self, x, bias):
        sa, ff = self.layer
        x = x + sa.SelfAttention(sa.layer_norm(x), bias)
        return x + ff.DenseReluDense(ff.layer_norm(x))


class T5Stack(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.ModuleList([T5Block(c, i == 0) for i in range(c["num_layers"])])
        self.final_layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])


class T5EncoderModel(nn.Module):
    def __init__(self, vocab_size, c=T5_CONFIG):
        super().__init__()
        self.config = dict(c, vocab_size=vocab_size)
        self.shared = nn.Embedding(vocab_size, c["d_model"])
        nn.init.normal_(self.shared.weight, std=1.0)
        self.encoder = T5Stack(c)

    def forward(self, input_ids):
        """input_ids (B, L) -> last_hidden_state (B, L, d_model)"""
        x = self.shared(input_ids.long())
        bias = self.encoder.block[0].layer[0].SelfAttention.position_bias(input_ids.shape[1])
        for blk in self.encoder.block:
            x = blk(x, bias)
        return self.encoder.final_layer_norm(x)
