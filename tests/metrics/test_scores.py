import numpy as np
import pytest

from scratchgen import metrics


def _onehot(labels, k):
    return np.eye(k)[labels]


def test_inception_score_extremes():
    # confident and evenly spread over K classes -> K; all the same distribution -> 1
    assert metrics.inception_score(_onehot(np.arange(40) % 4, 4)) == pytest.approx(4.0)
    rng = np.random.default_rng(0)
    row = rng.dirichlet(np.ones(5))
    assert metrics.inception_score(np.tile(row, (30, 1))) == pytest.approx(1.0)
    # confident but only two of four classes -> 2
    assert metrics.inception_score(_onehot(np.arange(40) % 2, 4)) == pytest.approx(2.0)


def test_inception_score_matches_direct_formula():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(6) * 0.3, size=200)
    p_y = p.mean(0)
    direct = np.exp(np.mean([np.sum(r * np.log(r / p_y)) for r in p]))
    assert metrics.inception_score(p) == pytest.approx(direct, rel=1e-10)


def test_mode_score_penalises_marginal_mismatch():
    probs = _onehot(np.arange(60) % 3, 3)                  # uniform over 3 classes
    uniform = np.ones(3) / 3
    assert metrics.mode_score(probs, uniform) == pytest.approx(metrics.inception_score(probs))
    skewed = np.array([0.7, 0.2, 0.1])
    expected = 3.0 * np.exp(-np.sum(uniform * np.log(uniform / skewed)))
    assert metrics.mode_score(probs, skewed) == pytest.approx(expected)
    assert metrics.mode_score(probs, skewed) < metrics.inception_score(probs)
    # generating a class the data never has: infinitely far from p_data
    assert metrics.mode_score(probs, np.array([0.5, 0.5, 0.0])) == 0.0


@pytest.mark.parametrize('bad', [np.ones((5, 3)), np.ones(3) / 3, np.full((4, 1), 1.0),
                                 -np.eye(3)])
def test_scores_reject_bad_probs(bad):
    with pytest.raises(ValueError, match='inception_score: probs'):
        metrics.inception_score(bad)


def test_mode_score_rejects_bad_marginal():
    probs = _onehot(np.arange(6) % 3, 3)
    with pytest.raises(ValueError, match=r'mode_score: p_data must have shape \(3,\)'):
        metrics.mode_score(probs, np.ones(4) / 4)
    with pytest.raises(ValueError, match='mode_score: p_data must be a distribution'):
        metrics.mode_score(probs, np.ones(3))
