"""ChatGPT's three steps in miniature (models/rlhf.py): the Bradley-Terry, DPO and PPO
objectives against hand computations and gradcheck, GAE on a hand-made trajectory, the
KL terms against direct computations, and two short runs that learn: a reward model
ranking a separable preference, and DPO raising the chosen-vs-rejected margin."""
import itertools
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import gradcheck
from scratchgen.models.gpt import GPT, GPTConfig
from scratchgen.models.rlhf import (PPOConfig, ScalarGPT, answer_logits, answer_logprobs,
                                    bradley_terry_loss, dpo_loss, gae, kl_penalised_rewards,
                                    ppo_clip_loss, sequence_logprob, sft_loss, token_kl)

TINY = dict(vocab_size=5, block_size=6, n_layer=1, n_head=2, n_embd=16)


def tiny_gpt(seed=0, dtype=None, **changes):
    sg.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **changes}), dtype=dtype)


def f64(values, grad=True):
    return sg.tensor(np.array(values, dtype=np.float64), requires_grad=grad)


def softplus(x):
    return math.log1p(math.exp(x))


# ----------------------------------------------------------------------------- step 2
def test_bradley_terry_loss_equals_hand_computation():
    rc, rr = f64([1.0, -0.5, 2.0]), f64([0.0, 0.5, -1.0])
    loss = bradley_terry_loss(rc, rr)
    # -log sigma(d) for d = 1, -1, 3
    want = np.mean([-math.log(1 / (1 + math.exp(-d))) for d in (1.0, -1.0, 3.0)])
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.item(), want, rtol=1e-12)
    loss.backward()      # d/d rc of mean(-log sigma(rc - rr)) = -(1 - sigma(d)) / n
    sig = 1 / (1 + np.exp(-np.array([1.0, -1.0, 3.0])))
    np.testing.assert_allclose(rc.grad.numpy(), -(1 - sig) / 3, rtol=1e-12)
    np.testing.assert_allclose(rr.grad.numpy(), (1 - sig) / 3, rtol=1e-12)


def test_bradley_terry_loss_gradcheck_and_errors():
    rng = np.random.default_rng(0)
    rc, rr = f64(rng.standard_normal(6)), f64(rng.standard_normal(6))
    assert gradcheck(bradley_terry_loss, [rc, rr], name='bradley_terry_loss')
    with pytest.raises(ValueError, match=r'bradley_terry_loss: inputs must have one shape, '
                                         r'got r_chosen \(6,\), r_rejected \(5,\)'):
        bradley_terry_loss(rc, f64(np.zeros(5)))


# ----------------------------------------------------------------------------- step 3b
def test_dpo_loss_equals_hand_computation():
    lw, ll = f64([-1.0, -2.0]), f64([-3.0, -1.0])
    rw, rl = f64([-1.5, -2.0]), f64([-2.0, -1.5])
    # margins: (-1 + 1.5) - (-3 + 2) = 1.5 and (-2 + 2) - (-1 + 1.5) = -0.5; beta 0.5
    want = (softplus(-0.5 * 1.5) + softplus(-0.5 * -0.5)) / 2
    np.testing.assert_allclose(dpo_loss(lw, ll, rw, rl, beta=0.5).item(), want, rtol=1e-12)
    # beta -> larger makes a positive margin cheaper and a negative one dearer
    assert dpo_loss(lw[:1], ll[:1], rw[:1], rl[:1], beta=2.0).item() < softplus(-0.75)


def test_dpo_loss_gradcheck_and_errors():
    rng = np.random.default_rng(1)
    xs = [f64(rng.standard_normal(5)) for _ in range(4)]
    assert gradcheck(lambda *a: dpo_loss(*a, beta=0.3), xs, name='dpo_loss')
    with pytest.raises(ValueError, match=r'dpo_loss: beta must be'):
        dpo_loss(*xs, beta=0.0)


# ----------------------------------------------------------------------------- step 3a
def test_ppo_clip_loss_equals_hand_computation_on_both_branches():
    ratios = np.array([0.5, 1.0, 1.5, 1.1, 0.5])
    adv = np.array([1.0, -1.0, 1.0, -2.0, -1.0])
    old = np.array([-1.0, -0.3, -2.0, -0.7, -1.2])
    logp = f64(old + np.log(ratios))
    # min(r A, clip(r, 0.8, 1.2) A): 0.5 (unclipped), -1, 1.2 (clipped: r = 1.5 > 1.2 with
    # A > 0), -2.2, -0.8 (clipped: r = 0.5 < 0.8 with A < 0)
    terms = np.array([0.5, -1.0, 1.2, -2.2, -0.8])
    loss = ppo_clip_loss(logp, sg.tensor(old), sg.tensor(adv), clip_eps=0.2)
    np.testing.assert_allclose(loss.item(), -terms.mean(), rtol=1e-12)
    loss.backward()      # d/d logp of -r A / n on the unclipped terms, 0 on the clipped ones
    unclipped = np.array([1, 1, 0, 1, 0], dtype=bool)
    np.testing.assert_allclose(logp.grad.numpy(), np.where(unclipped, -ratios * adv / 5, 0.0),
                               rtol=1e-12, atol=1e-15)


def test_ppo_clip_loss_gradcheck():
    rng = np.random.default_rng(2)
    old = rng.standard_normal((3, 4))
    # ratios away from the clip edges 0.8 and 1.2 (the objective has kinks there)
    ratio = rng.choice([0.5, 0.9, 1.05, 1.5], size=(3, 4)) + rng.uniform(-0.03, 0.03, (3, 4))
    logp = f64(old + np.log(ratio))
    adv = sg.tensor(rng.standard_normal((3, 4)))
    assert gradcheck(lambda lp: ppo_clip_loss(lp, sg.tensor(old), adv, 0.2), [logp],
                     name='ppo_clip_loss')


def test_gae_and_kl_rewards_on_a_hand_made_trajectory():
    # two episodes of three steps; per-token KL log-ratios and a final score
    logp = np.array([[-1.0, -0.5, -0.2], [-2.0, -1.0, -0.1]])
    ref = np.array([[-1.5, -0.5, -0.4], [-1.0, -1.0, -0.3]])
    scores = np.array([2.0, -1.0])
    rewards = kl_penalised_rewards(scores, logp, ref, kl_coef=0.1)
    want_r = np.array([[-0.05, 0.0, -0.02 + 2.0], [0.1, 0.0, -0.02 - 1.0]])
    np.testing.assert_allclose(rewards, want_r, rtol=1e-12)

    values = np.array([[0.5, 1.0, 1.5], [0.0, -0.5, -1.0]])
    g, lam = 0.9, 0.5
    adv, ret = gae(rewards, values, gamma=g, lam=lam)
    for b in range(2):
        r, v = want_r[b], values[b]
        d3 = r[2] - v[2]                            # the episode ends: V after it is 0
        d2 = r[1] + g * v[2] - v[1]
        d1 = r[0] + g * v[1] - v[0]
        a3 = d3
        a2 = d2 + g * lam * a3
        a1 = d1 + g * lam * a2
        np.testing.assert_allclose(adv[b], [a1, a2, a3], rtol=1e-12)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-12)
    # gamma = lam = 1: the advantage is the return-to-go minus the value
    adv1, _ = gae(rewards, values, gamma=1.0, lam=1.0)
    togo = np.cumsum(want_r[:, ::-1], axis=1)[:, ::-1]
    np.testing.assert_allclose(adv1, togo - values, rtol=1e-12)
    with pytest.raises(ValueError, match=r'gae: rewards and values must both be \(B, A\)'):
        gae(rewards, values[:, :2])


def test_ppo_config_checks():
    assert PPOConfig().kl_coef == 0.1
    with pytest.raises(ValueError, match='PPOConfig: clip_eps must be'):
        PPOConfig(clip_eps=0)
    with pytest.raises(ValueError, match='PPOConfig: lam must be'):
        PPOConfig(lam=1.5)


# ----------------------------------------------------------------------------- KL
def test_token_kl_equals_direct_computation():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    got = token_kl(f64(a), f64(b))
    want = np.zeros((2, 3))
    for i, j in itertools.product(range(2), range(3)):
        p = np.exp(a[i, j]) / np.exp(a[i, j]).sum()
        q = np.exp(b[i, j]) / np.exp(b[i, j]).sum()
        want[i, j] = sum(p[v] * math.log(p[v] / q[v]) for v in range(4))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    assert (got.numpy() > 0).all()
    assert gradcheck(lambda x: token_kl(x, f64(b, grad=False)), [f64(a)], name='token_kl')


def test_summed_token_kl_is_the_sequence_kl():
    """Enumerate every 2-token answer of a 3-token vocabulary: the sequence KL
    sum_y pi(y) log(pi(y) / pi_ref(y)) (the mean of the one-sample estimate log pi(y) -
    log pi_ref(y) that PPO's penalty uses) equals E_pi[sum_t KL_t] (the chain rule)."""
    pol, ref = tiny_gpt(0, sg.float64, vocab_size=3), tiny_gpt(1, sg.float64, vocab_size=3)
    prompt = [2, 0]
    answers = list(itertools.product(range(3), repeat=2))
    toks = sg.tensor(np.array([prompt + list(y) for y in answers]))
    with sg.no_grad():
        lp = sequence_logprob(pol, toks, 2).numpy()
        lr = sequence_logprob(ref, toks, 2).numpy()
        kl_t = token_kl(answer_logits(pol, toks, 2), answer_logits(ref, toks, 2)).numpy()
    p = np.exp(lp)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    direct = float((p * (lp - lr)).sum())
    np.testing.assert_allclose((p * kl_t.sum(axis=1)).sum(), direct, rtol=1e-10)
    assert direct > 1e-4


def test_answer_logprobs_and_sft_loss_score_the_answer_only():
    model = tiny_gpt(0)
    rng = np.random.default_rng(4)
    toks = sg.tensor(rng.integers(0, 5, (3, 6)))
    lp = answer_logprobs(answer_logits(model, toks, 4), toks[:, 4:])
    logits, _ = model(toks[:, :-1])
    full = logits.numpy()
    logsm = full - np.log(np.exp(full).sum(-1, keepdims=True))
    want = np.stack([logsm[:, 3 + t][np.arange(3), toks.numpy()[:, 4 + t]] for t in range(2)], 1)
    np.testing.assert_allclose(lp.numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(sft_loss(model, toks, 4).item(), -want.mean(), rtol=1e-5)
    targets = np.where(np.arange(5) >= 3, toks.numpy()[:, 1:], -1)   # GPT's own masked loss
    _, gpt_loss = model(toks[:, :-1], sg.tensor(targets))
    np.testing.assert_allclose(sft_loss(model, toks, 4).item(), gpt_loss.item(), rtol=1e-5)
    with pytest.raises(ValueError, match=r'sft_loss: prompt_length 6 leaves no answer'):
        sft_loss(model, toks, 6)


# ----------------------------------------------------------------------------- learning
def test_scalar_gpt_reuses_the_gpt_body():
    gpt = tiny_gpt(0)
    rm = ScalarGPT.from_gpt(gpt)
    toks = sg.tensor(np.random.default_rng(5).integers(0, 5, (2, 6)))
    np.testing.assert_array_equal(rm.body.hidden_states(toks).numpy(),
                                  gpt.hidden_states(toks).numpy())
    assert rm(toks).shape == (2, 6)
    np.testing.assert_array_equal(rm(toks).numpy(), 0.0)        # zero head: scores start at 0
    with pytest.raises(TypeError, match='ScalarGPT.from_gpt: expected a GPT'):
        ScalarGPT.from_gpt(rm)


def _separable_pairs(n, rng):
    """Prompt of 3 random tokens, answer of 3; chosen answers are all 1s, rejected all 2s."""
    prompts = rng.integers(0, 5, (n, 3))
    return (np.concatenate([prompts, np.full((n, 3), 1)], 1),
            np.concatenate([prompts, rng.integers(2, 5, (n, 3))], 1))


def test_reward_model_learns_a_separable_preference():
    rng = np.random.default_rng(6)
    rm = ScalarGPT.from_gpt(tiny_gpt(0))
    opt = sg.optim.Adam(rm.parameters(), lr=3e-3)
    test_c, test_r = _separable_pairs(200, rng)

    def accuracy():
        with sg.no_grad():
            return float(np.mean(rm(sg.tensor(test_c)).numpy()[:, -1] >
                                 rm(sg.tensor(test_r)).numpy()[:, -1]))
    for _ in range(40):
        c, r = _separable_pairs(32, rng)
        loss = bradley_terry_loss(rm(sg.tensor(c))[:, -1], rm(sg.tensor(r))[:, -1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f'reward model held-out accuracy {accuracy():.3f}, loss {loss.item():.3f}')
    assert accuracy() >= 0.95
    assert loss.item() < 0.3


def test_dpo_raises_the_chosen_vs_rejected_margin():
    rng = np.random.default_rng(7)
    ref = tiny_gpt(0)
    policy = tiny_gpt(0)
    opt = sg.optim.Adam(policy.parameters(), lr=3e-3)
    test_c, test_r = _separable_pairs(200, rng)

    def margin(model_c, model_r):
        return float(np.mean(model_c - model_r))

    with sg.no_grad():
        ref_c = sequence_logprob(ref, sg.tensor(test_c), 3).numpy()
        ref_r = sequence_logprob(ref, sg.tensor(test_r), 3).numpy()

    def heldout_margin():
        with sg.no_grad():
            pc = sequence_logprob(policy, sg.tensor(test_c), 3).numpy()
            pr = sequence_logprob(policy, sg.tensor(test_r), 3).numpy()
        return margin(pc - ref_c, pr - ref_r)
    before = heldout_margin()
    for _ in range(30):
        c, r = _separable_pairs(32, rng)
        with sg.no_grad():
            rc = sequence_logprob(ref, sg.tensor(c), 3)
            rr = sequence_logprob(ref, sg.tensor(r), 3)
        loss = dpo_loss(sequence_logprob(policy, sg.tensor(c), 3),
                        sequence_logprob(policy, sg.tensor(r), 3), rc, rr, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(before) < 1e-6                      # the policy starts as the reference
    after = heldout_margin()
    print(f'DPO held-out margin {before:.3g} -> {after:.3g}, loss {loss.item():.3f}')
    assert after > 3.0
    assert loss.item() < math.log(2) - 0.3
