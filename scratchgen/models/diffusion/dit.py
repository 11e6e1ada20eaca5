"""DiT: a transformer denoiser on image (or latent) patches, conditioned by adaLN-Zero
(Peebles & Xie 2023; docs/dit.md).

Objective: the same as every denoiser here (objectives.diffusion_loss), e.g.

    L = E_{t, x_0, ε} ‖ε − DiT(x_t, t, cond)‖²,   x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.

Structure, for x (B, C, H, W), patch p, N = (H/p)(W/p) tokens of width d:

    h = patchify(x) W_in + pos                      (B, N, d)   pos: fixed 2-D sin-cos or learned
    c = TimeEmbedding(t [, y]) + W_pool pooled      (B, d)      the conditioning vector
    for each block (adaLN-Zero):
        (β₁, γ₁, α₁, [β_x, γ_x, α_x,] β₂, γ₂, α₂) = W_ada SiLU(c) + b_ada   (0 at init)
        h = h + α₁ · Attn(LN(h)(1 + γ₁) + β₁)              bidirectional gpt SelfAttention
        h = h + α_x · CrossAttn(LN(h)(1 + γ_x) + β_x, tokens)   optional, padding hidden
        h = h + α₂ · MLP(LN(h)(1 + γ₂) + β₂)               gpt MLP
    out = unpatchify((LN(h)(1 + γ) + β) W_out)      (B, C, H, W)  W_out = 0 at init

LN has no learned scale or shift (the condition supplies them). The gates α start at 0,
so every block is the identity at initialisation and the whole network outputs 0.
"""
import math

from ... import backend, nn
from ... import functional as F
from ...autograd import Tensor
from ...checks import positive_int, int_pair, one_of
from ..gpt import GPTConfig, SelfAttention, MLP
from .conditioning import TextCondition
from .networks import TimeEmbedding

__all__ = ['patchify', 'unpatchify', 'sincos_position_2d', 'AdaLNZeroBlock', 'DiT']


# ----------------------------------------------------------------------------- patches
def patchify(x, patch):
    """(B, C, H, W) -> (B, N, p·p·C), N = (H/p)(W/p) patches in row-major order; each
    token lists its patch's pixels as (row in patch, column in patch, channel)."""
    p = positive_int(patch, 'patch', 'patchify')
    if x.ndim != 4 or x.shape[2] % p or x.shape[3] % p:
        raise ValueError(f"patchify: expected x of shape (B, C, H, W) with H and W divisible "
                         f"by patch {p}, got {x.shape}")
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)   # (B, H/p, W/p, p, p, C)
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify(tokens, patch, channels, size):
    """The inverse of ``patchify``: (B, N, p·p·C) -> (B, C, H, W) with (H, W) = ``size``."""
    who = 'unpatchify'
    p, C = positive_int(patch, 'patch', who), positive_int(channels, 'channels', who)
    H, W = int_pair(size, 'size', who, minimum=1)
    if H % p or W % p:
        raise ValueError(f"{who}: size {(H, W)} is not divisible by patch {p}")
    n = (H // p) * (W // p)
    if tokens.ndim != 3 or tokens.shape[1:] != (n, p * p * C):
        raise ValueError(f"{who}: expected tokens of shape (B, {n}, {p * p * C}) for {C} channels, "
                         f"size {(H, W)} and patch {p}, got {tokens.shape}")
    B = tokens.shape[0]
    x = tokens.reshape(B, H // p, W // p, p, p, C).permute(0, 5, 1, 3, 2, 4)  # (B, C, H/p, p, W/p, p)
    return x.reshape(B, C, H, W)


def sincos_position_2d(dim, grid, device=None, dtype=None):
    """A fixed (N, dim) table for a (gh, gw) grid of patches, row-major like ``patchify``:
    the first dim/2 features are the 1-D sin-cos encoding of the row, the rest of the
    column (each half: sin(pos · f_i), cos(pos · f_i), f_i = 10000^(−i/(dim/4)))."""
    who = 'sincos_position_2d'
    if positive_int(dim, 'dim', who) % 4:
        raise ValueError(f"{who}: dim must be divisible by 4 (sin and cos for rows and "
                         f"columns), got {dim}")
    gh, gw = int_pair(grid, 'grid', who, minimum=1)
    xp = backend.array_module(device)
    dtype = backend.get_default_dtype() if dtype is None else dtype
    quarter = dim // 4
    freqs = xp.exp(-math.log(10000.0) * xp.arange(quarter, dtype=backend.float64) / quarter)
    rows = xp.repeat(xp.arange(gh, dtype=backend.float64), gw)        # (N,) row of each patch
    cols = xp.tile(xp.arange(gw, dtype=backend.float64), gh)          # (N,) column
    parts = []
    for pos in (rows, cols):
        a = pos.reshape(-1, 1) * freqs.reshape(1, -1)
        parts += [xp.sin(a), xp.cos(a)]
    return Tensor(xp.concatenate(parts, axis=1).astype(dtype))


# ----------------------------------------------------------------------------- blocks
def modulate(h, shift, scale):
    """h (B, N, d) · (1 + scale) + shift, with shift and scale (B, d) per example."""
    return h * (1.0 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class AdaLNZeroBlock(nn.Module):
    """One DiT block: self-attention [, cross-attention], MLP, each a residual branch
    whose LayerNorm shift β, scale γ and output gate α are regressed from c (zero at
    init, so the block starts as the identity). x (B, N, d), c (B, d). With
    ``keep_weights`` the cross-attention weights (B, N, L), averaged over heads, are kept
    in ``weights`` (for per-word attention maps, as the U-Net's CrossAttentionBlock)."""

    def __init__(self, config, context_dim=None):
        super().__init__()
        d = config.n_embd
        self.norm1 = nn.LayerNorm(d, eps=1e-6, elementwise_affine=False)
        self.attn = SelfAttention(config, causal=False)
        self.cross = None
        if context_dim is not None:
            self.norm_cross = nn.LayerNorm(d, eps=1e-6, elementwise_affine=False)
            self.cross = nn.MultiheadAttention(d, config.n_head, kdim=context_dim,
                                               vdim=context_dim)
        self.norm2 = nn.LayerNorm(d, eps=1e-6, elementwise_affine=False)
        self.mlp = MLP(config)
        self.n_branches = 3 if self.cross is not None else 2
        self.ada = nn.Linear(d, 3 * self.n_branches * d)     # (β, γ, α) per branch
        self.keep_weights, self.weights = False, None
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, c, tokens=None, padding=None):
        mods = F.chunk(self.ada(F.silu(c)), 3 * self.n_branches, dim=-1)    # each (B, d)
        shift, scale, gate = mods[0:3]
        x = x + gate.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift, scale))
        if self.cross is not None and tokens is not None:
            shift, scale, gate = mods[3:6]
            q = modulate(self.norm_cross(x), shift, scale)
            h, w = self.cross(q, tokens, tokens, key_padding_mask=padding,
                              need_weights=self.keep_weights)
            self.weights = w.detach() if self.keep_weights else None
            x = x + gate.unsqueeze(1) * h
        shift, scale, gate = mods[-3:]
        return x + gate.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift, scale))


class FinalLayer(nn.Module):
    """adaLN (shift, scale from c) and a linear map to p·p·C pixels per token, all zero
    at init."""

    def __init__(self, d, out_features):
        super().__init__()
        self.norm = nn.LayerNorm(d, eps=1e-6, elementwise_affine=False)
        self.ada = nn.Linear(d, 2 * d)
        self.linear = nn.Linear(d, out_features)
        for p in (self.ada.weight, self.ada.bias, self.linear.weight, self.linear.bias):
            nn.init.zeros_(p)

    def forward(self, x, c):
        shift, scale = F.chunk(self.ada(F.silu(c)), 2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


# ----------------------------------------------------------------------------- model
class DiT(nn.Module):
    """x_t (B, in_channels, H, W), t (B,), cond -> (B, in_channels, H, W).

    input_size: H (= W) or (H, W), divisible by ``patch``. width / depth / heads: the
    transformer. context_dim: the text encoder's width D; then ``cond`` may be a
    ``TextCondition`` (pooled (B, D) is projected and added to c; with
    ``cross_attention`` each block also attends to tokens (B, L, D), hiding padding).
    num_classes: ``cond`` may instead be class labels (B,) int (the "no label" row is
    used when cond is None). pos_embed: 'sincos' (fixed) or 'learned'.
    """

    def __init__(self, in_channels, input_size, patch=2, width=64, depth=4, heads=4,
                 context_dim=None, num_classes=None, cross_attention=True, mlp_ratio=4,
                 pos_embed='sincos', time_dim=None):
        super().__init__()
        who = 'DiT'
        self.in_channels = positive_int(in_channels, 'in_channels', who)
        self.input_size = int_pair(input_size, 'input_size', who, minimum=1)
        self.patch = positive_int(patch, 'patch', who)
        H, W = self.input_size
        if H % self.patch or W % self.patch:
            raise ValueError(f"{who}: input_size {self.input_size} must be divisible by patch "
                             f"{self.patch}")
        width, depth = positive_int(width, 'width', who), positive_int(depth, 'depth', who)
        heads = positive_int(heads, 'heads', who)
        if mlp_ratio != 4:
            raise ValueError(f"{who}: mlp_ratio must be 4 (the gpt MLP's C -> 4C -> C), "
                             f"got {mlp_ratio}")
        one_of(pos_embed, ('sincos', 'learned'), 'pos_embed', who)
        self.grid = (H // self.patch, W // self.patch)
        self.num_tokens = self.grid[0] * self.grid[1]
        # the gpt's config, only for the sizes its SelfAttention and MLP read
        self.block_config = GPTConfig(vocab_size=1, block_size=self.num_tokens, n_layer=depth,
                                n_head=heads, n_embd=width)      # checks width % heads
        self.context_dim = None if context_dim is None else positive_int(context_dim,
                                                                         'context_dim', who)
        self.num_classes = num_classes
        patch_dim = self.patch * self.patch * self.in_channels
        self.patch_embed = nn.Linear(patch_dim, width)
        self.learned_pos = (nn.LearnedPositionalEmbedding(self.num_tokens, width)
                            if pos_embed == 'learned' else None)
        self.register_buffer('pos', sincos_position_2d(width, self.grid) if pos_embed == 'sincos'
                             else None, persistent=False)
        self.embed = TimeEmbedding(positive_int(time_dim or width, 'time_dim', who), width,
                                   num_classes)
        self.pool_proj = nn.Linear(self.context_dim, width) if self.context_dim else None
        cross_dim = self.context_dim if (self.context_dim and cross_attention) else None
        self.blocks = nn.ModuleList([AdaLNZeroBlock(self.block_config, cross_dim)
                                     for _ in range(depth)])
        self.final = FinalLayer(width, patch_dim)
        self._init_transformer()

    def _init_transformer(self):
        """As the DiT reference: xavier-uniform Linear weights and zero biases inside the
        blocks and the patch embedding (the adaLN and final layers stay zero)."""
        layers = [self.patch_embed] + [m for blk in self.blocks for m in
                                       (blk.attn.c_attn, blk.attn.c_proj, blk.mlp.c_fc,
                                        blk.mlp.c_proj)]
        for layer in layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def condition(self, t, cond, batch):
        """c (B, width) = TimeEmbedding(t [, labels]) [+ W_pool pooled]; also returns the
        tokens and padding for cross-attention (or None)."""
        who = 'DiT'
        if isinstance(cond, TextCondition):
            if self.pool_proj is None:
                raise ValueError(f"{who}: got a TextCondition but the network was built "
                                 "without context_dim")
            tokens, padding, pooled = cond
            if pooled.shape != (batch, self.context_dim):
                raise ValueError(f"{who}: cond.pooled must have shape ({batch}, "
                                 f"{self.context_dim}), got {pooled.shape}")
            if tokens.ndim != 3 or tokens.shape[0] != batch or tokens.shape[2] != self.context_dim:
                raise ValueError(f"{who}: cond.tokens must have shape ({batch}, L, "
                                 f"{self.context_dim}), got {tokens.shape}")
            if padding is not None:
                if padding.shape != tokens.shape[:2] or padding.dtype.kind != 'b':
                    raise ValueError(f"{who}: cond.padding must be a bool Tensor of shape "
                                     f"{tokens.shape[:2]}, got {padding.dtype} {padding.shape}")
                if bool(padding.data.all(axis=1).any()):
                    raise ValueError(f"{who}: a prompt is all padding, so cross-attention has "
                                     "no key to attend to (encode the empty caption with its "
                                     "start/pool token)")
            return self.embed(t) + self.pool_proj(pooled), tokens, padding
        return self.embed(t, cond), None, None      # class labels (B,) int, or None

    def forward(self, x, t, cond=None):
        if x.ndim != 4 or x.shape[1:] != (self.in_channels,) + self.input_size:
            raise ValueError(f"DiT: expected x of shape (B, {self.in_channels}, "
                             f"{self.input_size[0]}, {self.input_size[1]}), got {x.shape}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"DiT: expected times t of shape ({x.shape[0]},), got {t.shape}")
        c, tokens, padding = self.condition(t, cond, x.shape[0])
        h = self.patch_embed(patchify(x, self.patch))                     # (B, N, width)
        h = self.learned_pos(h) if self.learned_pos is not None else h + self.pos
        for block in self.blocks:
            h = block(h, c, tokens, padding)
        return unpatchify(self.final(h, c), self.patch, self.in_channels, self.input_size)

    def cross_attention_blocks(self):
        """The blocks that attend to the text (each has ``keep_weights`` / ``weights``)."""
        return [b for b in self.blocks if b.cross is not None]

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, input_size={self.input_size}, "
                f"patch={self.patch}, tokens={self.num_tokens}, context_dim={self.context_dim}")
