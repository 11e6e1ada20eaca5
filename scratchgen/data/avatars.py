"""Fashion avatars: five categorical features with a known joint, and a 32x32 renderer.

The example that opens generative modelling: each avatar is a combination of

=================  ==========================================================
accessories (3)    Blank, Round, Sunglasses
clothing_colour (8) Black, Blue01, Gray01, PastelGreen, PastelOrange, Pink, Red, White
clothing_type (4)  Hoodie, Overall, ShirtScoopNeck, ShirtVNeck
hair_colour (6)    Black, Blonde, Brown, PastelPink, Red, SilverGray
hair_type (7)      NoHair, LongHairBun, LongHairCurly, LongHairStraight,
                   ShortHairShortWaved, ShortHairShortFlat, ShortHairFrizzle
=================  ==========================================================

3 * 8 * 4 * 6 * 7 = 4,032 combinations. ``avatars(n, seed)`` samples index rows
``(n, 5)`` (features in the order above) from a known joint, ``avatar_joint()``
returns that joint exactly as a ``(3, 8, 4, 6, 7)`` probability array, so a model can
be scored by exact KL divergence.

The joint is a small Bayesian network (every cell has positive probability):

    p(a, cc, ct, hc, ht) = p(ht) p(hc | ht) p(a | ht) p(ct) p(cc | ct, hc)

* hair type first; bald avatars are mostly silver-grey or black-haired (eyebrows),
  frizzy hair is often pastel pink;
* sunglasses are common with short hair, round glasses with no hair;
* clothing colour depends on the clothing type (grey and black hoodies, Blue01
  denim overalls, white V-necks) times a hair-colour affinity: white (and grey)
  clothes are much more common with silver-grey hair, pink clothes with pastel-pink
  hair, red clothes rare with red hair. The tables below are the whole truth.

``render_avatar(features)`` draws one avatar as a ``(32, 32, 3)`` float32 image in
[0, 1]; ``render_avatars(X)`` draws a batch as ``(n, 3, 32, 32)`` (channels first,
like every image set in ``sg.data``). Every feature value has its own look (hair
shape and colour, eyebrows in the hair colour, clothing shape and colour, glasses),
so the 4,032 combinations give 4,032 different images.
"""
import functools

import numpy as np

from .dataset import as_generator
from ..checks import nonnegative_int

FEATURE_NAMES = ('accessories', 'clothing_colour', 'clothing_type', 'hair_colour',
                 'hair_type')
FEATURE_VALUES = (
    ('Blank', 'Round', 'Sunglasses'),
    ('Black', 'Blue01', 'Gray01', 'PastelGreen', 'PastelOrange', 'Pink', 'Red', 'White'),
    ('Hoodie', 'Overall', 'ShirtScoopNeck', 'ShirtVNeck'),
    ('Black', 'Blonde', 'Brown', 'PastelPink', 'Red', 'SilverGray'),
    ('NoHair', 'LongHairBun', 'LongHairCurly', 'LongHairStraight', 'ShortHairShortWaved',
     'ShortHairShortFlat', 'ShortHairFrizzle'),
)
SHAPE = tuple(len(v) for v in FEATURE_VALUES)          # (3, 8, 4, 6, 7)
ACC, CC, CT, HC, HT = range(5)                          # feature axes

# ----------------------------------------------------------------------------- the joint
# Unnormalised weights; each row is normalised in _normalise. Rows follow FEATURE_VALUES.
P_HAIR_TYPE = [0.06, 0.12, 0.14, 0.20, 0.16, 0.20, 0.12]
HAIR_COLOUR_GIVEN_TYPE = [   # Black Blonde Brown PastelPink Red SilverGray
    [5, 1, 3, 0.2, 0.5, 10],     # NoHair
    [4, 5, 5, 1.5, 2, 1],        # LongHairBun
    [6, 3, 5, 1, 3, 1],          # LongHairCurly
    [5, 6, 5, 1, 2, 1],          # LongHairStraight
    [6, 3, 6, 0.5, 1.5, 2],      # ShortHairShortWaved
    [7, 2, 6, 0.5, 1, 3],        # ShortHairShortFlat
    [3, 2, 3, 4, 3, 1],          # ShortHairFrizzle
]
ACCESSORY_GIVEN_HAIR_TYPE = [   # Blank Round Sunglasses
    [4, 5, 2], [6, 3, 1], [6, 3, 1.5], [6, 2.5, 1.5], [4, 2, 4], [4, 2, 4], [3, 2, 5],
]
P_CLOTHING_TYPE = [0.30, 0.15, 0.30, 0.25]
CLOTHING_COLOUR_GIVEN_TYPE = [   # Black Blue01 Gray01 PGreen POrange Pink Red White
    [5, 3, 6, 1, 1, 1.5, 2, 1],      # Hoodie
    [1, 8, 2, 1, 1, 1, 1, 1],        # Overall
    [2, 2, 1.5, 3, 3, 3, 2, 3],      # ShirtScoopNeck
    [4, 2, 2, 1, 1, 1, 2, 5],        # ShirtVNeck
]
CLOTHING_COLOUR_HAIR_AFFINITY = [  # multiplies the row above; rows: hair colour
    [1.5, 1, 1, 1, 1, 1, 1, 1],      # Black hair: more black clothes
    [1, 1.5, 1, 1, 1.2, 1, 1, 1],    # Blonde
    [1, 1, 1, 1, 1, 1, 1, 1],        # Brown
    [1, 1, 1, 2, 1, 3, 1, 1],        # PastelPink: pink and pastel green
    [1, 1, 1, 1.5, 1, 1, 0.3, 1],    # Red hair: red clothes rare
    [1, 1, 2, 1, 1, 1, 1, 4],        # SilverGray: white (and grey) clothes
]


def _normalise(w):
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum(axis=-1, keepdims=True)


@functools.lru_cache(maxsize=1)
def _joint():
    p_ht = _normalise(P_HAIR_TYPE)                                    # (ht,)
    p_hc_ht = _normalise(HAIR_COLOUR_GIVEN_TYPE)                      # (ht, hc)
    p_a_ht = _normalise(ACCESSORY_GIVEN_HAIR_TYPE)                    # (ht, a)
    p_ct = _normalise(P_CLOTHING_TYPE)                                # (ct,)
    w = (np.asarray(CLOTHING_COLOUR_GIVEN_TYPE, dtype=np.float64)[:, None, :]
         * np.asarray(CLOTHING_COLOUR_HAIR_AFFINITY, dtype=np.float64)[None, :, :])
    p_cc_ct_hc = _normalise(w)                                        # (ct, hc, cc)
    joint = np.einsum('h,hc,ha,t,tcx->axtch', p_ht, p_hc_ht, p_a_ht, p_ct, p_cc_ct_hc,
                      optimize=True)
    joint.setflags(write=False)
    return joint


def avatar_joint():
    """The exact joint p(accessories, clothing_colour, clothing_type, hair_colour,
    hair_type) as a float64 array of shape (3, 8, 4, 6, 7) summing to 1 (a copy)."""
    return _joint().copy()


def avatar_entropy():
    """Entropy of the true joint in nats (the floor for any model's cross-entropy)."""
    p = _joint().ravel()
    return float(-(p * np.log(p)).sum())


def avatars(n, seed=None):
    """``n`` avatars sampled from ``avatar_joint()``: int64 array ``(n, 5)`` of value
    indices, columns in ``FEATURE_NAMES`` order."""
    n = nonnegative_int(n, 'n', 'avatars')
    rng = as_generator(seed, 'avatars')
    flat = rng.choice(_joint().size, size=int(n), p=_joint().ravel())
    return np.stack(np.unravel_index(flat, SHAPE), axis=1).astype(np.int64)


def _as_indices(features, where):
    """(5,) or (n, 5) value indices, or value names / dicts of names -> int64 (n, 5)."""
    if isinstance(features, dict):
        features = [features]
    if isinstance(features, (list, tuple)) and len(features) and isinstance(features[0], dict):
        rows = []
        for d in features:
            missing = [f for f in FEATURE_NAMES if f not in d]
            if missing:
                raise ValueError(f"{where}: missing features {missing}; expected {FEATURE_NAMES}")
            rows.append([d[f] for f in FEATURE_NAMES])
        features = rows
    arr = np.asarray(features)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"{where}: expected 5 features per avatar ({', '.join(FEATURE_NAMES)}), "
                         f"got an array of shape {np.shape(features)}")
    if arr.dtype.kind in 'US':
        out = np.empty(arr.shape, dtype=np.int64)
        for j, values in enumerate(FEATURE_VALUES):
            for i, v in enumerate(arr[:, j]):
                if v not in values:
                    raise ValueError(f"{where}: {str(v)!r} is not a {FEATURE_NAMES[j]}; "
                                     f"expected one of {values}")
                out[i, j] = values.index(v)
        return out
    if arr.dtype.kind not in 'iu':
        raise TypeError(f"{where}: expected integer value indices or value names, "
                        f"got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= np.array(SHAPE))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{where}: {FEATURE_NAMES[j]} index {arr[i, j]} is out of range "
                         f"[0, {SHAPE[j]}) (avatar {i})")
    return arr


def describe_avatar(features):
    """Value names of one avatar: ``{'accessories': 'Round', ...}``."""
    row = _as_indices(features, 'describe_avatar')
    if len(row) != 1:
        raise ValueError(f"describe_avatar: expected one avatar, got {len(row)}")
    return {f: FEATURE_VALUES[j][row[0, j]] for j, f in enumerate(FEATURE_NAMES)}


# ----------------------------------------------------------------------------- renderer
# Colours (RGB in [0, 1]), one per feature value; chosen so that every value differs
# visibly from the others and from the skin and background.
SKIN = (0.96, 0.78, 0.64)
BACKGROUND = (0.70, 0.73, 0.90)
CLOTHING_RGB = np.array([
    (0.15, 0.18, 0.20),   # Black
    (0.40, 0.79, 1.00),   # Blue01
    (0.60, 0.61, 0.63),   # Gray01
    (0.60, 0.95, 0.70),   # PastelGreen
    (1.00, 0.84, 0.62),   # PastelOrange
    (1.00, 0.28, 0.56),   # Pink
    (0.90, 0.15, 0.15),   # Red
    (1.00, 1.00, 1.00),   # White
], dtype=np.float32)
HAIR_RGB = np.array([
    (0.13, 0.09, 0.08),   # Black
    (0.96, 0.82, 0.30),   # Blonde
    (0.48, 0.27, 0.15),   # Brown
    (0.98, 0.58, 0.72),   # PastelPink
    (0.85, 0.30, 0.05),   # Red
    (0.86, 0.86, 0.88),   # SilverGray
], dtype=np.float32)
UNDERSHIRT = (0.97, 0.96, 0.92)
DARK = (0.12, 0.10, 0.10)

_SIZE, _SS = 32, 4                       # image size, supersampling per axis
_EYES = ((13.2, 14.4), (18.8, 14.4))     # eye centres (x, y) in pixels


class _Canvas:
    """Supersampled pixel coordinates: x to the right, y down, pixel centres."""

    def __init__(self, size=_SIZE, ss=_SS):
        c = (np.arange(size * ss) + 0.5) / ss
        self.x, self.y = np.meshgrid(c, c)        # (size*ss, size*ss)
        self.size, self.ss = size, ss

    def alpha(self, mask):
        """Boolean supersampled mask -> anti-aliased coverage (size, size) in [0, 1]."""
        m = mask.astype(np.float32).reshape(self.size, self.ss, self.size, self.ss)
        return m.mean(axis=(1, 3))

    def ellipse(self, cx, cy, rx, ry):
        return ((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0

    def rect(self, x0, x1, y0, y1):
        return (self.x >= x0) & (self.x <= x1) & (self.y >= y0) & (self.y <= y1)

    def ring(self, cx, cy, r0, r1):
        d = np.hypot(self.x - cx, self.y - cy)
        return (d >= r0) & (d <= r1)

    def triangle(self, p0, p1, p2):
        def side(a, b):
            return (b[0] - a[0]) * (self.y - a[1]) - (b[1] - a[1]) * (self.x - a[0])
        s0, s1, s2 = side(p0, p1), side(p1, p2), side(p2, p0)
        return ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))

    def polar(self, cx, cy):
        return np.hypot(self.x - cx, self.y - cy), np.arctan2(self.y - cy, self.x - cx)


@functools.lru_cache(maxsize=1)
def _templates():
    """Coverage masks of every part, per feature value where the shape depends on it."""
    cv = _Canvas()
    x, y = cv.x, cv.y
    none = np.zeros_like(x, dtype=bool)
    face = cv.ellipse(16, 14.5, 6.2, 7.3) | cv.ellipse(9.9, 15, 1.3, 1.6) | \
        cv.ellipse(22.1, 15, 1.3, 1.6)
    neck = cv.rect(13.4, 18.6, 18.5, 27)
    torso = cv.ellipse(16, 35, 13.5, 10.5)
    cap = cv.ellipse(16, 14.4, 7.1, 8.3)                  # hair hugging the skull
    sides = np.abs(x - 16) > 5.5                          # over the temples
    r, th = cv.polar(16, 14.5)

    # --- hair: (front, back) per hair type
    flat_top = cv.ellipse(16, 14.4, 7.3, 8.6) & (y >= 7.4) & ((y < 10.2) | (sides & (y < 13.5)))
    wave_edge = 1.2 + 0.07 * np.sin(7 * th)                # gently rippled outline
    waved = ((((x - 16) / 6.2) ** 2 + ((y - 14.5) / 7.3) ** 2) <= wave_edge ** 2) & \
        ((y < 10.4 + 1.3 * np.sin(1.1 * x)) | (sides & (y < 13.0)))
    frizz_edge = 1.15 + 0.26 * np.abs(np.sin(6 * th))     # spiky outline, normalised radius
    frizzle = ((((x - 16) / 6.2) ** 2 + ((y - 14.5) / 7.3) ** 2) <= frizz_edge ** 2) & \
        ((y < 10.6) | (sides & (y < 12.5)))
    bun = (cap & ((y < 9.6) | (sides & (y < 13)))) | cv.ellipse(16, 4.6, 3.2, 2.8)
    straight_front = cap & ((y < 8.8 + 0.45 * (x - 10)) | (sides & (y < 12))) & (y < 12)
    straight_back = cv.ellipse(16, 14.5, 7.9, 9.0) | cv.rect(8.1, 23.9, 14.5, 27.5)
    curly_front = cap & ((y < 9.8 + 1.0 * np.abs(np.sin(1.3 * x))) | (sides & (y < 12.5)))
    curly_back = (r <= 10.3 + 0.9 * np.sin(8 * th)) & (y < 26.5) & (y > 4.5)
    hair_front = [none, bun, curly_front, straight_front, waved, flat_top, frizzle]
    hair_back = [none, none, curly_back, straight_back, none, none, none]

    # --- clothing: (under: fixed undershirt, colour, shade: darker colour, skin) per type
    hood = cv.ellipse(16, 24.4, 6.2, 2.9)
    hood_rim = hood & ~cv.ellipse(16, 24.6, 4.3, 1.7)
    strings = (cv.rect(14.0, 14.8, 25.5, 30) | cv.rect(17.2, 18.0, 25.5, 30)) & torso
    bib = (cv.rect(11, 21, 27.2, 32) | (y > 30.2) | cv.rect(10.6, 12.4, 23, 27.2)
           | cv.rect(19.6, 21.4, 23, 27.2)) & torso
    buttons = cv.ellipse(11.5, 28.0, 0.7, 0.7) | cv.ellipse(20.5, 28.0, 0.7, 0.7)
    tee_neck = cv.ellipse(16, 24.2, 2.8, 1.9) & torso
    scoop = cv.ellipse(16, 24.2, 3.4, 3.6) & torso
    scoop_hem = cv.ellipse(16, 24.2, 4.2, 4.4) & torso & ~scoop
    vee = cv.triangle((12.4, 23.8), (19.6, 23.8), (16, 29.6)) & torso
    vee_hem = cv.triangle((11.2, 23.2), (20.8, 23.2), (16, 31.0)) & torso & ~vee
    cloth_under = [none, torso, none, none]
    cloth_colour = [torso | hood, bib, torso, torso]
    cloth_shade = [hood_rim, buttons, scoop_hem, vee_hem]
    cloth_skin = [none, tee_neck, scoop, vee]
    cloth_light = [strings, none, none, none]

    # --- face details
    brows = cv.rect(11.5, 14.5, 10.9, 11.9) | cv.rect(17.5, 20.5, 10.9, 11.9)
    eyes = cv.ellipse(*_EYES[0], 0.9, 1.0) | cv.ellipse(*_EYES[1], 0.9, 1.0)
    mouth = cv.ring(16, 16.2, 2.3, 3.1) & (y > 18.1)

    # --- accessories: (frame, lens) per accessory
    round_frame = cv.ring(*_EYES[0], 2.05, 2.6) | cv.ring(*_EYES[1], 2.05, 2.6) | \
        cv.rect(15.3, 16.7, 13.6, 14.3)
    round_lens = cv.ellipse(*_EYES[0], 2.0, 2.0) | cv.ellipse(*_EYES[1], 2.0, 2.0)
    shades = cv.ellipse(_EYES[0][0] - 0.2, 14.2, 2.8, 2.0) | \
        cv.ellipse(_EYES[1][0] + 0.2, 14.2, 2.8, 2.0) | cv.rect(15, 17, 13.2, 14.0)
    glasses_frame = [none, round_frame, shades]
    glasses_lens = [none, round_lens & ~round_frame, none]

    a = cv.alpha
    stack = lambda masks: np.stack([a(m) for m in masks])          # noqa: E731
    lens_tint = 0.3          # round lenses lighten what is behind them a little
    return dict(face=a(face), neck=a(neck), brows=a(brows), eyes=a(eyes), mouth=a(mouth),
                hair_front=stack(hair_front), hair_back=stack(hair_back),
                cloth_under=stack(cloth_under), cloth_colour=stack(cloth_colour),
                cloth_shade=stack(cloth_shade), cloth_skin=stack(cloth_skin),
                cloth_light=stack(cloth_light),
                glasses_frame=stack(glasses_frame), glasses_lens=lens_tint * stack(glasses_lens))


def _paint(img, table, index, colour):
    """Paint ``colour`` over ``img`` (n, H, W, 3) with coverage ``table[index]``.

    ``table`` is (K, H, W) masks per feature value (``index`` (n,) picks one per image)
    or a single (H, W) mask (``index`` None). ``colour`` is (3,) or one per image
    (n, 3). Only the bounding box of the mask is touched (most parts are small).
    """
    rows = np.flatnonzero(table.reshape(-1, table.shape[-2], table.shape[-1]).any(axis=(0, 2)))
    cols = np.flatnonzero(table.reshape(-1, table.shape[-2], table.shape[-1]).any(axis=(0, 1)))
    if rows.size == 0:
        return
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    alpha = table[(slice(None),) + box][index] if index is not None else table[box][None]
    colour = np.asarray(colour, dtype=np.float32)
    if colour.ndim == 2:                   # one colour per image
        colour = colour[:, None, None, :]
    region = img[(slice(None),) + box]
    diff = colour - region
    diff *= alpha[..., None]
    region += diff


def render_avatars(features, channels_last=False):
    """Draw avatars: value indices ``(n, 5)`` (or names) -> float32 ``(n, 3, 32, 32)`` in
    [0, 1] (``(n, 32, 32, 3)`` with ``channels_last=True``).

    Layers, back to front: background, long hair, neck, clothes (undershirt, colour,
    darker seams, skin openings, drawstrings), face, front hair, eyebrows in the hair
    colour, eyes and mouth, glasses. Each part's shape is a precomputed anti-aliased
    mask per feature value, so a batch renders with no loop over avatars.
    """
    X = _as_indices(features, 'render_avatars')
    t = _templates()
    acc, cc, ct, hc, ht = X.T
    hair, cloth = HAIR_RGB[hc], CLOTHING_RGB[cc]
    img = np.empty((len(X), _SIZE, _SIZE, 3), dtype=np.float32)
    img[...] = np.asarray(BACKGROUND, dtype=np.float32)
    skin = np.asarray(SKIN, dtype=np.float32)
    _paint(img, t['hair_back'], ht, hair * 0.85)
    _paint(img, t['neck'], None, skin * 0.9)
    _paint(img, t['cloth_under'], ct, UNDERSHIRT)
    _paint(img, t['cloth_colour'], ct, cloth)
    _paint(img, t['cloth_shade'], ct, cloth * 0.7)
    _paint(img, t['cloth_skin'], ct, skin * 0.9)
    _paint(img, t['cloth_light'], ct, (0.92, 0.92, 0.92))
    _paint(img, t['face'], None, skin)
    _paint(img, t['hair_front'], ht, hair)
    _paint(img, t['brows'], None, hair * 0.8)
    _paint(img, t['eyes'], None, DARK)
    _paint(img, t['mouth'], None, (0.55, 0.15, 0.15))
    _paint(img, t['glasses_lens'], acc, (1.0, 1.0, 1.0))
    _paint(img, t['glasses_frame'], acc, DARK)
    np.clip(img, 0.0, 1.0, out=img)
    return img if channels_last else np.ascontiguousarray(img.transpose(0, 3, 1, 2))


def render_avatar(features):
    """One avatar (5 value indices, 5 value names, or a dict of names) as a float32
    ``(32, 32, 3)`` image in [0, 1], ready for ``plt.imshow``."""
    X = _as_indices(features, 'render_avatar')
    if len(X) != 1:
        raise ValueError(f"render_avatar: expected one avatar, got {len(X)}; "
                         "use render_avatars for a batch")
    return render_avatars(X, channels_last=True)[0]


def all_avatar_combinations():
    """Every feature combination, int64 ``(4032, 5)``, in C order of ``avatar_joint()``."""
    return np.stack(np.unravel_index(np.arange(np.prod(SHAPE)), SHAPE), axis=1).astype(np.int64)
