"""CharTokenizer and the generated sequence tasks (addition, sorting): format, token
arrays for a GPT, answer masks, and train/test disjointness."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import CharTokenizer, addition_task, sort_task


def test_tokenizer_round_trip_and_vocab():
    tok = CharTokenizer().fit(['hello world', 'abc'])
    assert tok.vocab_size == len(set('hello worldabc'))
    assert tok.itos == sorted(set('hello worldabc'))
    ids = tok.encode('hello abc')
    assert all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == 'hello abc'
    assert tok.decode(np.array(ids)) == 'hello abc'
    batch = tok.encode_batch(['abc', 'cba'])
    assert batch.shape == (2, 3) and batch.dtype == np.int64


def test_tokenizer_decodes_device_tensors(device):
    tok = CharTokenizer(chars='0123456789+=')
    t = sg.tensor(np.array(tok.encode('12+34=046')), device=device)
    assert tok.decode(t) == '12+34=046'


def test_unknown_characters():
    tok = CharTokenizer(chars='ab')
    with pytest.raises(ValueError, match=r"'z' at position 2 of 'abz'"):
        tok.encode('abz')
    tok = CharTokenizer(chars='ab', unk='?')
    assert tok.vocab_size == 3
    assert tok.decode(tok.encode('azb')) == 'a?b'
    with pytest.raises(ValueError, match='out of range'):
        tok.decode([3])
    with pytest.raises(RuntimeError, match='fit'):
        CharTokenizer().encode('a')
    with pytest.raises(ValueError, match='equal lengths'):
        CharTokenizer(chars='ab').encode_batch(['a', 'ab'])


@pytest.mark.parametrize('reverse', [False, True])
def test_addition_format_and_correctness(reverse):
    task = addition_task(digits=3, n_train=500, n_test=100, seed=0, reverse_answer=reverse)
    assert task.length == 3 * 3 + 3 and task.prompt_length == 8
    for s in task.train + task.test:
        assert len(s) == 12 and s[3] == '+' and s[7] == '='
        a, b = int(s[:3]), int(s[4:7])
        ans = s[8:][::-1] if reverse else s[8:]
        assert int(ans) == a + b and len(ans) == 4


@pytest.mark.parametrize('make', [lambda: addition_task(2, seed=1),
                                  lambda: addition_task(4, n_train=3000, n_test=500, seed=1),
                                  lambda: sort_task(4, n_symbols=5, seed=1)])
def test_train_and_test_are_disjoint(make):
    task = make()
    assert len(set(task.train)) == len(task.train)
    assert len(set(task.test)) == len(task.test)
    assert not set(task.train) & set(task.test)
    assert len(task.test) > 0


def test_addition_k1_uses_all_problems_and_too_many_is_an_error():
    task = addition_task(1, n_train=80, n_test=20, seed=0)
    assert len(set(task.train) | set(task.test)) == 100
    with pytest.raises(ValueError, match='only 100 exist'):
        addition_task(1, n_train=90, n_test=20)


def test_determinism_per_seed():
    assert addition_task(2, seed=3).train == addition_task(2, seed=3).train
    assert addition_task(2, seed=3).train != addition_task(2, seed=4).train


def test_sort_format():
    task = sort_task(length=6, n_symbols=4, n_train=200, n_test=50, seed=0)
    assert task.prompt_length == 7 and task.length == 13
    for s in task.train:
        x, y = s.split('=')
        assert y == ''.join(sorted(x)) and set(x) <= set('0123')


def test_gpt_tensors_and_answer_mask():
    task = addition_task(2, n_train=64, n_test=16, seed=0)
    x, y, mask = task.xy('train')
    assert x.shape == (64, 8) and y.shape == (64, 8) and x.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    # the masked targets decode to exactly the answers
    prompts, answers = task.prompts('train')
    for row, p, a in zip(y, prompts, answers):
        assert task.tokenizer.decode(row[mask]) == a
        assert p.endswith('=') and len(p) == task.prompt_length
    assert task.tokenizer.vocab_size == 12
    with pytest.raises(ValueError, match='split'):
        task.tokens('valid')
