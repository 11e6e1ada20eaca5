"""A tiny GPT: a decoder-only transformer trained to predict the next token.

Objective. For a sequence of token ids x_1 .. x_T the model outputs, at every position
t, a distribution p_theta(x_{t+1} | x_1 .. x_t) over the vocabulary (the causal mask
keeps position t from seeing later tokens), and training minimises the average
next-token cross-entropy (negative log-likelihood, in nats per token):

    L(theta) = -1/T sum_{t=1}^{T} log p_theta(x_{t+1} | x_{<=t})

which is the negative log-likelihood of the sequence, p(x) = prod_t p(x_{t+1} | x_{<=t}),
divided by its length. Generation samples one token at a time from that distribution.

Structure (shapes for a batch of B sequences of T tokens, C = n_embd, H heads of
D = C / H features):

    h = wte[idx] + wpe[0..T-1]                      (B, T, C) token + position
    for each of n_layer blocks (pre-LayerNorm, residual):
        h = h + Attention(LN(h))                    causal multi-head self-attention
        h = h + MLP(LN(h))                          C -> 4C -> GELU -> C
    logits = LN(h) wte^T                            (B, T, vocab) -- weights tied

Attention, step by step, the shapes and the code: docs/transformer.md.
"""
import math
from dataclasses import dataclass

from .. import backend, checks
from .. import functional as F
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..nn import functional as nnF

__all__ = ['GPTConfig', 'GPT', 'SelfAttention', 'CausalSelfAttention', 'MLP', 'Block']


# ----------------------------------------------------------------------------- config
@dataclass
class GPTConfig:
    """Sizes of a GPT. ``block_size`` is the longest context the model can see;
    ``positional`` is 'learned' (a trained table, as GPT-2) or 'sinusoidal' (fixed)."""
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    positional: str = 'learned'

    def __post_init__(self):
        for name in ('vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd'):
            setattr(self, name, checks.positive_int(getattr(self, name), name, 'GPTConfig'))
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head "
                             f"({self.n_head}) so that every head gets n_embd / n_head features")
        self.dropout = checks.number(self.dropout, 'dropout', 'GPTConfig', low=0, high=1,
                                     high_open=True)
        checks.one_of(self.positional, ('learned', 'sinusoidal'), 'positional', 'GPTConfig')


# ----------------------------------------------------------------------------- layers
class SelfAttention(nn.Module):
    """Multi-head self-attention; with ``causal`` (the GPT) position t attends only to
    positions <= t, without it (a text encoder, the DiT) every position sees every other.

    One matmul projects x (B, T, C) to queries, keys and values for all heads at once;
    each head h computes softmax(q_h k_h^T / sqrt(D) + mask) v_h; the heads' outputs
    are concatenated and mixed by ``c_proj``.
    """

    def __init__(self, config, causal=True):
        super().__init__()
        C = config.n_embd
        self.causal = bool(causal)
        self.n_head, self.head_dim = config.n_head, C // config.n_head
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)      # [W_q; W_k; W_v]
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache=None, weights_out=None, key_padding_mask=None):
        """x (B, T, C) -> (B, T, C). ``cache``: an ``nn.KVCache`` holding the keys and
        values of earlier positions (extended here). ``weights_out``: a list to which
        the attention weights (B, H, T, S) are appended. ``key_padding_mask`` (B, S)
        bool: True hides that key (padding), as in ``nn.MultiheadAttention``."""
        B, T, C = x.shape
        H, D = self.n_head, self.head_dim
        qkv = self.c_attn(x)                                     # (B, T, 3C)
        # (B, T, 3, H, D) -> (3, B, H, T, D), copied once into one block so that each
        # head's q, k and v are plain contiguous matrices for the batched matmuls
        qkv = qkv.reshape(B, T, 3, H, D).permute(2, 0, 3, 1, 4).contiguous()
        q, k, v = qkv[0], qkv[1], qkv[2]                         # (B, H, T, D) each
        if cache is not None:
            k, v = cache.update(k, v)                            # (B, H, S, D), S = past + T
        S = k.shape[2]

        mask = None
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (B, S):
                raise ValueError(f"SelfAttention: key_padding_mask of shape "
                                 f"{tuple(key_padding_mask.shape)} should be ({B}, {S}) (B, S)")
            mask = nnF.additive_mask(key_padding_mask, q, 'SelfAttention',
                                     true_means='mask').reshape(B, 1, 1, S)
        # softmax(q k^T / sqrt(D) + mask) v as one op (ops/attention.py); the causal
        # triangle lets query t see keys <= S - T + t (one new token sees every cached one)
        causal = S - T if self.causal and T > 1 else None
        y, att = nnF.attention(q, k, v, mask, 0.0, 1.0 / math.sqrt(D), causal)
        if weights_out is not None:
            weights_out.append(att.detach())                     # (B, H, T, S)
        if self.training and self.attn_dropout.p > 0:            # dropout on the weights
            y = self.attn_dropout(att) @ v                       # (the op's own y unused)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)               # concatenate the heads
        return self.resid_dropout(self.c_proj(y))


class CausalSelfAttention(SelfAttention):
    """The GPT's attention: ``SelfAttention`` with the causal mask."""

    def __init__(self, config):
        super().__init__(config, causal=True)


class MLP(nn.Module):
    """Position-wise feed-forward: C -> 4C -> GELU (tanh form, as GPT-2) -> C."""

    def __init__(self, config):
        super().__init__()
        C = config.n_embd
        self.c_fc = nn.Linear(C, 4 * C, bias=config.bias)
        self.c_proj = nn.Linear(4 * C, C, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate='tanh')))


class Block(nn.Module):
    """A pre-LayerNorm transformer block: x + attn(LN(x)), then x + mlp(LN(x)).
    ``causal=False`` gives the bidirectional block of a text encoder or a DiT."""

    def __init__(self, config, causal=True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = SelfAttention(config, causal=causal)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, weights_out=None, key_padding_mask=None):
        x = x + self.attn(self.ln_1(x), cache, weights_out, key_padding_mask)
        return x + self.mlp(self.ln_2(x))


# ----------------------------------------------------------------------------- model
# ----------------------------------------------------------------------------- shared by language models
# (the character LSTM of models/rnn_lm.py uses these too)
def next_token_loss(logits, targets, who):
    """Mean cross-entropy of logits (B, T, V) against next-token targets (B, T);
    target -1 is ignored."""
    B, T, V = logits.shape
    if not isinstance(targets, Tensor) or targets.shape != (B, T):
        shape = targets.shape if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"{who}: targets must be a ({B}, {T}) integer Tensor like idx, "
                         f"got {shape}")
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=-1)


def adamw_decay_matrices(model, weight_decay, learning_rate, betas, eps):
    """AdamW with weight decay on the matrices (Linear weights, embeddings) only;
    biases and LayerNorm parameters are not decayed (shrinking a scale or an offset
    towards zero is not a useful prior)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{'params': decay, 'weight_decay': weight_decay},
              {'params': no_decay, 'weight_decay': 0.0}]
    return optim.AdamW([g for g in groups if g['params']], lr=learning_rate, betas=betas,
                       eps=eps)


def check_generate_args(idx, max_new_tokens, temperature, greedy, who):
    if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype.kind not in 'iu':
        raise ValueError(f"{who}: idx must be a (B, T) integer Tensor, got "
                         f"{getattr(idx, 'shape', type(idx).__name__)}")
    checks.nonnegative_int(max_new_tokens, 'max_new_tokens', who)
    if not greedy and not temperature > 0:
        raise ValueError(f"{who}: temperature must be > 0, got {temperature!r} "
                         "(use greedy=True for the most likely token)")


def pick_next_token(logits, temperature, top_k=None, greedy=False):
    """Next token ids (B, 1) from last-position logits (B, V), on their device."""
    xp = backend.xp_of(logits)
    if greedy:
        return xp.argmax(logits, axis=-1).reshape(-1, 1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = xp.partition(logits, -top_k, axis=-1)[:, -top_k, None]   # k-th largest
        logits = xp.where(logits < kth, -math.inf, logits)
    p = xp.exp(logits - logits.max(axis=-1, keepdims=True))   # softmax, unnormalised
    return backend.sample_categorical(p).reshape(-1, 1)


class GPT(nn.Module):
    """The GPT of the module docstring. ``forward(idx, targets=None) -> (logits, loss)``."""

    def __init__(self, config, device=None, dtype=None):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: expected a GPTConfig, got {type(config).__name__}")
        self.config = config
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        if config.positional == 'learned':
            self.wpe = nn.LearnedPositionalEmbedding(config.block_size, C)
        else:
            self.wpe = nn.SinusoidalPositionalEncoding(C, max_len=config.block_size)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.reset_parameters()
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def reset_parameters(self):
        """GPT-2's initialisation: weights N(0, 0.02^2), biases 0, LayerNorms (1, 0);
        the projections that write into the residual stream (each block's two
        ``c_proj``) get std 0.02 / sqrt(2 n_layer), so the sum of the 2 n_layer residual
        branches starts with about the variance of one."""
        proj_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith('c_proj.weight'):
                nn.init.normal_(p, 0.0, proj_std)
            elif name.endswith('.bias'):
                nn.init.zeros_(p)
            elif p.ndim == 2:                         # Linear weights, both embeddings
                nn.init.normal_(p, 0.0, 0.02)
            # LayerNorm weights keep their ones
        return self

    def num_parameters(self, non_embedding=True):
        """Number of trained numbers; without the position table by default (the token
        table counts: it is also the output layer)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.config.positional == 'learned':
            n -= self.wpe.weight.numel()
        return n

    def new_cache(self):
        """One empty key/value cache per layer, for ``forward(..., kv_cache=...)``."""
        return [nn.KVCache() for _ in self.blocks]

    def forward(self, idx, targets=None, kv_cache=None, attention_weights=None):
        """idx (B, T) int token ids -> ``(logits (B, T, vocab), loss)``.

        targets (B, T) int: the next token at each position (``idx`` shifted by one);
        positions whose target is -1 are left out of the mean. loss is None without
        targets. kv_cache: the list from ``new_cache()``; idx then continues the cached
        sequence (positions start at the cache length). attention_weights: a list that
        receives each layer's attention weights (B, H, T, S).
        """
        x = self.hidden_states(idx, kv_cache, attention_weights)
        logits = nnF.linear(x, self.wte.weight)              # tied: (B, T, C) @ (C, vocab)
        loss = None if targets is None else next_token_loss(logits, targets, 'GPT.forward')
        return logits, loss

    def hidden_states(self, idx, kv_cache=None, attention_weights=None):
        """The final features LN(h) (B, T, C) that the tied output layer turns into
        logits; other heads (a reward model's scalar, models/rlhf.py) read them too.
        Arguments as ``forward``."""
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype.kind not in 'iu':
            got = f"shape {idx.shape}, dtype {idx.dtype}" if isinstance(idx, Tensor) \
                else type(idx).__name__
            raise ValueError(f"GPT.forward: idx must be a (B, T) integer Tensor, got {got}")
        B, T = idx.shape
        offset = len(kv_cache[0]) if kv_cache is not None else 0
        if offset + T > self.config.block_size:
            where = f" after {offset} cached positions" if offset else ''
            raise ValueError(f"GPT.forward: a sequence of length {T}{where} is longer than "
                             f"block_size {self.config.block_size}; crop the context to the "
                             f"last {self.config.block_size} tokens")
        if kv_cache is not None and len(kv_cache) != len(self.blocks):
            raise ValueError(f"GPT.forward: kv_cache has {len(kv_cache)} entries for "
                             f"{len(self.blocks)} layers; use model.new_cache()")

        tok_emb = self.wte(idx)                              # (B, T, C) token embeddings
        pos_emb = self.wpe.encoding(T, offset)               # (T, C) positions offset..
        x = self.drop(tok_emb + pos_emb)                     # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, None if kv_cache is None else kv_cache[i], attention_weights)
        return self.ln_f(x)

    # ------------------------------------------------------------------ training helpers
    def configure_optimizers(self, weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.95),
                             eps=1e-8):
        """AdamW with weight decay on the matrices (Linear weights, embeddings) only;
        biases and LayerNorm parameters are not decayed (shrinking a scale or an offset
        towards zero is not a useful prior)."""
        return adamw_decay_matrices(self, weight_decay, learning_rate, betas, eps)

    @no_grad()
    def attention_maps(self, idx):
        """The attention weights of every layer for one input: a list of n_layer
        Tensors (B, H, T, T) (row t: how much position t attends to each position)."""
        weights = []
        with nn.evaluating(self):
            self(idx, attention_weights=weights)
        return weights

    # ------------------------------------------------------------------ generation
    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, greedy=False,
                 use_cache=True):
        """Continue each row of idx (B, T) by ``max_new_tokens`` tokens; returns
        (B, T + max_new_tokens).

        Each new token is drawn from softmax(logits / temperature), restricted to the
        ``top_k`` most likely tokens when given, or is the most likely one when
        ``greedy``. With ``use_cache`` the prompt is run once (prefill) and every later
        step feeds only the newest token, reusing the keys and values cached per
        layer; the result equals running the whole context each step. Once the
        sequence is longer than block_size the context is cropped to the last
        block_size tokens, whose positions then all shift by one each step, so cached
        keys no longer apply and the window is recomputed.
        """
        check_generate_args(idx, max_new_tokens, temperature, greedy, 'GPT.generate')
        if top_k is not None:
            checks.positive_int(top_k, 'top_k', 'GPT.generate')
        with nn.evaluating(self):
            return self._generate(idx, max_new_tokens, temperature, top_k, greedy, use_cache)

    def _generate(self, idx, max_new_tokens, temperature, top_k, greedy, use_cache):
        block = self.config.block_size
        xp = idx.xp
        tokens = idx.data
        cache, fed = None, None            # fed: how many tokens the cache holds
        for _ in range(max_new_tokens):
            n = tokens.shape[1]
            if use_cache and n <= block:
                if cache is None:           # prefill with the whole prompt
                    cache, fed = self.new_cache(), 0
                logits, _ = self(Tensor(tokens[:, fed:]), kv_cache=cache)
                fed = n
            else:
                logits, _ = self(Tensor(tokens[:, -block:]))
            nxt = self._pick(logits.data[:, -1, :], temperature, top_k, greedy)
            tokens = xp.concatenate([tokens, nxt.astype(tokens.dtype)], axis=1)
        return Tensor(tokens)

    _pick = staticmethod(pick_next_token)

