"""The character-level LSTM language model: parameter count, state carried across
calls, gradients, errors, generation, and learning a text that needs memory."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.models.rnn_lm import CharLSTM, CharLSTMConfig

TINY = dict(vocab_size=7, n_embd=5, hidden_size=6, num_layers=2)


def ids(rows, seed=0, vocab=TINY['vocab_size']):
    return sg.tensor(np.random.default_rng(seed).integers(0, vocab, rows))


def test_parameter_count_formula():
    for cfg in (TINY, dict(vocab_size=90, n_embd=64, hidden_size=200, num_layers=3)):
        model = CharLSTM(CharLSTMConfig(**cfg))
        assert model.num_parameters() == CharLSTMConfig.parameter_count(**cfg)


def test_state_continues_the_text():
    """Two calls with the state passed on give the logits of one call on the whole."""
    model = CharLSTM(CharLSTMConfig(**TINY)).double()
    x = ids((2, 9))
    whole, _, _ = model(x)
    a, _, state = model(x[:, :4])
    b, _, _ = model(x[:, 4:], state=state)
    np.testing.assert_allclose(np.concatenate([a.numpy(), b.numpy()], 1), whole.numpy(),
                               rtol=1e-12, atol=1e-14)


def test_initial_loss_near_uniform_and_gradcheck():
    model = CharLSTM(CharLSTMConfig(vocab_size=5, n_embd=2, hidden_size=2, num_layers=1))
    model = model.double()
    x, y = ids((2, 3), vocab=5), ids((2, 3), seed=1, vocab=5)
    assert abs(model(x, y)[1].item() - math.log(5)) < 0.5
    params = list(model.parameters())
    assert sg.gradcheck(lambda *p: model(x, y)[1], params)


def test_errors():
    model = CharLSTM(CharLSTMConfig(**TINY))
    with pytest.raises(ValueError, match=r"CharLSTM.forward: idx must be a \(B, T\) integer"):
        model(sg.randn(2, 5))
    with pytest.raises(ValueError, match=r"targets must be a \(2, 5\) integer Tensor"):
        model(ids((2, 5)), ids((2, 4)))
    with pytest.raises(ValueError, match="CharLSTMConfig: hidden_size must be a positive int"):
        CharLSTMConfig(hidden_size=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.generate(ids((1, 3)), 2, temperature=0.0)
    with pytest.raises(TypeError, match="expected a CharLSTMConfig"):
        CharLSTM(TINY)


def test_generate_keeps_the_prompt_and_greedy_is_deterministic():
    model = CharLSTM(CharLSTMConfig(**TINY))
    prompt = ids((2, 3))
    out = model.generate(prompt, 5)
    assert out.shape == (2, 8) and out.dtype.kind == 'i'
    np.testing.assert_array_equal(out.numpy()[:, :3], prompt.numpy())
    assert ((out.numpy() >= 0) & (out.numpy() < TINY['vocab_size'])).all()
    g1, g2 = model.generate(prompt, 5, greedy=True), model.generate(prompt, 5, greedy=True)
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    # greedy generation continues as the model's own argmax, step by step
    logits = model(g1[:, :-1])[0].numpy()
    np.testing.assert_array_equal(logits[:, 2:].argmax(-1), g1.numpy()[:, 3:])


def test_learns_a_text_that_needs_memory():
    """'a....x ' or 'b....y ' at random: whether x or y follows the dots was set 5
    characters back. Without memory the choice between x and y costs ln 2 = 0.69
    nats; the LSTM must bring it under 0.1 in 300 steps (it reaches < 0.002 for seeds
    0-2)."""
    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    text = ''.join(rng.choice(['a....x ', 'b....y ']) for _ in range(300))
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    model = CharLSTM(CharLSTMConfig(vocab_size=len(chars), n_embd=8, hidden_size=16,
                                    num_layers=1))
    opt = model.configure_optimizers(weight_decay=0.0, learning_rate=3e-2)
    T, B = 16, 16
    for step in range(300):
        starts = rng.integers(0, len(data) - T - 1, B)
        rows = starts[:, None] + np.arange(T + 1)
        _, loss, _ = model(sg.tensor(data[rows[:, :-1]]), sg.tensor(data[rows[:, 1:]]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = data[:300]
    with sg.no_grad():
        logits = model(sg.tensor(x[None, :-1]))[0].numpy()[0]
    xy = [chars.index('x'), chars.index('y')]
    due = np.isin(x[1:], xy)                          # positions where x or y comes next
    two = logits[due][:, xy]
    two = two - np.logaddexp.reduce(two, -1, keepdims=True)
    right = (x[1:][due] == xy[1]).astype(int)
    nats = -two[np.arange(len(two)), right].mean()
    assert nats < 0.1, f"x-or-y nats {nats:.3f} (ln 2 = 0.69 without memory)"
