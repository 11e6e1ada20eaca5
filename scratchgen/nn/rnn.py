"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

A recurrent layer reads a sequence x_1 .. x_T one step at a time and carries a hidden
state h_t (and, for the LSTM, a cell state c_t) from each step to the next. With
W_i* the input weights and W_h* the hidden weights of each gate (PyTorch's equations
and gate order, so weights copy across one to one; sigma is the logistic sigmoid,
* an elementwise product):

    RNN   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)        (or relu)

    LSTM  i = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)         input gate
          f = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)         forget gate
          g =  tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)         candidate
          o = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)         output gate
          c_t = f * c_{t-1} + i * g
          h_t = o * tanh(c_t)

    GRU   r = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)         reset gate
          z = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)         update gate
          n =  tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))   candidate
          h_t = (1 - z) * n + z * h_{t-1}

The gates' weights are stacked in one matrix per layer: ``weight_ih_l{k}`` is
(G*H, I) (G = 1, 4, 3 gates; [i|f|g|o] for the LSTM, [r|z|n] for the GRU) and
``weight_hh_l{k}`` is (G*H, H); ``bias_ih_l{k}``, ``bias_hh_l{k}`` are (G*H,). Layer
k > 0 reads the hidden states of layer k - 1 (with dropout in between when
``dropout`` > 0). ``bidirectional`` adds a second set (suffix ``_reverse``) that reads
the sequence backwards; the two directions' outputs are concatenated.

Everything is built from existing ops (linear, sigmoid, tanh, chunk, stack), so the
gradient through time -- backpropagation through time -- is the graph walk over the
unrolled loop, and it is gradient-checked like any other composition.
Equations, code mapping and measurements: docs/rnn.md.
"""
import math

from .. import functional as F
from ..autograd import Tensor
from ..checks import number, one_of, positive_int
from . import functional as nnF
from . import init
from ._utils import new_parameter
from .module import Module

__all__ = ['RNN', 'LSTM', 'GRU', 'RNNCell', 'LSTMCell', 'GRUCell',
           'rnn_step', 'lstm_step', 'gru_step']


# ----------------------------------------------------------------------------- one step
# Each step takes ``xw``, the input's part of the gates (x W_ih^T + b_ih, precomputed),
# the previous state and the hidden weights; the layers and the cells share them.
def rnn_step(xw, h, w_hh, b_hh, nonlinearity='tanh'):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh); xw (B, H) is the input part."""
    pre = xw + nnF.linear(h, w_hh, b_hh)
    return F.tanh(pre) if nonlinearity == 'tanh' else F.relu(pre)


def lstm_step(xw, h, c, w_hh, b_hh):
    """One LSTM step: xw (B, 4H) the input part of the gates, (h, c) (B, H) each ->
    (h_t, c_t)."""
    gates = xw + nnF.linear(h, w_hh, b_hh)              # (B, 4H) = [i | f | g | o]
    i, f, g, o = F.chunk(gates, 4, dim=-1)
    i, f, g, o = F.sigmoid(i), F.sigmoid(f), F.tanh(g), F.sigmoid(o)
    c = f * c + i * g           # keep f of the old memory, write i of the candidate g
    h = o * F.tanh(c)           # expose o of the squashed memory
    return h, c


def gru_step(xw, h, w_hh, b_hh):
    """One GRU step: xw (B, 3H) = x W_ih^T + b_ih, h (B, H) -> h_t."""
    x_r, x_z, x_n = F.chunk(xw, 3, dim=-1)               # W_i* x + b_i*
    h_r, h_z, h_n = F.chunk(nnF.linear(h, w_hh, b_hh), 3, dim=-1)   # W_h* h + b_h*
    r = F.sigmoid(x_r + h_r)
    z = F.sigmoid(x_z + h_z)
    n = F.tanh(x_n + r * h_n)   # the reset gate scales the hidden part, bias b_hn included
    return (1 - z) * n + z * h  # z = 1 keeps the old state unchanged


_GATES = {'RNN_TANH': 1, 'RNN_RELU': 1, 'LSTM': 4, 'GRU': 3}


def _check_float(x, what, ref, who):
    """``x`` must be a floating Tensor of ``ref``'s dtype (a parameter's)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {what} must be a Tensor, got {type(x).__name__}")
    if x.dtype != ref.dtype:
        raise TypeError(f"{who}: {what} has dtype {x.dtype} but the parameters are "
                        f"{ref.dtype}; convert one with .to(dtype)")


# ----------------------------------------------------------------------------- layers
class _RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: parameters, checks and the loop over
    layers and directions. Subclasses set ``mode``."""

    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = positive_int(input_size, 'input_size', who)
        self.hidden_size = positive_int(hidden_size, 'hidden_size', who)
        self.num_layers = positive_int(num_layers, 'num_layers', who)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = number(dropout, 'dropout', who, low=0, high=1)
        self.bidirectional = bool(bidirectional)
        G, H, D = _GATES[self.mode], self.hidden_size, self.num_directions
        # registered in PyTorch's order: per layer, per direction, w_ih, w_hh, b_ih, b_hh
        for layer in range(self.num_layers):
            for direction in range(D):
                sfx = self._suffix(layer, direction)
                fan_in = self.input_size if layer == 0 else H * D
                setattr(self, 'weight_ih' + sfx, new_parameter(G * H, fan_in, device=device,
                                                               dtype=dtype))
                setattr(self, 'weight_hh' + sfx, new_parameter(G * H, H, device=device,
                                                               dtype=dtype))
                for name in ('bias_ih', 'bias_hh'):
                    if self.bias:
                        setattr(self, name + sfx, new_parameter(G * H, device=device,
                                                                dtype=dtype))
                    else:
                        self.register_parameter(name + sfx, None)
        self.reset_parameters()

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer, direction):
        return f"_l{layer}" + ('_reverse' if direction else '')

    def reset_parameters(self):
        """PyTorch's default: every weight and bias U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer, direction):
        sfx = self._suffix(layer, direction)
        return tuple(getattr(self, n + sfx) for n in ('weight_ih', 'weight_hh', 'bias_ih',
                                                      'bias_hh'))

    # ------------------------------------------------------------------ checks
    def _check_input(self, input):
        """input -> (x time-major (T, B, I), batched?)."""
        who = type(self).__name__
        _check_float(input, 'input', self.weight_ih_l0, who)
        want = '(N, L, input_size)' if self.batch_first else '(L, N, input_size)'
        time_dim = 1 if input.ndim == 3 and self.batch_first else 0
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size or \
                input.shape[time_dim] == 0:
            raise ValueError(f"{who}: input of shape {input.shape} must be {want} "
                             f"(or (L, input_size) unbatched) with input_size "
                             f"{self.input_size} and at least one time step")
        if input.ndim == 2:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _check_state(self, h, name, batch, batched):
        """An initial state (L*D, B, H) (or (L*D, H) unbatched) -> (L*D, B, H)."""
        who = type(self).__name__
        _check_float(h, name, self.weight_ih_l0, who)
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if not batched:
            shape = shape[:1] + shape[2:]
        if h.shape != shape:
            raise ValueError(f"{who}: {name} of shape {h.shape} must be {shape} "
                             f"(num_layers * num_directions, {'batch, ' if batched else ''}"
                             f"hidden_size)")
        return h if batched else h.unsqueeze(1)

    # ------------------------------------------------------------------ forward
    def forward(self, input, hx=None):
        """input (L, N, I), or (N, L, I) with ``batch_first``, or (L, I) unbatched;
        hx: h_0 (num_layers * num_directions, N, H) (for the LSTM a pair (h_0, c_0)),
        zeros when None. Returns (output (L, N, D*H) -- the last layer's h_t at every
        step, batch first if the input was -- and h_n, or (h_n, c_n) for the LSTM)."""
        x, batched = self._check_input(input)
        states = self._initial_states(hx, x.shape[1], batched, x)      # one per layer*direction
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                seq = x if direction == 0 else F.flip(x, 0)
                out, state = self._run(seq, states[k], *self._weights(layer, direction))
                outs.append(out if direction == 0 else F.flip(out, 0))
                finals.append(state)
            x = outs[0] if len(outs) == 1 else F.cat(outs, axis=2)          # (T, B, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return self._finish(x, finals, batched)

    def _initial_states(self, hx, batch, batched, x):
        """A list of num_layers * num_directions initial states, each (B, H) (a pair
        for the LSTM)."""
        n = self.num_layers * self.num_directions
        if hx is None:
            zeros = Tensor(x.xp.zeros((batch, self.hidden_size), dtype=x.dtype))
            return [zeros] * n
        h0 = self._check_state(hx, 'h0', batch, batched)
        return [h0[k] for k in range(n)]

    def _finish(self, out, finals, batched):
        h_n = F.stack(finals, 0)                                          # (L*D, B, H)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        if not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
        return out, h_n

    def _run(self, x, state, w_ih, w_hh, b_ih, b_hh):
        """One layer, one direction over the whole sequence: x (T, B, I) -> (output
        (T, B, H), final state)."""
        # The input's part of every gate does not depend on the recurrence, so it is
        # computed for all T steps at once: one (T*B, I) x (I, G*H) GEMM instead of T
        # small (B, I) ones. That moves half of the multiply work out of the sequential
        # loop, where each small GEMM and its Python overhead would be paid T times.
        xw = nnF.linear(x, w_ih, b_ih)                                    # (T, B, G*H)
        B, GH = xw.shape[1], xw.shape[2]
        outputs = []
        for xw_t in F.split(xw, 1, dim=0):                                # T x (1, B, G*H)
            state = self._step(xw_t.reshape(B, GH), state, w_hh, b_hh)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return F.stack(outputs, 0), state

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (``nonlinearity``
    'tanh' or 'relu'), ``num_layers`` stacked. Arguments, shapes and parameter names
    as ``torch.nn.RNN``; see the module docstring."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        self.nonlinearity = one_of(nonlinearity, ('tanh', 'relu'), 'nonlinearity', 'RNN')
        self.mode = 'RNN_TANH' if nonlinearity == 'tanh' else 'RNN_RELU'
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def _step(self, xw, h, w_hh, b_hh):
        return rnn_step(xw, h, w_hh, b_hh, self.nonlinearity)

    def extra_repr(self):
        return super().extra_repr() + (", nonlinearity='relu'" if self.nonlinearity == 'relu'
                                       else '')


class LSTM(_RNNBase):
    """Long short-term memory, ``num_layers`` stacked: gates i, f, g, o (in that order in
    the weights), c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t). ``forward(input,
    (h_0, c_0))`` returns ``(output, (h_n, c_n))``. As ``torch.nn.LSTM`` (no
    ``proj_size``)."""

    mode = 'LSTM'

    def _initial_states(self, hx, batch, batched, x):
        if hx is None:
            zeros = super()._initial_states(None, batch, batched, x)
            return [(z, z) for z in zeros]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTM: hx must be a pair (h0, c0), got {type(hx).__name__}")
        h0 = self._check_state(hx[0], 'h0', batch, batched)
        c0 = self._check_state(hx[1], 'c0', batch, batched)
        return [(h0[k], c0[k]) for k in range(h0.shape[0])]

    def _step(self, xw, state, w_hh, b_hh):
        return lstm_step(xw, state[0], state[1], w_hh, b_hh)

    def _finish(self, out, finals, batched):
        out, h_n = super()._finish(out, [s[0] for s in finals], batched)
        c_n = F.stack([s[1] for s in finals], 0)
        return out, (h_n, c_n if batched else c_n.squeeze(1))


class GRU(_RNNBase):
    """Gated recurrent unit, ``num_layers`` stacked: gates r, z, n (in that order),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.
    As ``torch.nn.GRU``."""

    mode = 'GRU'

    def _step(self, xw, h, w_hh, b_hh):
        return gru_step(xw, h, w_hh, b_hh)


# ----------------------------------------------------------------------------- cells
class _CellBase(Module):
    """One step of a recurrent layer: parameters weight_ih (G*H, I), weight_hh (G*H, H),
    bias_ih, bias_hh (G*H,), all U(-1/sqrt(H), 1/sqrt(H)) as PyTorch."""

    gates = None

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = positive_int(input_size, 'input_size', who)
        self.hidden_size = positive_int(hidden_size, 'hidden_size', who)
        self.bias = bool(bias)
        GH = self.gates * self.hidden_size
        self.weight_ih = new_parameter(GH, self.input_size, device=device, dtype=dtype)
        self.weight_hh = new_parameter(GH, self.hidden_size, device=device, dtype=dtype)
        for name in ('bias_ih', 'bias_hh'):
            if self.bias:
                setattr(self, name, new_parameter(GH, device=device, dtype=dtype))
            else:
                self.register_parameter(name, None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _input_part(self, input):
        """input (B, I) or (I,) -> (xw (B, G*H), batch, batched?)."""
        who = type(self).__name__
        _check_float(input, 'input', self.weight_ih, who)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{who}: input of shape {input.shape} must be (N, "
                             f"{self.input_size}) or ({self.input_size},) unbatched")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        return nnF.linear(x, self.weight_ih, self.bias_ih), x.shape[0], batched

    def _state(self, h, name, batch, batched, ref):
        """A state (B, H) (or (H,) unbatched), zeros when None -> (B, H)."""
        who = type(self).__name__
        if h is None:
            return Tensor(ref.xp.zeros((batch, self.hidden_size), dtype=ref.dtype))
        _check_float(h, name, self.weight_ih, who)
        shape = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if h.shape != shape:
            raise ValueError(f"{who}: {name} of shape {h.shape} must be {shape}")
        return h if batched else h.unsqueeze(0)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ('' if self.bias else ', bias=False')


class RNNCell(_CellBase):
    """``forward(input, hx=None) -> h'``; see ``rnn_step``. As ``torch.nn.RNNCell``."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity='tanh', device=None,
                 dtype=None):
        self.nonlinearity = one_of(nonlinearity, ('tanh', 'relu'), 'nonlinearity', 'RNNCell')
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        xw, B, batched = self._input_part(input)
        h = rnn_step(xw, self._state(hx, 'hx', B, batched, xw), self.weight_hh, self.bias_hh,
                     self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """``forward(input, (h, c)=None) -> (h', c')``; see ``lstm_step``. As
    ``torch.nn.LSTMCell``."""

    gates = 4

    def forward(self, input, hx=None):
        xw, B, batched = self._input_part(input)
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a pair (h, c), got {type(hx).__name__}")
        h, c = (None, None) if hx is None else hx
        h, c = lstm_step(xw, self._state(h, 'h', B, batched, xw),
                         self._state(c, 'c', B, batched, xw), self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """``forward(input, hx=None) -> h'``; see ``gru_step``. As ``torch.nn.GRUCell``."""

    gates = 3

    def forward(self, input, hx=None):
        xw, B, batched = self._input_part(input)
        h = gru_step(xw, self._state(hx, 'hx', B, batched, xw), self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
