"""What a text-conditioned denoiser reads: ``TextCondition(tokens, padding, pooled)``.

tokens  (B, L, D)  the text encoder's per-token vectors (cross-attention keys/values)
padding (B, L)     bool, True where a position is padding (hidden from attention)
pooled  (B, D)     one vector per prompt (added to the time embedding, or adaLN)

Every text-conditioned denoiser takes ``net(x_t, t, cond)`` with ``cond`` a
``TextCondition`` (or None for the unconditional model), so ``diffusion_loss`` and the
samplers pass it through unchanged, as they pass class labels.
"""
from collections import namedtuple

from ... import functional as F

__all__ = ['TextCondition', 'concat_conditions']

TextCondition = namedtuple('TextCondition', 'tokens padding pooled')


def concat_conditions(a, b):
    """Stack two conditions along the batch (the [unconditional, conditional] pass of
    classifier-free guidance); their token lengths must match."""
    if a.tokens.shape[1:] != b.tokens.shape[1:]:
        raise ValueError(f"concat_conditions: token shapes {a.tokens.shape} and "
                         f"{b.tokens.shape} differ after the batch axis")
    return TextCondition(F.cat([a.tokens, b.tokens], 0), F.cat([a.padding, b.padding], 0),
                         F.cat([a.pooled, b.pooled], 0))
