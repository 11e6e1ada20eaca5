"""A character-level LSTM language model: the recurrent network the transformer replaced.

Objective. The same as the GPT's (models/gpt.py): for token ids x_1 .. x_T, minimise
the average next-token cross-entropy in nats per token,

    L(theta) = -1/T sum_{t=1}^{T} log p_theta(x_{t+1} | x_{<=t}),

but the history x_{<=t} reaches the prediction through a fixed-size state carried
from step to step instead of through attention over every earlier position:

    e_t = wte[x_t]                                (B, T, E) embedding
    (h_t, c_t) = LSTM(e_t, (h_{t-1}, c_{t-1}))    num_layers stacked, hidden size H
    logits_t = head(h_t)                          (B, T, vocab)

So the context has no block size: a state passed back in (``state=``) continues the
text where the last call stopped, at the cost of one sequential step per character.
The LSTM's equations, backpropagation through time and the LSTM-vs-GPT measurements:
docs/rnn.md.
"""
from dataclasses import dataclass

from .. import checks, nn
from ..autograd import Tensor, no_grad
from .gpt import adamw_decay_matrices, check_generate_args, next_token_loss, pick_next_token

__all__ = ['CharLSTMConfig', 'CharLSTM']


@dataclass
class CharLSTMConfig:
    """Sizes of a CharLSTM: ``n_embd`` the embedding size, ``hidden_size`` and
    ``num_layers`` the LSTM's, ``dropout`` between the LSTM layers and before the head."""
    vocab_size: int = 65
    n_embd: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0

    def __post_init__(self):
        for name in ('vocab_size', 'n_embd', 'hidden_size', 'num_layers'):
            setattr(self, name, checks.positive_int(getattr(self, name), name, 'CharLSTMConfig'))
        self.dropout = checks.number(self.dropout, 'dropout', 'CharLSTMConfig', low=0, high=1,
                                     high_open=True)

    @staticmethod
    def parameter_count(vocab_size, n_embd, hidden_size, num_layers):
        """The number of trained numbers of a CharLSTM of these sizes (without building
        it): embedding V*E, per layer 4H(in + H) + 8H, head H*V + V."""
        V, E, H = vocab_size, n_embd, hidden_size
        lstm = sum(4 * H * ((E if k == 0 else H) + H) + 8 * H for k in range(num_layers))
        return V * E + lstm + H * V + V


class CharLSTM(nn.Module):
    """The model of the module docstring. ``forward(idx, targets=None, state=None) ->
    (logits, loss, state)``."""

    def __init__(self, config, device=None, dtype=None):
        super().__init__()
        if not isinstance(config, CharLSTMConfig):
            raise TypeError(f"CharLSTM: expected a CharLSTMConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.lstm = nn.LSTM(config.n_embd, config.hidden_size, config.num_layers,
                            batch_first=True, dropout=config.dropout)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None, state=None):
        """idx (B, T) int token ids -> ``(logits (B, T, vocab), loss, state)``.

        targets (B, T) int: the next token at each position (-1: left out of the mean);
        loss is None without targets. state: the ``(h, c)`` returned by an earlier call,
        to continue that text (zeros when None); the returned state continues this one.
        """
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype.kind not in 'iu':
            got = f"shape {idx.shape}, dtype {idx.dtype}" if isinstance(idx, Tensor) \
                else type(idx).__name__
            raise ValueError(f"CharLSTM.forward: idx must be a (B, T) integer Tensor, got {got}")
        h, state = self.lstm(self.wte(idx), state)           # (B, T, H)
        logits = self.head(self.drop(h))                     # (B, T, vocab)
        loss = None if targets is None else next_token_loss(logits, targets, 'CharLSTM.forward')
        return logits, loss, state

    def configure_optimizers(self, weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.95),
                             eps=1e-8):
        """AdamW with weight decay on the matrices only (the GPT's grouping)."""
        return adamw_decay_matrices(self, weight_decay, learning_rate, betas, eps)

    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, greedy=False):
        """Continue each row of idx (B, T) by ``max_new_tokens`` tokens -> (B, T + new).
        The prompt is read once; each new token is fed alone with the carried state
        (the whole history is in the state, there is no window to crop). Each token is
        drawn from softmax(logits / temperature), or is the most likely one when
        ``greedy``."""
        check_generate_args(idx, max_new_tokens, temperature, greedy, 'CharLSTM.generate')
        xp = idx.xp
        tokens, state, feed = idx.data, None, idx.data
        with nn.evaluating(self):
            for _ in range(max_new_tokens):
                logits, _, state = self(Tensor(feed), state=state)
                feed = pick_next_token(logits.data[:, -1, :], temperature, greedy=greedy)
                feed = feed.astype(tokens.dtype)
                tokens = xp.concatenate([tokens, feed], axis=1)
        return Tensor(tokens)
