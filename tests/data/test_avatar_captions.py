"""Captioned avatars (the second caption set): five words per avatar, the (clothing
type, hair type) hold-out, encode_captions with the avatar vocabulary, caption_avatars'
splits, and attribute classifiers with one head per avatar feature."""
import itertools

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import captions as cap
from scratchgen.data.avatars import FEATURE_NAMES, SHAPE


def test_avatar_captions_and_holdout_design():
    assert len(cap.AVATAR_CAPTIONS) == 4032 == len(set(cap.AVATAR_CAPTIONS))
    assert len(cap.AVATAR_HOLDOUT_CAPTIONS) == 4 * 3 * 8 * 6 == 576
    assert len(cap.AVATAR_TRAIN_CAPTIONS) == 4032 - 576
    assert tuple(len(w) for w in cap.AVATAR_WORDS) == SHAPE
    a = cap.avatar_caption_attributes(cap.AVATAR_CAPTIONS)
    np.testing.assert_array_equal(a, sg.data.all_avatar_combinations())
    assert cap.avatar_caption_of(a) == list(cap.AVATAR_CAPTIONS)
    train = cap.avatar_caption_attributes(cap.AVATAR_TRAIN_CAPTIONS)
    held = cap.avatar_caption_attributes(cap.AVATAR_HOLDOUT_CAPTIONS)
    pairs = {(cap.AVATAR_WORDS[2].index(c), cap.AVATAR_WORDS[4].index(h))
             for c, h in cap.AVATAR_HOLDOUT_PAIRS}
    assert {tuple(r) for r in held[:, [2, 4]]} == pairs
    assert not {tuple(r) for r in train[:, [2, 4]]} & pairs
    # every single value, and every pair of values other than the held-out ones, is seen
    for k in range(5):
        assert set(train[:, k]) == set(range(SHAPE[k])), FEATURE_NAMES[k]
    for i, j in itertools.combinations(range(5), 2):
        seen = {tuple(r) for r in train[:, [i, j]]}
        want = {(u, v) for u in range(SHAPE[i]) for v in range(SHAPE[j])}
        assert seen == (want - pairs if (i, j) == (2, 4) else want), (i, j)
    assert cap.CAPTION_SETS['avatars'].attributes == FEATURE_NAMES


def test_encode_avatar_captions_and_errors():
    V = cap.AVATAR_VOCAB
    ids, pad = sg.data.encode_captions(["sunglasses red hoodie black bun", ""],
                                       cap.AVATAR_CONTEXT, vocab=V)
    assert ids.shape == (2, 6)
    assert [V[i] for i in ids[0]] == ['<cls>', 'sunglasses', 'red', 'hoodie', 'black', 'bun']
    assert pad[1].tolist() == [False] + [True] * 5
    # the same word in two slots is one token: only its position says which feature
    assert ids[0, 2] == V.index('red') and V.count('red') == 1
    with pytest.raises(ValueError, match="unknown word 'circle'.*vocabulary is plain"):
        sg.data.encode_captions(["round red circle"], 6, vocab=V)
    with pytest.raises(ValueError, match="avatar_caption_attributes: caption 'red hoodie'"):
        cap.avatar_caption_attributes(["red hoodie"])
    # the shapes default is unchanged
    assert sg.data.encode_captions("small red circle")[0].tolist() == [[1, 2, 5, 12]]


@pytest.mark.parametrize('split', ['train', 'holdout', 'all'])
def test_caption_avatars_splits(split):
    d = cap.caption_avatars(200, seed=0, split=split)
    assert d.images.shape == (200, 3, 32, 32) and d.images.dtype == np.float32
    assert d.attributes.shape == (200, 5) and d.attributes.dtype == np.int64
    allowed = {'train': cap.AVATAR_TRAIN_CAPTIONS, 'holdout': cap.AVATAR_HOLDOUT_CAPTIONS,
               'all': cap.AVATAR_CAPTIONS}[split]
    assert set(d.captions) <= set(allowed)
    np.testing.assert_array_equal(d.attributes, cap.avatar_caption_attributes(d.captions))
    np.testing.assert_array_equal(d.images, sg.data.render_avatars(d.attributes))
    d2 = cap.caption_avatars(200, seed=0, split=split)
    assert d.captions == d2.captions
    assert cap.caption_avatars(0, seed=0).images.shape == (0, 3, 32, 32)


def test_attribute_classifiers_for_avatars():
    """One classifier per avatar feature, trained briefly on real avatars: (N, 5)
    predictions, and accessories (3 values) read far above chance on fresh avatars."""
    d = cap.caption_avatars(1200, seed=0, split='all')
    clf = sg.metrics.train_attribute_classifiers(d.images, d.attributes, captions='avatars',
                                                 epochs=2, seed=0)
    e = cap.caption_avatars(200, seed=1, split='holdout')
    assert clf.predict(e.images).shape == (200, 5)
    acc = sg.metrics.attribute_accuracy(clf, e.images, e.captions)
    assert set(acc) == set(FEATURE_NAMES) | {'all'}
    assert acc['accessories'] > 0.6 and acc['hair_colour'] > 0.4, acc
    with pytest.raises(ValueError, match=r"shape \(200, 5\)"):
        sg.metrics.attribute_accuracy(clf, e.images, e.attributes[:, :3])
