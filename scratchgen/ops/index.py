"""Indexing ops: ``x[key]``, gather, index_select, masked_fill, embedding.

Two Functions do all the selecting, and each is the other's adjoint:

* ``GetItem(key)``: ``y = x[key]`` on the raw array (ints, slices with any step, None,
  integer arrays, and mixtures of them);
* ``GetItemGrad(key)``: ``g = zeros(x.shape); g[key] += gy``, as ONE scatter-add
  (``backend.scatter_add``), so repeated indices accumulate (``g[key] += gy`` in NumPy
  or CuPy would silently keep only one of them). Its backward is ``GetItem`` again, so
  gradients of gradients need no extra code.

gather, index_select and embedding are indexing with a key built for them (so their
gradient is the same scatter-add). ``MaskedFill`` is the one other Function.

Keys are normalised once, in ``_parse_key``: index Tensors, Python lists and host arrays
are moved to the tensor's device explicitly (CuPy and the emu device refuse host arrays
mixed in), boolean masks become the integer arrays of their True positions (NumPy's own
definition of a mask, and what scatter-add needs), an Ellipsis becomes full slices,
indices out of range raise IndexError naming the shape (CuPy would not check), and a key
mixing ints and index arrays is applied in two GetItems, basic part first, as PyTorch
orders the result dims.
"""
import numbers
import operator

from .. import backend
from ..autograd import Function, Tensor
from .shape import _dim


__all__ = ['getitem', 'gather', 'index_select', 'masked_fill', 'embedding']


# ----------------------------------------------------------------------------- keys
def _index_array(k, device, who):
    """An index given as a Tensor, backend array, list or tuple -> an int or bool array
    on ``device`` (moved explicitly when it lives elsewhere, e.g. on the host)."""
    arr = k.data if isinstance(k, Tensor) else k
    if not backend.is_array(arr):
        arr = backend.asarray(k, device='cpu')       # host data such as [0, 2, 2]
        if arr.size == 0:
            arr = arr.astype(backend.int64)          # [] parses as float64
    if arr.dtype.kind not in 'iub':
        raise IndexError(f"{who}: index arrays must hold integers or bools, got dtype {arr.dtype}")
    if backend.device_of(arr) != device:
        arr = backend.to_device(arr, device)
    return arr


def _check_range(idx, n, dim, shape, who, allow_negative=True):
    """IndexError unless every index in ``idx`` addresses dim ``dim`` (size n) of ``shape``."""
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())     # two scalars cross to the host
    low = -n if allow_negative else 0
    if lo < low or hi >= n:
        bad = lo if lo < low else hi
        allowed = f"[{-n}, {n})" if allow_negative else f"[0, {n})"
        raise IndexError(f"{who}: index {bad} is out of range for dim {dim} of size {n} "
                         f"(tensor shape {shape}; allowed {allowed})")


def _dims_used(part):
    if part is None or part is Ellipsis:
        return 0
    if backend.is_array(part) and part.dtype.kind == 'b':
        return part.ndim
    return 1


def _parse_key(key, shape, device):
    """Normalise an indexing key for an array of ``shape`` on ``device``.

    As in PyTorch, indexing runs in two stages: the basic part (ints, slices, None) first,
    as a view; then the index arrays on what remains, with ``:`` for every other dim.
    (NumPy differs when an int and an array are separated by a slice: ``x[0, :, [1, 1]]``
    has shape (3, 2) in PyTorch and here, (2, 3) in NumPy, for x of shape (2, 3, 4).)

    Returns the keys of the stages to apply, each as (key, advanced): tuples of ints,
    slices, None and device int arrays, with no Ellipsis and no bool masks.
    """
    who = 'getitem'
    key = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in key:
        if k is None or k is Ellipsis:
            parts.append(k)
        elif isinstance(k, slice):
            try:
                parts.append(slice(*(None if v is None else operator.index(v)
                                     for v in (k.start, k.stop, k.step))))
            except TypeError:
                raise IndexError(f"{who}: slice {k} must have int (or None) bounds and step "
                                 f"(tensor shape {shape})") from None
            if parts[-1].step == 0:
                raise ValueError(f"{who}: slice step cannot be zero (tensor shape {shape})")
        elif isinstance(k, bool):
            raise IndexError(f"{who}: a bare bool index is not supported (tensor shape {shape}); "
                             "use None to add a dim, or a bool tensor as a mask")
        elif isinstance(k, (Tensor, list, tuple)) or backend.is_array(k):
            arr = _index_array(k, device, who)
            if arr.ndim == 0 and arr.dtype.kind == 'b':
                raise IndexError(f"{who}: a 0-d bool mask is not supported (tensor shape {shape})")
            if arr.ndim == 0:     # as in PyTorch, a 0-d integer index acts as an int
                parts.append(int(arr.item()))
            else:
                parts.append(arr)
        else:
            try:
                parts.append(operator.index(k))
            except TypeError:
                raise IndexError(f"{who}: unsupported index {k!r} of type {type(k).__name__} "
                                 f"(tensor shape {shape}); use ints, slices, None, ..., integer "
                                 "or bool tensors") from None
    if sum(p is Ellipsis for p in parts) > 1:
        raise IndexError(f"{who}: an index can only have a single ellipsis (tensor shape {shape})")
    used = sum(_dims_used(p) for p in parts)
    if used > len(shape):
        raise IndexError(f"{who}: too many indices for a tensor of shape {shape}: "
                         f"{used} dims indexed")
    basic, arrays = [], []     # stage 1 key (on x), stage 2 key (on the stage 1 result)
    dim = 0
    for p in parts:
        if p is None:
            basic.append(None)
            arrays.append(slice(None))
        elif p is Ellipsis:
            n = len(shape) - used
            basic.extend([slice(None)] * n)
            arrays.extend([slice(None)] * n)
            dim += n
        elif isinstance(p, slice):
            basic.append(p)
            arrays.append(slice(None))
            dim += 1
        elif isinstance(p, int):
            if not -shape[dim] <= p < shape[dim]:
                raise IndexError(f"{who}: index {p} is out of range for dim {dim} of size "
                                 f"{shape[dim]} (tensor shape {shape})")
            basic.append(p)      # the dim is gone after stage 1: nothing in stage 2
            dim += 1
        elif p.dtype.kind == 'b':
            covered = tuple(shape[dim:dim + p.ndim])
            if tuple(p.shape) != covered:
                raise IndexError(f"{who}: bool mask of shape {tuple(p.shape)} does not match "
                                 f"dims {dim}..{dim + p.ndim - 1} {covered} of tensor shape "
                                 f"{shape}")
            basic.extend([slice(None)] * p.ndim)
            arrays.extend(p.nonzero())     # a mask means "the positions where it is True"
            dim += p.ndim
        else:
            _check_range(p, shape[dim], dim, shape, who)
            basic.append(slice(None))
            arrays.append(p)
            dim += 1
    stages = []
    if any(b != slice(None) for b in basic):
        stages.append((tuple(basic), False))
    if any(backend.is_array(a) for a in arrays):
        stages.append((tuple(arrays), True))
    return stages or [((), False)]


# ----------------------------------------------------------------------------- Functions
class GetItem(Function):
    """``y = x[key]`` for a key normalised by ``_parse_key``."""

    def __init__(self, key, advanced):
        self.key, self.advanced = key, advanced

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.key]

    def backward(self, gy):
        return GetItemGrad(self.key, self.advanced, self.in_shape)(gy)


class GetItemGrad(Function):
    """The adjoint of GetItem: ``g = zeros(in_shape); g[key] += gy`` with repeats summed."""

    def __init__(self, key, advanced, in_shape):
        self.key, self.advanced, self.in_shape = key, advanced, tuple(in_shape)

    def forward(self, gy):
        g = self.xp_of(gy).zeros(self.in_shape, dtype=gy.dtype)
        if self.advanced:
            backend.scatter_add(g, self.key, gy)
        else:
            g[self.key] = gy     # basic indexing never repeats a position: plain assignment
        return g

    def backward(self, ggx):
        return GetItem(self.key, self.advanced)(ggx)


class MaskedFill(Function):
    """``where(mask, value, x)``; the gradient flows only where the mask is False."""

    def __init__(self, value):
        self.value = value

    def forward(self, x, mask):
        xp = self.xp_of(x)
        try:
            y = xp.where(mask, xp.asarray(self.value, dtype=x.dtype), x)
        except ValueError:
            y = None
        if y is None or tuple(y.shape) != tuple(x.shape):
            raise ValueError(f"masked_fill: mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to the input shape {tuple(x.shape)}")
        return y

    def backward(self, gy):
        return MaskedFill(0.0)(gy, self.inputs[1]), None


# ----------------------------------------------------------------------------- functional API
def getitem(x, key):
    """``x[key]``: NumPy-style keys (also negative steps), PyTorch's order of result dims
    for keys mixing ints and index arrays; differentiable (gradient: one scatter-add)."""
    for stage_key, advanced in _parse_key(key, x.shape, x.device):
        x = GetItem(stage_key, advanced)(x)
    return x


def _int_index(index, x, who):
    arr = _index_array(index, x.device, who)
    if arr.dtype.kind == 'b':
        raise IndexError(f"{who}: index must hold integers, got dtype bool")
    return arr


def gather(x, dim, index):
    """``torch.gather``: ``out[i][j][k] = x[index[i][j][k]][j][k]`` for dim=0 (and so on).
    ``index`` has x's number of dims and, outside ``dim``, no larger sizes than x."""
    d = _dim(dim, x.ndim, 'gather', x.shape)
    idx = _int_index(index, x, 'gather')
    if idx.ndim != x.ndim or any(idx.shape[i] > x.shape[i] for i in range(x.ndim) if i != d):
        raise ValueError(f"gather: index of shape {tuple(idx.shape)} does not fit input of "
                         f"shape {x.shape} along dim {d} (same number of dims, and no larger "
                         "sizes outside dim)")
    _check_range(idx, x.shape[d], d, x.shape, 'gather', allow_negative=False)
    # advanced indexing: `index` picks along dim; aranges keep the position in every other dim
    xp = x.xp
    key = tuple(idx if i == d else
                xp.arange(idx.shape[i]).reshape([-1 if j == i else 1 for j in range(x.ndim)])
                for i in range(x.ndim))
    return GetItem(key, True)(x)


def index_select(x, dim, index):
    """``torch.index_select``: the entries at a 1-d ``index`` along ``dim``."""
    d = _dim(dim, x.ndim, 'index_select', x.shape)
    idx = _int_index(index, x, 'index_select')
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-d, got shape {tuple(idx.shape)}")
    _check_range(idx, x.shape[d], d, x.shape, 'index_select', allow_negative=False)
    return GetItem((slice(None),) * d + (idx.reshape(-1),), True)(x)


def masked_fill(x, mask, value):
    """``value`` where the bool ``mask`` (broadcast to x's shape) is True, else ``x``.
    ``value`` is a number (a 0-d Tensor is read as a number, without gradient)."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise TypeError("masked_fill: a value that requires grad is not supported; "
                            "use a Python number")
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"masked_fill: value must be a number, got {type(value).__name__}")
    if not isinstance(mask, Tensor):
        mask = Tensor(_index_array(mask, x.device, 'masked_fill'))
    if mask.dtype.kind != 'b':
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask.dtype} "
                        f"(shape {mask.shape})")
    return MaskedFill(value)(x, mask)


def embedding(input, weight, padding_idx=None):
    """``F.embedding``: rows of ``weight`` (num_embeddings, dim) at the integer ``input``;
    output shape ``input.shape + (dim,)``. Repeated ids add their gradients into one row;
    the row ``padding_idx`` (if given) gets no gradient."""
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-d (num_embeddings, dim), got shape "
                         f"{weight.shape}")
    idx = _int_index(input, weight, 'embedding')
    _check_range(idx, weight.shape[0], 0, weight.shape, 'embedding', allow_negative=False)
    out = GetItem((idx,), True)(weight)
    if padding_idx is None:
        return out
    pad = padding_idx + weight.shape[0] if padding_idx < 0 else padding_idx
    if not 0 <= pad < weight.shape[0]:
        raise IndexError(f"embedding: padding_idx {padding_idx} is out of range for "
                         f"weight of shape {weight.shape}")
    is_pad = Tensor(idx == pad)[..., None]
    # padding rows keep their value but are cut from the graph
    return masked_fill(out, is_pad, 0.0) + out.detach() * is_pad


TENSOR_METHODS = {
    '__getitem__': getitem, 'gather': gather, 'index_select': index_select,
    'masked_fill': masked_fill,
}
