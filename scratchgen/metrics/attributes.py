"""Does an image show what its caption says? Attribute classifiers trained on real
captioned shapes, the accuracy of prompted attributes, and retrieval recall@1.

A text-to-image model is scored by classifiers that never saw it: one small conv
classifier per attribute (shape, colour, size; ``sg.data.captions.ATTRIBUTES``),
each trained with ``train_feature_net`` on REAL images. For images generated from
prompts,

    acc_a = 1/N sum_n [ classifier_a(x_n) == prompted_a(n) ]      per attribute a
    all   = 1/N sum_n prod_a [ classifier_a(x_n) == prompted_a(n) ]

``all`` is the fraction with every prompted attribute right. The same numbers on real
held-out images are the ceiling a generator can reach under these judges: the size
word is the third of a continuous scale, so real images just either side of a
boundary differ by a fraction of a pixel and are where the classifiers err.

recall_at_1(similarity, image_labels, caption_labels): for a CLIP-style similarity
matrix (N images, M captions), the fraction of images whose most similar caption has
the image's label (image -> text), and of captions whose most similar image has the
caption's label (text -> image). See docs/clip.md.

``captions='avatars'`` gives one classifier per avatar feature instead (five columns,
``CAPTION_SETS['avatars'].attributes``).
"""
import numpy as np

from ..autograd.creation import host_array
from ..data.captions import CAPTION_SETS
from .feature_net import train_feature_net

__all__ = ['AttributeClassifiers', 'train_attribute_classifiers', 'attribute_accuracy',
           'recall_at_1']


def _attributes(attributes, n, who, captions='shapes'):
    """(N, k) int attribute indices, from an array or from N caption strings."""
    cs = CAPTION_SETS[captions]
    names = cs.attributes
    if isinstance(attributes, str) or (isinstance(attributes, (list, tuple)) and attributes
                                       and isinstance(attributes[0], str)):
        a = cs.parse(attributes)
        if len(a) == 1 and n > 1:
            a = np.repeat(a, n, axis=0)        # one prompt for the whole batch
    else:
        a = host_array(attributes, None, f"{who}: attributes")
    if a.dtype.kind not in 'iu' or a.shape != (n, len(names)):
        raise ValueError(f"{who}: attributes must be {n} captions or an integer array of "
                         f"shape ({n}, {len(names)}) (columns {names}), got "
                         f"dtype {a.dtype}, shape {a.shape}")
    return a.astype(np.int64)


class AttributeClassifiers:
    """One ``FeatureNet`` per attribute (``nets['shape']`` ...). ``predict(images)`` ->
    int64 (N, k) indices in the caption set's attribute order (``ATTRIBUTES`` for the
    shapes); ``accuracy(images, attributes)`` is ``attribute_accuracy(self, ...)``."""

    def __init__(self, nets, captions='shapes'):
        self.nets, self.captions = dict(nets), captions

    def predict(self, images):
        return np.stack([self.nets[a].predict(images)
                         for a in CAPTION_SETS[self.captions].attributes], axis=1)

    def accuracy(self, images, attributes):
        return attribute_accuracy(self, images, attributes)


def train_attribute_classifiers(images, attributes, arch='conv', epochs=8, batch_size=128,
                                lr=2e-3, seed=0, device=None, captions='shapes'):
    """Train one classifier per attribute of the caption set ``captions`` ('shapes':
    three, 'avatars': five) on real images (N, C, H, W) and their attributes (an (N, k)
    int array or N captions) -> ``AttributeClassifiers``."""
    who = 'train_attribute_classifiers'
    x = host_array(images, np.float32, who)
    a = _attributes(attributes, len(x), who, captions)
    cs = CAPTION_SETS[captions]
    nets = {}
    for k, name in enumerate(cs.attributes):
        nets[name] = train_feature_net(x, a[:, k], arch=arch, epochs=epochs,
                                       batch_size=batch_size, lr=lr, seed=seed + k,
                                       device=device, n_classes=len(cs.words[k]))
    return AttributeClassifiers(nets, captions)


def attribute_accuracy(classifiers, images, attributes):
    """Per-attribute accuracy and the all-attributes-correct fraction of ``images``
    against the prompted ``attributes`` (an (N, 3) int array, N captions, or one caption
    for every image) -> ``{'shape': .., 'colour': .., 'size': .., 'all': ..}``."""
    who = 'attribute_accuracy'
    if not hasattr(classifiers, 'predict'):
        raise TypeError(f"{who}: classifiers must be AttributeClassifiers (or have "
                        f"predict(images) -> (N, 3)), got {type(classifiers).__name__}")
    x = host_array(images, np.float32, who)
    captions = getattr(classifiers, 'captions', 'shapes')
    a = _attributes(attributes, len(x), who, captions)
    right = classifiers.predict(x) == a
    out = {name: float(right[:, k].mean())
           for k, name in enumerate(CAPTION_SETS[captions].attributes)}
    out['all'] = float(right.all(1).mean())
    return out


def recall_at_1(similarity, image_labels, caption_labels):
    """Retrieval recall@1 both ways from a similarity matrix (N images, M captions) ->
    ``{'image_to_text': .., 'text_to_image': ..}``; labels are ints (caption ids)."""
    who = 'recall_at_1'
    s = host_array(similarity, np.float64, who)
    li = host_array(image_labels, None, f"{who}: image_labels").reshape(-1)
    lc = host_array(caption_labels, None, f"{who}: caption_labels").reshape(-1)
    if s.ndim != 2 or s.shape != (len(li), len(lc)) or 0 in s.shape:
        raise ValueError(f"{who}: similarity of shape {s.shape} should be (N images, M "
                         f"captions) = ({len(li)}, {len(lc)}), both non-zero")
    return {'image_to_text': float((lc[s.argmax(1)] == li).mean()),
            'text_to_image': float((li[s.argmax(0)] == lc).mean())}
