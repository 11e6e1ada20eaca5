"""Attribute accuracy (per attribute and all-correct) on a hand-made classifier,
recall@1 on a hand-made similarity matrix, and real-image attribute classifiers that
learn."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import captions as cap
from scratchgen.metrics import (attribute_accuracy, recall_at_1, train_attribute_classifiers,
                                AttributeClassifiers)


class Fixed:
    """A 'classifier' that returns fixed predictions."""

    def __init__(self, pred):
        self.pred = np.asarray(pred)

    def predict(self, images):
        return self.pred


def test_attribute_accuracy_counts_each_attribute_and_all_right():
    true = np.array([[0, 1, 2], [1, 2, 0], [2, 3, 1], [0, 0, 0]])
    pred = np.array([[0, 1, 2], [1, 5, 0], [2, 3, 0], [1, 0, 0]])
    x = np.zeros((4, 3, 16, 16), np.float32)
    acc = attribute_accuracy(Fixed(pred), x, true)
    assert acc == {'shape': 0.75, 'colour': 0.75, 'size': 0.75, 'all': 0.25}
    # captions work as the prompted attributes, one caption means every image
    acc = attribute_accuracy(Fixed(pred), x, cap.caption_of(true))
    assert acc['all'] == 0.25
    acc = attribute_accuracy(Fixed(np.tile([[2, 6, 2]], (4, 1))), x, "large white triangle")
    assert acc == {'shape': 1.0, 'colour': 1.0, 'size': 1.0, 'all': 1.0}
    with pytest.raises(ValueError, match=r"attribute_accuracy: attributes must be 4 captions "
                                         r"or an integer array of shape \(4, 3\)"):
        attribute_accuracy(Fixed(pred), x, true[:3])
    with pytest.raises(TypeError, match="classifiers must be AttributeClassifiers"):
        attribute_accuracy(object(), x, true)


def test_recall_at_1_on_a_hand_made_matrix():
    # 3 images (labels 0, 1, 1) x 2 captions (labels 0, 1)
    s = np.array([[0.9, 0.1],
                  [0.2, 0.8],
                  [0.7, 0.3]])      # image 2 (label 1) prefers caption 0: wrong
    r = recall_at_1(s, [0, 1, 1], [0, 1])
    assert r['image_to_text'] == pytest.approx(2 / 3)
    assert r['text_to_image'] == 1.0      # caption 0 -> image 0, caption 1 -> image 1
    s[1, 1] = 0.0                         # now caption 1's best image is image 2 (label 1)
    assert recall_at_1(s, [0, 1, 1], [0, 1])['text_to_image'] == 1.0
    s[2, 1] = -1.0                        # ... and now image 0 (label 0): wrong
    assert recall_at_1(s, [0, 1, 1], [0, 1])['text_to_image'] == 0.5
    with pytest.raises(ValueError, match=r"recall_at_1: similarity of shape \(3, 2\) should "
                                         r"be \(N images, M captions\) = \(3, 3\)"):
        recall_at_1(s, [0, 1, 1], [0, 1, 2])


def test_attribute_classifiers_learn_on_real_images():
    d = cap.caption_shapes(1500, seed=0, split='all')
    clf = train_attribute_classifiers(d.images, d.captions, epochs=4, seed=0)
    assert isinstance(clf, AttributeClassifiers) and set(clf.nets) == set(cap.ATTRIBUTES)
    e = cap.caption_shapes(500, seed=1, split='all')
    acc = clf.accuracy(e.images, e.attributes)
    assert acc['colour'] > 0.95 and acc['shape'] > 0.6 and acc['size'] > 0.6, acc
    assert acc['all'] <= min(acc['shape'], acc['colour'], acc['size'])
    assert clf.predict(e.images).shape == (500, 3)
