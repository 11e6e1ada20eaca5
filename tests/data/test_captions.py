"""Captioned shapes: the vocabulary, the compositional hold-out, encode_captions (ids,
padding, clear errors) and caption_shapes' splits."""
import itertools

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import captions as cap


def test_all_captions_and_holdout_design():
    assert len(cap.ALL_CAPTIONS) == 63 == len(set(cap.ALL_CAPTIONS))
    assert len(cap.HOLDOUT) == 8 == len(set(cap.HOLDOUT))
    assert set(cap.HOLDOUT_CAPTIONS) <= set(cap.ALL_CAPTIONS)
    assert len(cap.TRAIN_CAPTIONS) == 55
    train = [c.split() for c in cap.TRAIN_CAPTIONS]
    # every word, and every pair of words in their slots, still appears in training
    for slot, words in enumerate((cap.SIZE_WORDS, cap.COLOUR_WORDS, cap.SHAPE_CLASSES)):
        for w in words:
            assert any(t[slot] == w for t in train), w
    for i, j in itertools.combinations(range(3), 2):
        for h in cap.HOLDOUT:
            assert any(t[i] == h[i] and t[j] == h[j] for t in train), (h, i, j)
    # the attribute indices round-trip through the captions
    a = cap.caption_attributes(cap.ALL_CAPTIONS)
    assert a.shape == (63, 3) and a.dtype == np.int64
    assert cap.caption_of(a) == list(cap.ALL_CAPTIONS)
    assert len({tuple(r) for r in a}) == 63


def test_encode_captions_ids_and_padding():
    ids, pad = sg.data.encode_captions(["small red circle", "large  cyan   square", ""])
    assert ids.shape == pad.shape == (3, 4) and ids.dtype == np.int64 and pad.dtype == bool
    V = cap.VOCAB
    assert [V[i] for i in ids[0]] == ['<cls>', 'small', 'red', 'circle']
    assert [V[i] for i in ids[1]] == ['<cls>', 'large', 'cyan', 'square']
    assert [V[i] for i in ids[2]] == ['<cls>', '<pad>', '<pad>', '<pad>']   # unconditional
    np.testing.assert_array_equal(pad, [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 1]])
    ids, pad = sg.data.encode_captions("red", context=6)
    assert ids.shape == (1, 6) and pad[0].tolist() == [False, False] + [True] * 4


def test_encode_captions_errors_name_the_word_or_the_caption():
    with pytest.raises(ValueError, match=r"unknown word 'purple' in caption 'small purple "
                                         r"circle'.*vocabulary is small, medium"):
        sg.data.encode_captions(["small red circle", "small purple circle"])
    with pytest.raises(ValueError, match=r"unknown word '<pad>'"):
        sg.data.encode_captions(["small <pad> circle"])
    with pytest.raises(ValueError, match=r"caption 'small red circle at top' has 5 words.*"
                                         r"context is 4 \(at most 3 words\)"):
        sg.data.encode_captions(["small red circle at top"])
    with pytest.raises(TypeError, match="captions must be strings"):
        sg.data.encode_captions([3])
    with pytest.raises(ValueError, match="caption_attributes: caption 'red circle'"):
        cap.caption_attributes(["red circle"])


@pytest.mark.parametrize('split', ['train', 'holdout', 'all'])
def test_caption_shapes_splits(split):
    d = sg.data.caption_shapes(300, seed=0, split=split)
    assert d.images.shape == (300, 3, 16, 16) and d.images.dtype == np.float32
    assert len(d.captions) == 300 and d.attributes.shape == (300, 3)
    allowed = {'train': cap.TRAIN_CAPTIONS, 'holdout': cap.HOLDOUT_CAPTIONS,
               'all': cap.ALL_CAPTIONS}[split]
    assert set(d.captions) <= set(allowed)
    assert len(set(d.captions)) > 0.8 * len(allowed)     # spread over the split's combos
    np.testing.assert_array_equal(d.attributes, cap.caption_attributes(d.captions))
    d2 = sg.data.caption_shapes(300, seed=0, split=split)
    np.testing.assert_array_equal(d.images, d2.images)
    assert d.captions == d2.captions


def test_caption_shapes_images_match_their_captions():
    d = sg.data.caption_shapes(200, seed=1, split='all', size=16)
    ink = d.images.sum(1) > 0.3                        # (n, H, W) pixels with the shape
    # colour: the mean colour of the shape's pixels is nearest to the named colour
    rgb = np.array([sg.data.SHAPE_COLOURS[c] for c in cap.COLOUR_WORDS])
    mean = (d.images * ink[:, None]).sum((2, 3)) / ink.sum((1, 2))[:, None]
    dist = ((mean[:, None] / np.linalg.norm(mean, axis=1)[:, None, None] -
             rgb[None] / np.linalg.norm(rgb, axis=1)[None, :, None]) ** 2).sum(-1)
    assert (dist.argmin(1) == d.attributes[:, 1]).mean() == 1.0
    # size: larger words cover more pixels on average
    area = ink.sum((1, 2))
    means = [area[d.attributes[:, 2] == s].mean() for s in range(3)]
    assert means[0] < means[1] < means[2]
    assert sg.data.caption_shapes(0, seed=0).images.shape == (0, 3, 16, 16)
    with pytest.raises(ValueError, match="caption_shapes: split must be one of"):
        sg.data.caption_shapes(4, seed=0, split='test')


def test_load_captioned_images(tmp_path):
    d = sg.data.caption_shapes(10, seed=0)
    path = tmp_path / 'caps.npz'
    np.savez(path, images=d.images, captions=np.array(d.captions))
    x, c = sg.data.load_captioned_images(path)
    np.testing.assert_array_equal(x, d.images)
    assert c == d.captions
    np.savez(tmp_path / 'a.npz', images=d.images)
    with pytest.raises(sg.data.DataFileError, match=r"a.npz' holds \['images'\] but no "
                                                    r"'captions'"):
        sg.data.load_captioned_images(tmp_path / 'a.npz')
    np.savez(tmp_path / 'b.npz', images=d.images, captions=np.array(['small red circle'] * 9))
    with pytest.raises(sg.data.DataFileError, match=r"shape \(9,\); expected 10 strings"):
        sg.data.load_captioned_images(tmp_path / 'b.npz')
    np.savez(tmp_path / 'c.npz', images=d.images, captions=np.array(['small pink circle'] * 10))
    with pytest.raises(sg.data.DataFileError, match=r"c.npz'.*unknown word 'pink'"):
        sg.data.load_captioned_images(tmp_path / 'c.npz')
