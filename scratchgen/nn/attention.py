"""Multi-head attention (``MultiheadAttention``) and its key/value cache (``KVCache``).

With embed_dim E split into H heads of D = E / H features, queries of length L and
keys/values of length S (batch B, ``batch_first=True``):

    q = query W_q^T + b_q        (B, L, E) -> heads (B, H, L, D)
    k = key   W_k^T + b_k        (B, S, kdim) -> (B, H, S, D)
    v = value W_v^T + b_v        (B, S, vdim) -> (B, H, S, D)
    A = softmax(q k^T / sqrt(D) + mask)     (B, H, L, S)
    o = A v                      (B, H, L, D) -> concat heads (B, L, E)
    out = o W_o^T + b_o          (B, L, E)

Parameters follow PyTorch's layout, so weights copy over one to one: ``in_proj_weight``
(3E, E) = [W_q; W_k; W_v] when kdim == vdim == E, else ``q_proj_weight`` (E, E),
``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,);
``out_proj`` a Linear(E, E).

Incremental decoding: pass a ``KVCache`` as ``cache=``; each call appends the new
keys/values to it and attends over everything cached. See docs/nn.md.
"""
from . import functional as F
from . import init
from ._utils import new_parameter
from ..checks import positive_int
from .linear import Linear
from .module import Module
from .. import functional as ops

__all__ = ['MultiheadAttention', 'KVCache']


class KVCache:
    """The projected keys and values of the positions seen so far, (B, H, S, D) each.

    ``mha(x_new, x_new, x_new, is_causal=True, cache=cache)`` appends the keys/values of
    ``x_new`` and lets its queries attend to all cached positions; ``len(cache)`` is the
    number of positions cached (the position offset of the next token). One cache per
    attention layer; ``reset()`` empties it for a new sequence.
    """

    def __init__(self):
        self.key = None
        self.value = None

    def __len__(self):
        return 0 if self.key is None else self.key.shape[-2]

    def reset(self):
        self.key = self.value = None

    def update(self, key, value):
        """Append ``key``/``value`` (B, H, S_new, D) and return all cached ones."""
        if self.key is None:
            self.key, self.value = key, value
        else:
            if key.shape[:2] != self.key.shape[:2] or key.shape[3] != self.key.shape[3]:
                raise ValueError(f"KVCache: new keys of shape {key.shape} do not match the "
                                 f"cached ones of shape {self.key.shape} (B, H, S, D)")
            self.key = ops.cat([self.key, key], 2)
            self.value = ops.cat([self.value, value], 2)
        return self.key, self.value

    def __repr__(self):
        shape = None if self.key is None else self.key.shape
        return f"KVCache(length={len(self)}, key shape={shape})"


class MultiheadAttention(Module):
    """Attention with ``num_heads`` heads, as PyTorch's ``nn.MultiheadAttention``
    (but ``batch_first=True`` by default). See the module docstring for the equations.

    Masks follow PyTorch's MultiheadAttention: in a bool ``attn_mask`` or
    ``key_padding_mask`` True means "may NOT attend" (the opposite of
    ``F.scaled_dot_product_attention``); float masks are added to the scores.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, kdim=None, vdim=None,
                 batch_first=True, device=None, dtype=None):
        super().__init__()
        self.embed_dim = positive_int(embed_dim, 'embed_dim', 'MultiheadAttention')
        self.num_heads = positive_int(num_heads, 'num_heads', 'MultiheadAttention')
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible "
                             f"by num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = new_parameter(3 * E, E, device=device, dtype=dtype)
            for name in ('q_proj_weight', 'k_proj_weight', 'v_proj_weight'):
                self.register_parameter(name, None)
        else:
            self.register_parameter('in_proj_weight', None)
            self.q_proj_weight = new_parameter(E, E, device=device, dtype=dtype)
            self.k_proj_weight = new_parameter(E, self.kdim, device=device, dtype=dtype)
            self.v_proj_weight = new_parameter(E, self.vdim, device=device, dtype=dtype)
        if bias:
            self.in_proj_bias = new_parameter(3 * E, device=device, dtype=dtype)
        else:
            self.register_parameter('in_proj_bias', None)
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's init: xavier_uniform projections, zero biases; out_proj.weight keeps
        Linear's default."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query, key, value, self_attention):
        """q, k, v = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v (batch first).
        Self-attention with packed weights does it in one matmul with W = [W_q; W_k; W_v]."""
        E, b = self.embed_dim, self.in_proj_bias
        if self_attention and self._qkv_same_embed_dim:
            return ops.split(F.linear(query, self.in_proj_weight, b), E, -1)
        if self._qkv_same_embed_dim:
            ws = ops.split(self.in_proj_weight, E, 0)
        else:
            ws = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        bs = (None, None, None) if b is None else ops.split(b, E, 0)
        return tuple(F.linear(x, w, bias) for x, w, bias in zip((query, key, value), ws, bs))

    def _split_heads(self, x):
        """(B, T, E) -> (B, H, T, D)."""
        B, T, _ = x.shape
        return x.reshape(B, T, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False, cache=None):
        """query (B, L, E), key (B, S, kdim), value (B, S, vdim) (``batch_first``; (L, B, E)
        otherwise; or unbatched (L, E)) -> ``(out, weights)``.

        out: like query. weights: (B, L, S) averaged over heads, (B, H, L, S) with
        ``average_attn_weights=False``, or None when ``need_weights=False``.
        key_padding_mask (B, S): True (or -inf) hides a key, e.g. padding.
        attn_mask (L, S) or (B*H, L, S): True (or -inf) stops a query seeing a key.
        is_causal: query i sees keys up to its own position; with a cache the queries
        are the last L of S positions, so query i sees keys j <= S - L + i.
        cache: a ``KVCache``; S then counts the cached positions too.
        """
        who = 'MultiheadAttention'
        self_attention = query is key and key is value
        unbatched = query.ndim == 2
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{who}: query, key and value must all be 3-d (batched) or 2-d "
                             f"(unbatched), got shapes {query.shape}, {key.shape}, {value.shape}")
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.reshape((1,) + tuple(key_padding_mask.shape))
        elif not self.batch_first:
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        B, L, Eq = query.shape
        if Eq != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{who}: feature sizes of query {query.shape}, key {key.shape}, value "
                             f"{value.shape} (batch first) should be {self.embed_dim}, "
                             f"{self.kdim}, {self.vdim}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != B:
            raise ValueError(f"{who}: key {key.shape} and value {value.shape} (batch first) need "
                             f"the same batch and length, and batch {B} like the query")

        q, k, v = (self._split_heads(t) for t in self._project(query, key, value, self_attention))
        # q (B, H, L, D); k, v (B, H, S_new, D)
        if cache is not None:
            k, v = cache.update(k, v)                       # (B, H, S, D), S = past + new
        S = k.shape[2]

        mask = self._merge_masks(attn_mask, key_padding_mask, q, B, L, S)
        p = self.dropout if self.training else 0.0
        causal = S - L if is_causal and L > 1 else None    # a single (newest) query sees all
        out, weights = F.attention(q, k, v, mask, p, causal_offset=causal)  # (B,H,L,D), (B,H,L,S)
        out = out.permute(0, 2, 1, 3).reshape(B, L, self.embed_dim)
        out = self.out_proj(out)

        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)                 # (B, L, S)
        return out, (weights.squeeze(0) if unbatched else weights)

    def _merge_masks(self, attn_mask, key_padding_mask, q, B, L, S):
        """One additive mask broadcastable to (B, H, L, S), or None."""
        who = 'MultiheadAttention'
        mask = None
        if attn_mask is not None:
            m = F.additive_mask(attn_mask, q, who, true_means='mask')
            if m.shape == (L, S):
                mask = m
            elif m.shape == (B * self.num_heads, L, S):
                mask = m.reshape(B, self.num_heads, L, S)
            else:
                raise ValueError(f"{who}: attn_mask of shape {m.shape} should be ({L}, {S}) or "
                                 f"({B * self.num_heads}, {L}, {S}) (B*H, L, S)")
        if key_padding_mask is not None:
            m = F.additive_mask(key_padding_mask, q, who, true_means='mask')
            if m.shape != (B, S):
                raise ValueError(f"{who}: key_padding_mask of shape {m.shape} should be "
                                 f"({B}, {S}) (B, S)")
            m = m.reshape(B, 1, 1, S)
            mask = m if mask is None else mask + m
        return mask

    def extra_repr(self):
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if not self.batch_first:
            s += ", batch_first=False"
        return s
