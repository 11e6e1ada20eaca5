"""``CharTokenizer``: text <-> integer ids, one id per character.

The vocabulary is the sorted set of characters seen by ``fit`` (or given as
``chars``), so the same texts always give the same ids.

Unknown characters: by default ``encode`` raises a ValueError naming the character
and its position (silent replacement hides bugs in a task's alphabet). Pass
``unk='?'`` (any single character) to map unknown characters to that character's id
instead; it is added to the vocabulary.
"""
import numpy as np


class CharTokenizer:
    """Character-level tokenizer.

        tok = CharTokenizer().fit(["12+34=046"])
        ids = tok.encode("12+34")        # list of ints
        tok.decode(ids) == "12+34"
    """

    def __init__(self, chars=None, unk=None):
        if unk is not None and (not isinstance(unk, str) or len(unk) != 1):
            raise ValueError(f"CharTokenizer: unk must be a single character or None, got {unk!r}")
        self.unk = unk
        self.itos = []
        self.stoi = {}
        if chars is not None:
            self.fit([''.join(chars)])

    def fit(self, texts):
        """Build the vocabulary from a string or an iterable of strings; returns self."""
        if isinstance(texts, str):
            texts = [texts]
        chars = set()
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"CharTokenizer.fit: expected strings, got {type(t).__name__}")
            chars.update(t)
        if self.unk is not None:
            chars.add(self.unk)
        if not chars:
            raise ValueError("CharTokenizer.fit: no characters to build a vocabulary from")
        self.itos = sorted(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        return self

    @property
    def vocab_size(self):
        return len(self.itos)

    def _check_fitted(self, where):
        if not self.itos:
            raise RuntimeError(f"CharTokenizer.{where}: call fit(texts) first (or pass chars=)")

    def encode(self, text):
        """A string -> list of ids."""
        self._check_fitted('encode')
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected a string, got {type(text).__name__}")
        if self.unk is not None:
            u = self.stoi[self.unk]
            return [self.stoi.get(c, u) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            raise ValueError(f"CharTokenizer.encode: character {e.args[0]!r} at position {pos} "
                             f"of {text!r} is not in the vocabulary {''.join(self.itos)!r}; "
                             "refit, or build with unk='?' to map unknown characters") from None

    def encode_batch(self, texts):
        """Equally long strings -> int64 array (n, L)."""
        texts = list(texts)
        lengths = {len(t) for t in texts}
        if len(lengths) > 1:
            raise ValueError(f"CharTokenizer.encode_batch: strings must have equal lengths, got "
                             f"lengths {sorted(lengths)}")
        out = np.array([self.encode(t) for t in texts], dtype=np.int64)
        return out.reshape(len(texts), lengths.pop() if lengths else 0)

    def decode(self, ids):
        """Ids (a list, a NumPy array or an ``sg.Tensor``) -> a string."""
        self._check_fitted('decode')
        if hasattr(ids, 'tolist'):          # NumPy array or Tensor: explicit host copy
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        out = []
        for i in ids:
            if isinstance(i, list):
                raise ValueError("CharTokenizer.decode: expected a 1-d sequence of ids; decode "
                                 "rows one at a time")
            if not 0 <= int(i) < len(self.itos):
                raise ValueError(f"CharTokenizer.decode: id {i} is out of range for a vocabulary "
                                 f"of size {len(self.itos)}")
            out.append(self.itos[int(i)])
        return ''.join(out)

    def __repr__(self):
        return f"CharTokenizer(vocab={''.join(self.itos)!r}, unk={self.unk!r})"
