"""Denoisers ε_θ(x_t, t, y): an MLP for 2-D points and a small U-Net for images
(docs/diffusion.md, "Networks").

Time embedding (shared): e = MLP(sinusoid(t)) [+ E_y], with t the float time in [0, T],
sinusoid = nn.SinusoidalTimeEmbedding, and E_y a learned class vector (row
``num_classes`` is "no label", used for unconditional predictions and guidance).

MLP block:        h <- h + W₂ SiLU(W₁ SiLU(h) + P e)
U-Net res block:  h = Conv(SiLU(GN(x)));  h = h + P SiLU(e);  h = Conv(SiLU(GN(h)));  x' = skip(x) + h
attention block:  x' = x + MHA(GN(x)) over the H·W positions (at the lowest resolution)
cross-attention:  x' = x + MHA(q = GN(x), k = v = c) with c = cond.tokens (B, L, D_c) and
                  the padded tokens hidden; the H·W pixels are the queries, the L words the
                  keys, so each pixel reads a mix of words (with ``context_dim``: at every level
                  and in the middle; cond.pooled is projected and added to e)
U-Net: conv_in; per level ``num_res_blocks`` res blocks (each output kept as a skip),
a stride-2 conv between levels; middle res–attention–res; the mirror image going up,
each res block taking [h, skip] concatenated, nearest 2× upsampling + conv between levels.
"""
import math

from ... import nn
from ... import functional as F
from ...autograd import full
from ...checks import positive_int, int_tuple

__all__ = ['TimeEmbedding', 'MLPDenoiser', 'UNet', 'ResBlock', 'AttentionBlock',
           'CrossAttentionBlock']


class TimeEmbedding(nn.Module):
    """t (B,) [, y (B,) int] -> e (B, dim) = MLP(sinusoid(t)) [+ label embedding]."""

    def __init__(self, freq_dim, dim, num_classes=None):
        super().__init__()
        self.sinusoid = nn.SinusoidalTimeEmbedding(freq_dim)
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.num_classes = num_classes
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, t, y=None):
        e = self.mlp(self.sinusoid(t))
        if self.label is None:
            if y is not None:
                raise ValueError("TimeEmbedding: got labels y but the network was built "
                                 "without num_classes")
            return e
        if y is None:                                  # "no label": the unconditional model
            y = full((t.shape[0],), self.num_classes, dtype='int64', device=t.device)
        if y.shape != (t.shape[0],):
            raise ValueError(f"TimeEmbedding: labels must have shape ({t.shape[0]},), got {y.shape}")
        return e + self.label(y)


def _check_inputs(x, t, shape, who):
    if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise ValueError(f"{who}: expected x of shape (B, {', '.join(map(str, shape))}), "
                         f"got {x.shape}")
    if t.shape != (x.shape[0],):
        raise ValueError(f"{who}: expected times t of shape ({x.shape[0]},), got {t.shape}")


# ----------------------------------------------------------------------------- MLP (2-D)
class MLPBlock(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc1, self.emb, self.fc2 = (nn.Linear(hidden, hidden) for _ in range(3))

    def forward(self, h, e):
        return h + self.fc2(F.silu(self.fc1(F.silu(h)) + self.emb(e)))


class MLPDenoiser(nn.Module):
    """x (B, dim), t (B,) [, y (B,)] -> (B, dim): residual MLP blocks, the time
    embedding added in every block."""

    def __init__(self, dim=2, hidden=128, depth=3, time_dim=64, num_classes=None):
        super().__init__()
        who = 'MLPDenoiser'
        self.dim = positive_int(dim, 'dim', who)
        hidden, depth = positive_int(hidden, 'hidden', who), positive_int(depth, 'depth', who)
        self.embed = TimeEmbedding(positive_int(time_dim, 'time_dim', who), hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList([MLPBlock(hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, dim)

    def forward(self, x, t, y=None):
        _check_inputs(x, t, (self.dim,), 'MLPDenoiser')
        e, h = self.embed(t, y), self.inp(x)
        for block in self.blocks:
            h = block(h, e)
        return self.out(F.silu(h))


# ----------------------------------------------------------------------------- U-Net
def _groups(groups, channels):
    return math.gcd(groups, channels)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups=8):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(groups, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(_groups(groups, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(e)).reshape(e.shape[0], -1, 1, 1)
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads=4, groups=8):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, math.gcd(heads, channels))

    def forward(self, x):
        B, C, H, W = x.shape
        h = F.transpose(self.norm(x).reshape(B, C, H * W), 1, 2)     # (B, HW, C)
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + F.transpose(h, 1, 2).reshape(B, C, H, W)


class CrossAttentionBlock(nn.Module):
    """x (B, C, H, W), cond -> x + MHA(GN(x), cond.tokens, cond.tokens) (B, C, H, W):
    queries from the H·W pixels, keys and values from the L text tokens (width
    ``context_dim``), padded tokens hidden (``key_padding_mask=cond.padding``). The
    attention weights (B, H·W, L), averaged over heads, are kept in ``self.weights`` when
    ``self.keep_weights`` is True (for the per-word attention maps)."""

    def __init__(self, channels, context_dim, heads=4, groups=8):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, math.gcd(heads, channels),
                                          kdim=context_dim, vdim=context_dim)
        self.keep_weights, self.weights = False, None

    def forward(self, x, cond):
        B, C, H, W = x.shape
        tokens, padding = cond.tokens, cond.padding
        if tokens.ndim != 3 or tokens.shape[0] != B or tokens.shape[2] != self.attn.kdim:
            raise ValueError(f"CrossAttentionBlock: expected cond.tokens of shape ({B}, L, "
                             f"{self.attn.kdim}), got {tokens.shape}")
        if padding is not None and tuple(padding.shape) != tuple(tokens.shape[:2]):
            raise ValueError(f"CrossAttentionBlock: cond.padding {padding.shape} must be "
                             f"(B, L) = {tokens.shape[:2]}")
        q = F.transpose(self.norm(x).reshape(B, C, H * W), 1, 2)      # (B, HW, C)
        h, w = self.attn(q, tokens, tokens, key_padding_mask=padding,
                         need_weights=self.keep_weights)
        self.weights = w.detach() if self.keep_weights else None
        return x + F.transpose(h, 1, 2).reshape(B, C, H, W)


class _Level(nn.Module):
    """A res block, then attention when ``attention``, then cross-attention to the text
    when ``context_dim``; keeps a skip (down) or takes one (up)."""

    def __init__(self, cin, cout, emb_dim, groups, heads, attention, context_dim=None):
        super().__init__()
        self.res = ResBlock(cin, cout, emb_dim, groups)
        self.attn = AttentionBlock(cout, heads, groups) if attention else None
        self.cross = CrossAttentionBlock(cout, context_dim, heads, groups) if context_dim else None

    def forward(self, x, e, cond=None):
        h = self.res(x, e)
        h = self.attn(h) if self.attn is not None else h
        return self.cross(h, cond) if self.cross is not None and cond is not None else h


class _Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x, e, cond=None):
        return self.conv(x)


class _Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.up, self.conv = nn.Upsample(scale_factor=2), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, e, cond=None):
        return self.conv(self.up(x))


class UNet(nn.Module):
    """x (B, C, H, W), t (B,) [, y (B,)] -> (B, C, H, W); H and W divisible by
    2^(len(channel_mults) − 1).

    With ``context_dim`` the network is text-conditioned: y is a ``TextCondition``
    (tokens (B, L, context_dim), padding (B, L), pooled (B, context_dim)) or None, every
    level and the middle cross-attend to the tokens, and e gains Linear(pooled)."""

    def __init__(self, in_channels=1, channels=32, channel_mults=(1, 2), num_res_blocks=1,
                 groups=8, heads=4, num_classes=None, context_dim=None):
        super().__init__()
        who = 'UNet'
        if context_dim is not None:
            context_dim = positive_int(context_dim, 'context_dim', who)
            if num_classes:
                raise ValueError(f"{who}: pick one condition, num_classes ({num_classes}) or "
                                 f"context_dim ({context_dim}), not both")
        self.context_dim = context_dim
        self.in_channels = positive_int(in_channels, 'in_channels', who)
        channels = positive_int(channels, 'channels', who)
        mults = int_tuple(channel_mults, 'channel_mults', who)
        nres = positive_int(num_res_blocks, 'num_res_blocks', who)
        self.factor = 2 ** (len(mults) - 1)
        emb = 4 * channels
        self.embed = TimeEmbedding(channels, emb, num_classes)
        self.pooled = nn.Linear(context_dim, emb) if context_dim else None
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)
        widths, c, skips = [channels * m for m in mults], channels, [channels]
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            lowest = i == len(widths) - 1
            for _ in range(nres):
                self.down.append(_Level(c, w, emb, groups, heads, lowest, context_dim))
                c = w
                skips.append(c)
            if not lowest:
                self.down.append(_Down(c))
                skips.append(c)
        self.mid1 = ResBlock(c, c, emb, groups)
        self.mid_attn = AttentionBlock(c, heads, groups)
        self.mid_cross = CrossAttentionBlock(c, context_dim, heads, groups) if context_dim else None
        self.mid2 = ResBlock(c, c, emb, groups)
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            for _ in range(nres + 1):
                self.up.append(_Level(c + skips.pop(), widths[i], emb, groups, heads,
                                      i == len(widths) - 1, context_dim))
                c = widths[i]
            if i > 0:
                self.up.append(_Up(c))
        self.norm_out = nn.GroupNorm(_groups(groups, c), c)
        self.conv_out = nn.Conv2d(c, in_channels, 3, padding=1)

    def forward(self, x, t, y=None):
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % self.factor \
                or x.shape[3] % self.factor:
            raise ValueError(f"UNet: expected x of shape (B, {self.in_channels}, H, W) with H, W "
                             f"divisible by {self.factor}, got {x.shape}")
        _check_inputs(x, t, x.shape[1:], 'UNet')
        cond = None
        if self.context_dim is not None:         # y is a TextCondition (or None)
            cond, y = y, None
            if cond is not None and not hasattr(cond, 'tokens'):
                raise TypeError(f"UNet: built with context_dim={self.context_dim}, so y must be "
                                f"a TextCondition (tokens, padding, pooled), got "
                                f"{type(cond).__name__}")
        e = self.embed(t, y)
        if cond is not None:
            if tuple(cond.pooled.shape) != (x.shape[0], self.context_dim):
                raise ValueError(f"UNet: expected cond.pooled of shape ({x.shape[0]}, "
                                 f"{self.context_dim}), got {cond.pooled.shape}")
            e = e + self.pooled(cond.pooled)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            h = block(h, e, cond)
            hs.append(h)
        h = self.mid_attn(self.mid1(h, e))
        if self.mid_cross is not None and cond is not None:
            h = self.mid_cross(h, cond)
        h = self.mid2(h, e)
        for block in self.up:
            if isinstance(block, _Level):
                h = F.cat([h, hs.pop()], 1)
            h = block(h, e, cond)
        return self.conv_out(F.silu(self.norm_out(h)))

    def cross_attention_blocks(self):
        """The CrossAttentionBlocks in forward order (down levels, middle, up levels)."""
        blocks = [b.cross for b in self.down if isinstance(b, _Level) and b.cross is not None]
        if self.mid_cross is not None:
            blocks.append(self.mid_cross)
        return blocks + [b.cross for b in self.up if isinstance(b, _Level) and b.cross is not None]
