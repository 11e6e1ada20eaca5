"""Captioned shapes for text-to-image: a word vocabulary, a compositional hold-out, and
captions turned into token ids (see docs/clip.md).

Every image of ``sg.data.shapes(color=True)`` is described by three words,
"<size> <colour> <shape>" ("small red circle"): 3 sizes x 7 colours x 3 shapes = 63
captions (``ALL_CAPTIONS``). The size word is the third of the continuous scale range
the shape was drawn from, so an image near a third's boundary is ambiguous even to a
perfect reader.

VOCAB
    ``<pad>`` (id 0), ``<cls>`` (id 1, the start token every encoded caption begins
    with, whose output a text encoder pools), then the size, colour and shape words.
HOLDOUT
    8 (size, colour, shape) triples that never appear in the training split. Every
    single word, and every pair of words (size-colour, size-shape, colour-shape), still
    appears in training, so a model that composes words can describe a held-out
    combination it never saw.
encode_captions(captions, context=CONTEXT) -> (ids, padding)
    ids int64 (B, context): ``<cls>`` then the words, ``<pad>`` after; padding bool
    (B, context), True at padding. The empty caption "" is ``<cls>`` alone: the
    unconditional prompt of classifier-free guidance. An unknown word or a caption
    longer than ``context - 1`` words raises a ValueError naming it.
caption_shapes(n, seed, split='train', size=16) -> CaptionedShapes(images, captions, attributes)
    ``n`` images drawn by ``shapes`` and kept only if their caption is in the split
    ('train': not in HOLDOUT; 'holdout': in HOLDOUT; 'all'); attributes int64 (n, 3):
    the (shape, colour, size) indices, columns named by ``ATTRIBUTES``.

Avatars, the second and harder set (32x32 RGB, ``sg.data.avatars``): five words, one per
feature in ``FEATURE_NAMES`` order, "<accessory> <clothing colour> <clothing type>
<hair colour> <hair type>" ("sunglasses red hoodie black bun"; ``AVATAR_WORDS``).
Colour words repeat between clothing and hair, so only the word's position says which
it is. 3 x 8 x 4 x 6 x 7 = 4,032 captions (``AVATAR_CAPTIONS``, in ``all_avatar_combinations``
order), drawn from the skewed ``avatar_joint``.

AVATAR_VOCAB, AVATAR_CONTEXT = 6
    ``<pad>``, ``<cls>``, then the distinct avatar words.
AVATAR_HOLDOUT_PAIRS
    4 (clothing type, hair type) pairs, one per clothing type: every avatar with such a
    pair (4 x 3 x 8 x 6 = 576 of the 4,032 captions) is never in training, while every
    single word, and every other pair, is.
caption_avatars(n, seed, split='train') -> CaptionedShapes(images, captions, attributes)
    like ``caption_shapes``; attributes int64 (n, 5) are the feature indices.
CAPTION_SETS['shapes' | 'avatars'] -> CaptionSet(name, vocab, context, attributes,
    words, all_captions, holdout_captions, train_captions, parse, sample): what a model
    needs to know of either set (``encode_captions(captions, context, vocab=...)``,
    ``CLIPConfig(captions=...)``); ``parse(captions)`` -> (B, len(attributes)) indices,
    ``words[k]`` names column k; ``sample(n, seed, split)`` is ``caption_shapes`` or
    ``caption_avatars``.

load_captioned_images(path, context=CONTEXT) -> (images, captions)
    A user's own captioned images (the demos' --data): a .npz with ``images`` as
    ``load_images`` reads them and ``captions``, an array of N strings in this
    vocabulary; a ``DataFileError`` names the file and what is wrong.
"""
from collections import namedtuple

import numpy as np

from .dataset import as_generator
from .files import load_images, DataFileError
from .images import shapes, SHAPE_CLASSES, SHAPE_COLOURS, SIZE_WORDS
from .avatars import avatars, render_avatars, FEATURE_NAMES, SHAPE as AVATAR_SHAPE
from ..checks import nonnegative_int, int_at_least, one_of

__all__ = ['VOCAB', 'PAD_ID', 'CLS_ID', 'CONTEXT', 'ATTRIBUTES', 'ATTRIBUTE_WORDS', 'HOLDOUT',
           'ALL_CAPTIONS', 'TRAIN_CAPTIONS', 'HOLDOUT_CAPTIONS', 'CaptionedShapes',
           'encode_captions', 'caption_attributes', 'caption_of', 'caption_shapes',
           'load_captioned_images', 'AVATAR_WORDS', 'AVATAR_VOCAB', 'AVATAR_CONTEXT',
           'AVATAR_HOLDOUT_PAIRS', 'AVATAR_CAPTIONS', 'AVATAR_TRAIN_CAPTIONS',
           'AVATAR_HOLDOUT_CAPTIONS', 'avatar_caption_of', 'avatar_caption_attributes',
           'caption_avatars', 'CaptionSet', 'CAPTION_SETS']

COLOUR_WORDS = tuple(SHAPE_COLOURS)
# the attributes in the column order of ``caption_shapes(...).attributes``
ATTRIBUTES = ('shape', 'colour', 'size')
ATTRIBUTE_WORDS = {'shape': SHAPE_CLASSES, 'colour': COLOUR_WORDS, 'size': SIZE_WORDS}

PAD, CLS = '<pad>', '<cls>'
VOCAB = (PAD, CLS) + SIZE_WORDS + COLOUR_WORDS + SHAPE_CLASSES
PAD_ID, CLS_ID = 0, 1
CONTEXT = 4                                   # <cls> + three words
_STOI = {w: i for i, w in enumerate(VOCAB)}

# (size, colour, shape); one of each colour, the 8th repeats red with other words
HOLDOUT = (('small', 'red', 'circle'), ('medium', 'green', 'square'),
           ('large', 'blue', 'triangle'), ('small', 'yellow', 'square'),
           ('medium', 'magenta', 'triangle'), ('large', 'cyan', 'circle'),
           ('large', 'white', 'square'), ('medium', 'red', 'triangle'))

# every caption, in (size, colour, shape) order: index = (size * 7 + colour) * 3 + shape
ALL_CAPTIONS = tuple(f"{s} {c} {k}" for s in SIZE_WORDS for c in COLOUR_WORDS
                     for k in SHAPE_CLASSES)
HOLDOUT_CAPTIONS = tuple(' '.join(t) for t in HOLDOUT)
TRAIN_CAPTIONS = tuple(c for c in ALL_CAPTIONS if c not in HOLDOUT_CAPTIONS)

CaptionedShapes = namedtuple('CaptionedShapes', 'images captions attributes')

# ----------------------------------------------------------------------------- avatars
# one word per value, rows in FEATURE_NAMES / FEATURE_VALUES order (data/avatars.py)
AVATAR_WORDS = (
    ('plain', 'round', 'sunglasses'),
    ('black', 'blue', 'grey', 'green', 'orange', 'pink', 'red', 'white'),
    ('hoodie', 'overall', 'scoopneck', 'vneck'),
    ('black', 'blonde', 'brown', 'pink', 'red', 'silver'),
    ('bald', 'bun', 'curly', 'straight', 'waved', 'flat', 'frizzle'),
)
AVATAR_VOCAB = (PAD, CLS) + tuple(dict.fromkeys(w for row in AVATAR_WORDS for w in row))
AVATAR_CONTEXT = 6                            # <cls> + five words
# (clothing type, hair type) never seen together in training: one per clothing type
AVATAR_HOLDOUT_PAIRS = (('hoodie', 'bun'), ('overall', 'frizzle'), ('scoopneck', 'bald'),
                        ('vneck', 'curly'))
_HOLD_PAIR_IDX = {(AVATAR_WORDS[2].index(c), AVATAR_WORDS[4].index(h))
                  for c, h in AVATAR_HOLDOUT_PAIRS}


def avatar_caption_of(features):
    """(B, 5) avatar feature indices -> the list of captions."""
    a = np.asarray(features).reshape(-1, 5)
    return [' '.join(AVATAR_WORDS[k][v] for k, v in enumerate(row)) for row in a]


def avatar_caption_attributes(captions):
    """Avatar captions (five words) -> int64 (B, 5) feature indices (inverse of
    ``avatar_caption_of``)."""
    return _word_indices(captions, AVATAR_WORDS, 'avatar_caption_attributes',
                         "'<accessory> <clothing colour> <clothing type> <hair colour> "
                         "<hair type>'")


def _avatar_held(features):
    """Bool (B,): is each avatar's (clothing type, hair type) pair held out?"""
    return np.array([(int(ct), int(ht)) in _HOLD_PAIR_IDX
                     for ct, ht in np.asarray(features).reshape(-1, 5)[:, [2, 4]]], dtype=bool)


_ALL_AVATARS = np.stack(np.unravel_index(np.arange(int(np.prod(AVATAR_SHAPE))), AVATAR_SHAPE),
                        axis=1)
AVATAR_CAPTIONS = tuple(avatar_caption_of(_ALL_AVATARS))
AVATAR_HOLDOUT_CAPTIONS = tuple(c for c, h in zip(AVATAR_CAPTIONS, _avatar_held(_ALL_AVATARS))
                                if h)
AVATAR_TRAIN_CAPTIONS = tuple(c for c, h in zip(AVATAR_CAPTIONS, _avatar_held(_ALL_AVATARS))
                              if not h)


def caption_avatars(n, seed=None, split='train'):
    """``n`` captioned 32x32 avatars of one split (module docstring): feature rows drawn
    from ``avatar_joint`` and kept when their (clothing type, hair type) pair is in the
    split ('train': not held out; 'holdout': held out; 'all'). Returns
    ``CaptionedShapes(images float32 (n, 3, 32, 32), captions, attributes int64 (n, 5))``."""
    who = 'caption_avatars'
    n = nonnegative_int(n, 'n', who)
    one_of(split, ('train', 'holdout', 'all'), 'split', who)
    rng = as_generator(seed, who)
    rows, have = [], 0
    while have < n:
        X = avatars(4 * (n - have) + 64, seed=rng)
        held = _avatar_held(X)
        keep = {'train': ~held, 'holdout': held, 'all': np.ones(len(X), bool)}[split]
        rows.append(X[keep][:n - have])
        have += len(rows[-1])
    X = np.concatenate(rows) if rows else np.zeros((0, 5), np.int64)
    return CaptionedShapes(render_avatars(X), avatar_caption_of(X), X.astype(np.int64))


def _words(caption, who):
    if not isinstance(caption, str):
        raise TypeError(f"{who}: captions must be strings, got {type(caption).__name__} "
                        f"{caption!r}")
    return caption.split()


def encode_captions(captions, context=CONTEXT, vocab=VOCAB):
    """Captions (a string or a list of strings) -> ``(ids, padding)``: int64 and bool
    NumPy arrays of shape (B, context). Row b is ``<cls>``, the caption's words, then
    ``<pad>``; ``padding[b, j]`` is True where position j is padding. ``vocab``: the
    word list (``VOCAB`` of the shapes, ``AVATAR_VOCAB``), starting with <pad>, <cls>."""
    who = 'encode_captions'
    stoi = _STOI if vocab is VOCAB else {w: i for i, w in enumerate(vocab)}
    if tuple(vocab[:2]) != (PAD, CLS):
        raise ValueError(f"{who}: vocab must start with {PAD!r}, {CLS!r}, got {vocab[:2]}")
    if isinstance(captions, str):
        captions = [captions]
    captions = list(captions)
    context = int_at_least(context, 1, 'context', who)
    ids = np.full((len(captions), context), PAD_ID, dtype=np.int64)
    for b, caption in enumerate(captions):
        words = _words(caption, who)
        if len(words) + 1 > context:
            raise ValueError(f"{who}: caption {caption!r} has {len(words)} words; with the "
                             f"<cls> token it needs {len(words) + 1} positions but the "
                             f"context is {context} (at most {context - 1} words)")
        for j, w in enumerate(words):
            if w not in stoi or w in (PAD, CLS):
                raise ValueError(f"{who}: unknown word {w!r} in caption {caption!r}; the "
                                 f"vocabulary is {', '.join(vocab[2:])}")
            ids[b, j + 1] = stoi[w]
        ids[b, 0] = CLS_ID
    return ids, ids == PAD_ID


def caption_attributes(captions):
    """Full captions "<size> <colour> <shape>" -> int64 (B, 3) (shape, colour, size)
    indices into ``ATTRIBUTE_WORDS``."""
    by_position = _word_indices(captions, (SIZE_WORDS, COLOUR_WORDS, SHAPE_CLASSES),
                                'caption_attributes', "'<size> <colour> <shape>'")
    return by_position[:, ::-1].copy()          # (size, colour, shape) -> (shape, colour, size)


def _word_indices(captions, words, who, form):
    """Captions of exactly len(words) words, word j from ``words[j]`` -> int64 (B, len(words))
    indices, in caption order; anything else raises a ValueError naming the caption."""
    if isinstance(captions, str):
        captions = [captions]
    out = []
    for caption in captions:
        ws = _words(caption, who)
        if len(ws) != len(words) or any(w not in words[k] for k, w in enumerate(ws)):
            raise ValueError(f"{who}: caption {caption!r} is not {form} with the words "
                             f"{words}")
        out.append([words[k].index(w) for k, w in enumerate(ws)])
    return np.array(out, dtype=np.int64).reshape(-1, len(words))


def caption_of(attributes):
    """(B, 3) (shape, colour, size) indices -> the list of captions (inverse of
    ``caption_attributes``)."""
    a = np.asarray(attributes).reshape(-1, 3)
    return [f"{SIZE_WORDS[s]} {COLOUR_WORDS[c]} {SHAPE_CLASSES[k]}" for k, c, s in a]


def caption_shapes(n, seed=None, split='train', size=16):
    """``n`` captioned shapes images of one split (module docstring).

    Images are drawn by ``sg.data.shapes(size=size, color=True)`` in batches and kept
    when their caption belongs to ``split``, so each split is exactly ``shapes``
    conditioned on its captions (uniform over the split's combinations). Returns
    ``CaptionedShapes(images float32 (n, 3, size, size), captions list of n strings,
    attributes int64 (n, 3))``.
    """
    who = 'caption_shapes'
    n = nonnegative_int(n, 'n', who)
    one_of(split, ('train', 'holdout', 'all'), 'split', who)
    size = int_at_least(size, 8, 'size', who)
    rng = as_generator(seed, who)
    keep_set = {'train': set(TRAIN_CAPTIONS), 'holdout': set(HOLDOUT_CAPTIONS),
                'all': set(ALL_CAPTIONS)}[split]
    images, captions = [], []
    have = 0
    while have < n:
        # draw enough that one batch usually suffices (the hold-out keeps 8 of 63)
        want = n - have
        batch = int(want * len(ALL_CAPTIONS) / len(keep_set) * 1.2) + 16
        d = shapes(batch, size=size, seed=rng, color=True)
        keep = np.array([c in keep_set for c in d.descriptions])
        images.append(d.images[keep][:want])
        captions += [c for c, k in zip(d.descriptions, keep) if k][:want]
        have = len(captions)
    x = np.concatenate(images) if images else np.zeros((0, 3, size, size), np.float32)
    return CaptionedShapes(x, captions, caption_attributes(captions))


def load_captioned_images(path, context=CONTEXT):
    """``(images float32 (N, C, H, W), captions list of N str)`` from a .npz with
    ``images`` (see ``load_images``) and ``captions`` (N strings, e.g. saved with
    ``np.savez(path, images=x, captions=np.array(list_of_str))``), every caption made
    of words of ``VOCAB`` and at most ``context - 1`` words long."""
    who = 'load_captioned_images'
    images, _ = load_images(path)
    with np.load(path, allow_pickle=False) as f:
        if 'captions' not in f.files:
            raise DataFileError(f"{who}: {str(path)!r} holds {sorted(f.files)} but no "
                                f"'captions'; expected an array of {len(images)} strings")
        try:
            c = f['captions']
        except ValueError as e:
            raise DataFileError(f"{who}: cannot read 'captions' in {str(path)!r} without "
                                f"pickle ({e}); save them as a string array") from None
    if c.dtype.kind != 'U' or c.shape != (len(images),):
        raise DataFileError(f"{who}: 'captions' in {str(path)!r} has dtype {c.dtype}, shape "
                            f"{c.shape}; expected {len(images)} strings, one per image")
    captions = [str(t) for t in c]
    try:
        encode_captions(captions, context)
    except ValueError as e:
        raise DataFileError(f"{who}: {str(path)!r}: {e}") from None
    return images, captions


CaptionSet = namedtuple('CaptionSet', 'name vocab context attributes words all_captions '
                                      'holdout_captions train_captions parse sample')
CAPTION_SETS = {
    'shapes': CaptionSet('shapes', VOCAB, CONTEXT, ATTRIBUTES,
                         tuple(ATTRIBUTE_WORDS[a] for a in ATTRIBUTES), ALL_CAPTIONS,
                         HOLDOUT_CAPTIONS, TRAIN_CAPTIONS, caption_attributes, caption_shapes),
    'avatars': CaptionSet('avatars', AVATAR_VOCAB, AVATAR_CONTEXT, FEATURE_NAMES, AVATAR_WORDS,
                          AVATAR_CAPTIONS, AVATAR_HOLDOUT_CAPTIONS, AVATAR_TRAIN_CAPTIONS,
                          avatar_caption_attributes, caption_avatars),
}
