"""Decoder-only Transformer language model (pre-layer-norm, causal self-attention)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


class _Block(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)
        self.attention_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.attention_dropout if self.training else 0.0)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class TransformerLm(nn.Module):
    """Token + learned position embeddings -> ``layers`` pre-LN blocks (``heads``-head causal
    attention, ReLU feed-forward of width ``d_ff``) -> final layer norm -> logits through the
    tied embedding matrix. Defaults are the Transformer-base sizes (6 layers, d_model 512,
    8 heads, d_ff 2048, dropout 0.1) used for LM1B by Choi et al. (2019) via Tensor2Tensor.
    Input ``(B, T)`` ids with ``T <= max_len``; output ``(B, T, vocab)``."""

    def __init__(
        self, vocab: int, max_len: int = 256, d_model: int = 512, layers: int = 6, heads: int = 8,
        d_ff: int = 2048, dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, heads, d_ff, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.drop(self.tok(x) + self.pos(positions))
        for block in self.blocks:
            h = block(h)
        return F.linear(self.ln(h), self.tok.weight)
