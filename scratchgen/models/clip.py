"""A CLIP-style contrastive text-image model: a word-level transformer text encoder and a
small conv image encoder trained so that matching captions and images point the same
way in a shared space.

Objective. For a batch of B (image, caption) pairs whose captions are all different,
the encoders give unit vectors u_i = f(image_i) and v_j = g(caption_j) in R^E, and a
learned temperature tau = exp(-s) turns their cosine similarities into logits

    z_ij = exp(s) * <u_i, v_j>                                (B, B)

The symmetric InfoNCE loss asks each image to pick its caption among the B captions,
and each caption to pick its image among the B images:

    L = 1/2 [ -1/B sum_i log softmax_j(z_ij)[i]  -  1/B sum_j log softmax_i(z_ij)[j] ]
      = 1/2 [ CE(z, diag) + CE(z^T, diag) ]                   (``clip_loss``)

Zero-shot classification compares an image with every caption (``CLIP.zero_shot``):
the predicted caption is argmax_j <u, v_j>.

Structure (shapes for B captions of L tokens, D = text width, E = joint dimension):

    TextEncoder   ids (B, L) -> wte[ids] + wpe[0..L-1]            (B, L, D)
                  n_layer x gpt.Block(causal=False) with key_padding_mask
                  LayerNorm -> tokens (B, L, D) (zero at padding); pooled = tokens[:, 0]
                  (the <cls> token every caption starts with, data/captions.py)
    ImageEncoder  images (B, 3, H, W) -> conv 3x3 -> [conv 3x3 stride 2] x k; the last map
                  flattened and every map's spatial mean -> Linear -> ReLU -> Linear (B, E)
    CLIP          u = normalise(ImageEncoder(x)), v = normalise(pooled W_text)

The maths, how the code maps onto it, and the measured results: docs/clip.md.
"""
import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np          # host side only: batching, embeddings returned to the caller

from .. import backend, checks, io, nn, optim
from .. import functional as F
from ..autograd import Tensor, full, no_grad, tensor
from ..autograd.creation import host_array
from ..data.captions import VOCAB, CONTEXT, CAPTION_SETS, encode_captions
from .gpt import GPTConfig, Block
from .diffusion.conditioning import TextCondition

__all__ = ['CLIPConfig', 'TextEncoder', 'ImageEncoder', 'CLIP', 'clip_loss', 'l2_normalize',
           'train_clip', 'save_clip', 'load_clip']


# ----------------------------------------------------------------------------- config
@dataclass
class CLIPConfig:
    """Sizes of a CLIP. ``context``: tokens per caption (<cls> + words); ``width``:
    the text encoder's D; ``channels``: the image encoder's conv widths (each after
    the first halves H and W); ``embed_dim``: E, the joint space; ``temperature``:
    tau at initialisation (learned afterwards, capped at 1 / ``min_temperature``);
    ``captions``: the caption set whose vocabulary the text encoder reads, 'shapes' or
    'avatars' (``sg.data.captions.CAPTION_SETS``; ``CLIPConfig.for_captions`` sets
    vocab_size and context from it)."""
    vocab_size: int = len(VOCAB)
    context: int = CONTEXT
    width: int = 64
    n_layer: int = 2
    n_head: int = 4
    image_channels: int = 3
    image_size: int = 16
    channels: tuple = (32, 64, 64)
    embed_dim: int = 64
    temperature: float = 0.07
    min_temperature: float = 0.01
    captions: str = 'shapes'

    @classmethod
    def for_captions(cls, captions, **kwargs):
        """A config whose vocab_size and context fit the caption set ``captions``."""
        s = CAPTION_SETS[checks.one_of(captions, tuple(CAPTION_SETS), 'captions',
                                       'CLIPConfig.for_captions')]
        return cls(vocab_size=len(s.vocab), context=s.context, captions=captions, **kwargs)

    def __post_init__(self):
        who = 'CLIPConfig'
        for name in ('vocab_size', 'context', 'width', 'n_layer', 'n_head', 'image_channels',
                     'image_size', 'embed_dim'):
            setattr(self, name, checks.positive_int(getattr(self, name), name, who))
        checks.one_of(self.captions, tuple(CAPTION_SETS), 'captions', who)
        if self.vocab_size < len(CAPTION_SETS[self.captions].vocab):
            raise ValueError(f"{who}: vocab_size {self.vocab_size} is smaller than the "
                             f"{len(CAPTION_SETS[self.captions].vocab)} words of the "
                             f"{self.captions!r} captions")
        self.channels = checks.int_tuple(self.channels, 'channels', who)
        self.temperature = checks.number(self.temperature, 'temperature', who, low=0,
                                         low_open=True)
        self.min_temperature = checks.number(self.min_temperature, 'min_temperature', who,
                                             low=0, high=self.temperature, low_open=True)
        if self.width % self.n_head:
            raise ValueError(f"CLIPConfig: width ({self.width}) must be divisible by n_head "
                             f"({self.n_head})")


# ----------------------------------------------------------------------------- encoders
class TextEncoder(nn.Module):
    """Token ids -> per-token vectors and one pooled vector per caption.

    ``TextEncoder(vocab_size=len(VOCAB), context=CONTEXT, width=64, n_layer=2,
    n_head=4)``; ``forward(ids, padding) -> (tokens (B, L, D), pooled (B, D))`` with
    ids (B, L) int and padding (B, L) bool (True = padding; NumPy arrays or Tensors).
    Padding is hidden from attention and its output tokens are zero, so changing the
    ids at padded positions changes nothing. ``pooled`` is the output at position 0,
    the <cls> token. ``encode(captions)`` does the tokenising too and returns a
    ``TextCondition`` for a text-conditioned denoiser. ``width`` is D.
    """

    def __init__(self, vocab_size=len(VOCAB), context=CONTEXT, width=64, n_layer=2, n_head=4,
                 dropout=0.0, vocab=VOCAB):
        super().__init__()
        self.vocab = tuple(vocab)                         # the words ``encode`` reads
        self.config = GPTConfig(vocab_size=vocab_size, block_size=context, n_layer=n_layer,
                                n_head=n_head, n_embd=width, dropout=dropout)
        self.context, self.width = self.config.block_size, self.config.n_embd
        self.wte = nn.Embedding(vocab_size, width)
        self.wpe = nn.LearnedPositionalEmbedding(context, width)
        self.blocks = nn.ModuleList([Block(self.config, causal=False) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(width)
        for name, p in self.named_parameters():          # GPT-2's initialisation
            if name.endswith('c_proj.weight'):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif name.endswith('.bias'):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def _inputs(self, ids, padding):
        who = 'TextEncoder.forward'
        device = self.wte.weight.device
        ids = ids if isinstance(ids, Tensor) else tensor(ids, device=device)
        padding = padding if isinstance(padding, Tensor) else \
            tensor(padding, device=device)
        if ids.ndim != 2 or ids.dtype.kind not in 'iu':
            raise ValueError(f"{who}: ids must be a (B, L) integer array, got shape "
                             f"{ids.shape}, dtype {ids.dtype}")
        if padding.shape != ids.shape or padding.dtype.kind != 'b':
            raise ValueError(f"{who}: padding must be a bool array of the ids' shape "
                             f"{ids.shape}, got shape {padding.shape}, dtype {padding.dtype}")
        if ids.shape[1] > self.context:
            raise ValueError(f"{who}: {ids.shape[1]} tokens per caption is more than the "
                             f"context {self.context}")
        if ids.shape[0] and bool(backend.to_host(padding.data[:, 0]).any()):
            raise ValueError(f"{who}: position 0 (the <cls> token) is padding in some row; "
                             f"every caption must start with <cls> (use encode_captions)")
        return ids, padding

    def forward(self, ids, padding):
        ids, padding = self._inputs(ids, padding)
        L = ids.shape[1]
        x = self.wte(ids) + self.wpe.encoding(L)                      # (B, L, D)
        for block in self.blocks:
            x = block(x, key_padding_mask=padding)
        keep = Tensor((~padding.data).astype(x.dtype))                # (B, L) 1 = a word
        tokens = self.ln_f(x) * keep.reshape(keep.shape[0], L, 1)     # zero at padding
        return tokens, tokens[:, 0]

    def encode(self, captions):
        """Caption strings -> ``TextCondition(tokens, padding, pooled)`` on this
        encoder's device (padding a bool Tensor)."""
        ids, padding = encode_captions(captions, self.context, self.vocab)
        device = self.wte.weight.device
        ids, padding = tensor(ids, device=device), tensor(padding, device=device)
        tokens, pooled = self(ids, padding)
        return TextCondition(tokens, padding, pooled)


class ImageEncoder(nn.Module):
    """Images (B, C, H, W) -> (B, out_dim): a 3x3 conv, then a stride-2 3x3 conv for each
    further entry of ``channels`` (each halves H and W), ReLUs between; the flattened
    last feature map and the spatial mean of every layer's map (how much of each
    feature the image holds: its ink, hence its size) go through a two-layer MLP."""

    def __init__(self, in_channels=3, image_size=16, channels=(32, 64, 64), out_dim=64,
                 hidden=128):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        convs, c, h = [], in_channels, image_size
        for i, width in enumerate(channels):
            stride = 1 if i == 0 else 2
            convs.append(nn.Conv2d(c, width, 3, stride=stride, padding=1))
            c, h = width, (h - 1) // stride + 1
        self.convs = nn.ModuleList(convs)
        self.fc = nn.Linear(c * h * h + sum(channels), hidden)
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_channels, self.image_size,
                                                 self.image_size):
            raise ValueError(f"ImageEncoder: images must have shape (B, {self.in_channels}, "
                             f"{self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        means = []
        for conv in self.convs:
            x = F.relu(conv(x))
            means.append(x.mean(axis=(2, 3)))                  # (B, channels) per layer
        h = F.cat([x.reshape(x.shape[0], -1)] + means, axis=1)
        return self.head(F.relu(self.fc(h)))


# ----------------------------------------------------------------------------- objective
def l2_normalize(x, eps=1e-8):
    """Each row of x (B, E) divided by its Euclidean norm."""
    return x * F.rsqrt((x * x).sum(axis=-1, keepdims=True) + eps)


def clip_loss(logits):
    """Symmetric InfoNCE of a (B, B) logit matrix whose diagonal holds the matching
    pairs: 1/2 [CE(rows, diag) + CE(columns, diag)] (module docstring)."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or logits.shape[0] < 1:
        raise ValueError(f"clip_loss: logits must be a square (B, B) matrix of image-caption "
                         f"scores, got shape {tuple(logits.shape)}")
    target = Tensor(logits.xp.arange(logits.shape[0]))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.mT, target))


class CLIP(nn.Module):
    """Text and image encoders, a projection of the text into the joint space and the
    learned log inverse temperature ``logit_scale`` = s (tau = exp(-s))."""

    def __init__(self, config=None, device=None, dtype=None):
        super().__init__()
        config = CLIPConfig() if config is None else config
        if not isinstance(config, CLIPConfig):
            raise TypeError(f"CLIP: expected a CLIPConfig, got {type(config).__name__}")
        self.config = c = config
        self.text = TextEncoder(c.vocab_size, c.context, c.width, c.n_layer, c.n_head,
                                vocab=CAPTION_SETS[c.captions].vocab)
        self.text_proj = nn.Linear(c.width, c.embed_dim, bias=False)
        self.image = ImageEncoder(c.image_channels, c.image_size, c.channels, c.embed_dim)
        # shape (1,), not 0-d: clamp's backward builds its mask with NumPy, which turns a
        # 0-d comparison into a scalar that the engine rejects
        self.logit_scale = nn.Parameter(full((1,), math.log(1.0 / c.temperature)))
        if device is not None or dtype is not None:
            self.to(device, dtype)

    @property
    def device(self):
        return self.logit_scale.device

    def encode_text(self, ids, padding):
        """ids, padding (B, L) -> unit vectors v (B, E)."""
        return l2_normalize(self.text_proj(self.text(ids, padding)[1]))

    def encode_image(self, images):
        """images (B, C, H, W) -> unit vectors u (B, E)."""
        return l2_normalize(self.image(images))

    def scale(self):
        """exp(s) = 1 / tau, capped at 1 / min_temperature (the cap stops the gradient)."""
        return F.exp(F.clamp(self.logit_scale, max=math.log(1.0 / self.config.min_temperature)))

    def logits(self, images, ids, padding):
        """(B images, B captions) -> z (B, B) = exp(s) u v^T."""
        return self.scale() * (self.encode_image(images) @ self.encode_text(ids, padding).mT)

    def loss(self, images, ids, padding):
        """Symmetric InfoNCE of a batch of matching pairs (captions all different)."""
        return clip_loss(self.logits(images, ids, padding))

    def embed_captions(self, captions, batch_size=512):
        """Caption strings -> host float64 (N, E) unit vectors (no gradient)."""
        ids, padding = encode_captions(list(captions), self.config.context, self.text.vocab)
        with no_grad(), nn.evaluating(self):
            out = [self.encode_text(tensor(ids[i:i + batch_size], device=self.device),
                                    tensor(padding[i:i + batch_size], device=self.device)).numpy()
                   for i in range(0, len(ids), batch_size)]
        return np.concatenate(out).astype(np.float64)

    def embed_images(self, images, batch_size=512):
        """Images (N, C, H, W) -> host float64 (N, E) unit vectors (no gradient)."""
        x = host_array(images, np.float32, 'CLIP.embed_images')
        with no_grad(), nn.evaluating(self):
            out = [self.encode_image(tensor(x[i:i + batch_size], device=self.device)).numpy()
                   for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float64)

    def similarity(self, images, captions):
        """Cosine similarities (N images, M captions), host float64."""
        return self.embed_images(images) @ self.embed_captions(captions).T

    def zero_shot(self, images, captions=None):
        """Zero-shot classification: for each image the index of the most similar caption
        among ``captions`` (default all of the caption set: the 63 shapes captions) ->
        int64 (N,)."""
        if captions is None:
            captions = CAPTION_SETS[self.config.captions].all_captions
        return self.similarity(images, captions).argmax(1)


# ----------------------------------------------------------------------------- training
def train_clip(model, images, captions, steps=3000, batch_size=256, lr=2e-3, weight_decay=0.05,
               seed=0, cpu_budget=None, progress=None):
    """Train ``model`` (a CLIP) on (images (N, C, H, W) host array, captions list of N
    strings) with AdamW and a warmup-cosine schedule. Returns the history: a dict with
    'loss' and 'temperature' (one value per step taken) and 'cpu_seconds'.

    Each step draws ``batch_size`` pairs at random and keeps one pair per distinct
    caption (two images of "small red circle" in one batch would be false negatives of
    each other). ``cpu_budget``: stop early after that many seconds of process CPU time.
    ``progress(step, loss=..., tau=...)`` is called every step (a demo's ``Progress``).
    """
    who = 'train_clip'
    x = host_array(images, np.float32, who)
    captions = list(captions)
    if x.ndim != 4 or len(x) != len(captions) or len(x) < 2:
        raise ValueError(f"{who}: need images (N, C, H, W) and N captions, N >= 2; got images "
                         f"of shape {x.shape} and {len(captions)} captions")
    steps = checks.positive_int(steps, 'steps', who)
    ids, padding = encode_captions(captions, model.config.context, model.text.vocab)
    caption_id = np.unique(np.array(captions), return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = optim.AdamW([{'params': decay, 'weight_decay': weight_decay},
                       {'params': rest, 'weight_decay': 0.0}], lr=lr)
    sched = optim.warmup_cosine(opt, max(1, steps // 20), steps)
    t0, losses, taus = time.process_time(), [], []
    for step in range(1, steps + 1):
        pick = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        pick = pick[np.unique(caption_id[pick], return_index=True)[1]]    # one per caption
        dev = model.device
        loss = model.loss(tensor(x[pick], device=dev), tensor(ids[pick], device=dev),
                          tensor(padding[pick], device=dev))
        losses.append(optim.train_step(loss, opt, sched, None, who, step))
        taus.append(1.0 / model.scale().item())
        if progress is not None:
            progress(step, loss=float(np.mean(losses[-20:])), tau=taus[-1])
        if cpu_budget is not None and time.process_time() - t0 > cpu_budget:
            break
    return {'loss': losses, 'temperature': taus, 'cpu_seconds': time.process_time() - t0}


def save_clip(model, path, **extra):
    """A trained CLIP (config and weights, plus any ``extra`` JSON-able entries) to one
    checkpoint file (``sg.io.save``)."""
    io.save({'kind': 'clip', 'config': dataclasses.asdict(model.config),
             'model': model.state_dict(), **extra}, path)


def load_clip(path, device=None):
    """A CLIP saved by ``save_clip`` -> ``(model, extra)`` with the extra entries."""
    state = io.load(path)
    if not isinstance(state, dict) or state.get('kind') != 'clip':
        raise io.CheckpointError(f"load_clip: {path!r} is a checkpoint but not of a CLIP "
                                 f"(saved by save_clip)")
    config = dict(state['config'])
    config['channels'] = tuple(config['channels'])
    model = CLIP(CLIPConfig(**config), device=device)
    model.load_state_dict(state['model'])
    extra = {k: v for k, v in state.items() if k not in ('kind', 'config', 'model')}
    return model, extra
