"""Procedurally generated sequence tasks for small GPTs: addition and sorting.

Every example is one fixed-length string: a prompt that ends in '=' followed by the
answer. All strings of a task have the same length, so a batch is a plain (n, L)
array of character ids.

addition_task(digits=k)
    "a+b=c" with a and b zero-padded to k digits and the sum c to k+1 digits, e.g.
    k=2: "07+35=042". With ``reverse_answer=True`` the answer digits are written
    least significant first ("07+35=240"), the order in which a left-to-right model
    can compute the carries. Length 3k+3; the prompt is the first 2k+2 characters.

sort_task(length=m, n_symbols=s)
    "x=y", x m digits drawn uniformly from 0..s-1 (repeats allowed), y the same
    digits in ascending order, e.g. "31402=01234". Length 2m+1; prompt m+1.

Train and test problems are drawn together without replacement from all possible
problems, then split, so no test problem appears in training (as an exact string;
"35+07" may be a test problem while "07+35" is a training one).

For next-token training: ``x, y, mask = task.xy('train')`` gives inputs
``tokens[:, :-1]``, targets ``tokens[:, 1:]`` and a (L-1,) boolean mask that is True
at the target positions holding answer characters (score the loss there only).
"""
from dataclasses import dataclass, field

import numpy as np

from .dataset import as_generator
from .text import CharTokenizer
from ..checks import int_at_least, int_in


@dataclass
class SequenceTask:
    """A generated task: strings, the tokenizer, and where the answer starts."""
    name: str
    train: list
    test: list
    prompt_length: int
    tokenizer: CharTokenizer = field(repr=False)

    @property
    def length(self):
        return len(self.train[0]) if self.train else len(self.test[0])

    def _split(self, split):
        if split not in ('train', 'test'):
            raise ValueError(f"{self.name}: split must be 'train' or 'test', got {split!r}")
        return self.train if split == 'train' else self.test

    def tokens(self, split='train'):
        """int64 (n, L) ids of every example of ``split``."""
        return self.tokenizer.encode_batch(self._split(split))

    def xy(self, split='train'):
        """(inputs, targets, answer_mask) for next-token prediction (module docstring)."""
        t = self.tokens(split)
        mask = np.arange(1, self.length) >= self.prompt_length
        return t[:, :-1], t[:, 1:], mask

    def prompts(self, split='test'):
        """The prompts (up to and including '=') and the expected answers, as strings."""
        s = self._split(split)
        return [p[:self.prompt_length] for p in s], [p[self.prompt_length:] for p in s]


def _distinct_problems(total, n_train, n_test, seed, where):
    if n_train < 0 or n_test < 0:
        raise ValueError(f"{where}: n_train and n_test must be non-negative, "
                         f"got {n_train}, {n_test}")
    if n_train + n_test > total:
        raise ValueError(f"{where}: asked for {n_train} + {n_test} distinct problems but only "
                         f"{total} exist")
    codes = as_generator(seed, where).choice(total, n_train + n_test, replace=False)
    return codes[:n_train], codes[n_train:]


def _default_sizes(total, n_train, n_test):
    if n_test is None:
        n_test = min(1000, total // 5)
    if n_train is None:
        n_train = min(20000, total - n_test)
    return n_train, n_test


def addition_task(digits=2, n_train=None, n_test=None, seed=None, reverse_answer=False):
    """k-digit addition problems "a+b=c" (format in the module docstring).

    Defaults: n_test = min(1000, total/5), n_train = min(20000, the rest), where
    total = 10^(2k) is the number of distinct problems.
    """
    k = int_in(digits, 1, 9, 'digits', 'addition_task')
    total = 10 ** (2 * k)
    n_train, n_test = _default_sizes(total, n_train, n_test)
    tr, te = _distinct_problems(total, int(n_train), int(n_test), seed, 'addition_task')

    def fmt(code):
        a, b = divmod(int(code), 10 ** k)
        c = f"{a + b:0{k + 1}d}"
        return f"{a:0{k}d}+{b:0{k}d}=" + (c[::-1] if reverse_answer else c)

    tok = CharTokenizer(chars='0123456789+=')
    return SequenceTask(f'addition{k}', [fmt(c) for c in tr], [fmt(c) for c in te],
                        prompt_length=2 * k + 2, tokenizer=tok)


def sort_task(length=5, n_symbols=10, n_train=None, n_test=None, seed=None):
    """Sorting problems "x=sorted(x)" over the digits 0..n_symbols-1 (module docstring)."""
    int_in(n_symbols, 2, 10, 'n_symbols', 'sort_task')
    if int_at_least(length, 2, 'length', 'sort_task') and n_symbols ** length >= 2 ** 62:
        raise ValueError(f"sort_task: length must be an int >= 2 with n_symbols**length < 2**62, "
                         f"got length={length!r}")
    m, s = int(length), int(n_symbols)
    total = s ** m
    n_train, n_test = _default_sizes(total, n_train, n_test)
    tr, te = _distinct_problems(total, int(n_train), int(n_test), seed, 'sort_task')

    def fmt(code):
        seq = []
        code = int(code)
        for _ in range(m):                 # base-s digits of the problem's code
            code, d = divmod(code, s)
            seq.append(str(d))
        return ''.join(seq) + '=' + ''.join(sorted(seq))

    tok = CharTokenizer(chars='0123456789=')
    return SequenceTask(f'sort{m}', [fmt(c) for c in tr], [fmt(c) for c in te],
                        prompt_length=m + 1, tokenizer=tok)
