"""avatars: the feature spec, the exact joint, sampling (chi-square against the joint),
the dependencies the joint promises, and the renderer."""
import math

import numpy as np
import pytest

from scratchgen.data import (avatars, avatar_joint, avatar_entropy, render_avatar, render_avatars,
                             describe_avatar, all_avatar_combinations, AVATAR_FEATURES,
                             AVATAR_VALUES, AVATAR_SHAPE)


def test_feature_spec_matches_the_issue():
    assert AVATAR_FEATURES == ('accessories', 'clothing_colour', 'clothing_type', 'hair_colour',
                               'hair_type')
    assert AVATAR_VALUES[0] == ('Blank', 'Round', 'Sunglasses')
    assert AVATAR_VALUES[1] == ('Black', 'Blue01', 'Gray01', 'PastelGreen', 'PastelOrange',
                                'Pink', 'Red', 'White')
    assert AVATAR_VALUES[2] == ('Hoodie', 'Overall', 'ShirtScoopNeck', 'ShirtVNeck')
    assert AVATAR_VALUES[3] == ('Black', 'Blonde', 'Brown', 'PastelPink', 'Red', 'SilverGray')
    assert AVATAR_VALUES[4] == ('NoHair', 'LongHairBun', 'LongHairCurly', 'LongHairStraight',
                                'ShortHairShortWaved', 'ShortHairShortFlat', 'ShortHairFrizzle')
    assert AVATAR_SHAPE == (3, 8, 4, 6, 7) and math.prod(AVATAR_SHAPE) == 4032


def test_joint_is_a_distribution_with_full_support():
    p = avatar_joint()
    assert p.shape == (3, 8, 4, 6, 7) and p.dtype == np.float64
    assert abs(p.sum() - 1.0) < 1e-12
    assert p.min() > 0
    p[0] = 0                                    # a copy: the truth cannot be mutated
    assert avatar_joint().min() > 0
    assert 0 < avatar_entropy() < math.log(4032)


def _marg(p, keep):
    drop = tuple(a for a in range(5) if a not in keep)
    return p.sum(axis=drop)


def test_joint_has_the_documented_dependencies():
    p = avatar_joint()
    cc_hc = _marg(p, (1, 3))                    # (clothing colour, hair colour)
    white, silver = 7, 5
    p_white = cc_hc[white].sum()
    p_white_given_silver = cc_hc[white, silver] / cc_hc[:, silver].sum()
    assert p_white_given_silver > 2 * p_white
    a_ht = _marg(p, (0, 4))
    p_sun = a_ht[2].sum()
    p_sun_short = a_ht[2, 4:].sum() / a_ht[:, 4:].sum()
    assert p_sun_short > 1.3 * p_sun
    # not a product of marginals: multi-information clearly positive
    prod = np.ones(())
    for k in range(5):
        prod = np.multiply.outer(prod, _marg(p, (k,)))
    assert (p * np.log(p / prod)).sum() > 0.05


def _chi2_z(counts, probs, min_expected=5.0):
    """Pearson chi-square with cells of small expectation pooled, as a Wilson-Hilferty z."""
    n = counts.sum()
    e = n * probs
    small = e < min_expected
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(e[~small], e[small].sum())
    chi2 = ((obs - exp) ** 2 / exp).sum()
    k = len(obs) - 1
    return ((chi2 / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))


def test_samples_follow_the_joint_chi_square():
    X = avatars(100000, seed=0)
    assert X.shape == (100000, 5) and X.dtype == np.int64
    assert (X >= 0).all() and (X < np.array(AVATAR_SHAPE)).all()
    counts = np.bincount(np.ravel_multi_index(X.T, AVATAR_SHAPE), minlength=4032)
    p = avatar_joint().ravel()
    assert _chi2_z(counts, p) < 3.5                 # fits the joint (p > 2e-4)
    prod = np.ones(())                              # ... and the test can tell: it rejects
    for k in range(5):                              # the product of the marginals
        prod = np.multiply.outer(prod, _marg(avatar_joint(), (k,)))
    assert _chi2_z(counts, prod.ravel()) > 10


def test_sampling_determinism():
    np.testing.assert_array_equal(avatars(100, seed=5), avatars(100, seed=5))
    assert not np.array_equal(avatars(100, seed=5), avatars(100, seed=6))


def test_every_combination_renders_distinctly():
    X = all_avatar_combinations()
    assert X.shape == (4032, 5)
    np.testing.assert_array_equal(np.ravel_multi_index(X.T, AVATAR_SHAPE), np.arange(4032))
    imgs = render_avatars(X)
    assert imgs.shape == (4032, 3, 32, 32) and imgs.dtype == np.float32
    assert imgs.min() >= 0 and imgs.max() <= 1
    assert len({im.tobytes() for im in imgs}) == 4032


@pytest.mark.parametrize('feature', range(5))
def test_each_feature_changes_the_image_noticeably(feature):
    base = np.array([0, 0, 0, 0, 1])
    imgs = []
    for v in range(AVATAR_SHAPE[feature]):
        x = base.copy()
        x[feature] = v
        imgs.append(render_avatar(x))
    for i in range(len(imgs)):
        for j in range(i):
            assert np.abs(imgs[i] - imgs[j]).max() > 0.1, (AVATAR_FEATURES[feature], i, j)


def test_render_avatar_forms_and_errors():
    one = render_avatar([1, 7, 3, 5, 0])
    assert one.shape == (32, 32, 3) and one.dtype == np.float32
    by_name = render_avatar(['Round', 'White', 'ShirtVNeck', 'SilverGray', 'NoHair'])
    np.testing.assert_array_equal(one, by_name)
    d = describe_avatar([1, 7, 3, 5, 0])
    assert d == {'accessories': 'Round', 'clothing_colour': 'White',
                 'clothing_type': 'ShirtVNeck', 'hair_colour': 'SilverGray',
                 'hair_type': 'NoHair'}
    np.testing.assert_array_equal(render_avatar(d), one)
    np.testing.assert_array_equal(render_avatars([[1, 7, 3, 5, 0]], channels_last=True)[0], one)
    with pytest.raises(ValueError, match='hair_type index 7 is out of range'):
        render_avatar([0, 0, 0, 0, 7])
    with pytest.raises(ValueError, match='5 features'):
        render_avatars(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="'Green' is not a clothing_colour"):
        render_avatar(['Blank', 'Green', 'Hoodie', 'Black', 'NoHair'])
