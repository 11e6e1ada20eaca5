"""Shape ops: reshape, broadcast and its adjoint sum_to, transposes, cat/split, pad, flip.

Only a handful of primitives need their own Function; each backward is its adjoint:

    Reshape    <-> Reshape back            Permute <-> inverse Permute
    BroadcastTo <-> SumTo                  Flip    <-> the same Flip
    Concatenate <-> Split                  ConstantPad(w) <-> ConstantPad(-w) (a crop)

Everything else is built from those (so it is differentiable twice for free):
transpose/swapaxes/movedim/``.T`` are permutes; squeeze/unsqueeze/flatten/view are
reshapes; expand is broadcast_to; stack is unsqueeze + cat; repeat/tile interleave unit
dims, broadcast and reshape; reflect/replicate/circular padding selects indices with
``index_select`` (whose gradient is one scatter-add).

Semantics follow PyTorch (``dim`` names a dimension; NumPy's ``axis`` keyword is
accepted where NumPy has the same function).
"""
import operator

from ..autograd import Function, Tensor
from ..checks import positive_int


__all__ = ['sum_to', 'broadcast_to', 'reshape', 'view', 'permute', 'transpose', 'swapaxes',
           'movedim', 'squeeze', 'unsqueeze', 'flatten', 'expand', 'cat', 'concatenate',
           'stack', 'split', 'chunk', 'pad', 'flip', 'repeat', 'tile', 'repeat_interleave',
           'contiguous']


# ----------------------------------------------------------------------------- helpers
def _sum_to_axes(in_shape, out_shape):
    """Axes to sum (keepdims) so that an array of in_shape becomes out_shape."""
    lead = len(in_shape) - len(out_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(out_shape) if s == 1 and in_shape[lead + i] != 1)
    return lead, axes


def _int(v, what):
    """An int from an int-like (also NumPy integers), never from a bool or a float."""
    if isinstance(v, bool):
        raise TypeError(f"{what}: expected an int, got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{what}: expected an int, got {v!r}") from None


def _dim(dim, ndim, who, shape=None):
    """A dim in [-ndim, ndim) as a non-negative int, or IndexError naming the op."""
    dim = _int(dim, f"{who}: dim")
    if not -ndim <= dim < ndim:
        where = f"shape {shape}" if shape is not None else f"{ndim} dims"
        raise IndexError(f"{who}: dim {dim} is out of range for a tensor of {where} "
                         f"(expected {-ndim} <= dim < {ndim})")
    return dim % ndim


def _sizes(args, who):
    """``f(2, 3)`` or ``f((2, 3))`` -> (2, 3), checking the entries are ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(_int(s, f"{who}: sizes {args}") for s in args)


def _dim_or_axis(dim, axis, who):
    if axis is not None:
        if dim not in (None, 0) and dim != axis:
            raise TypeError(f"{who}: got both dim={dim} and axis={axis}")
        return axis
    return 0 if dim is None else dim


# ----------------------------------------------------------------------------- Functions
class SumTo(Function):
    """Sum an array down to a shape it was broadcast from (the adjoint of BroadcastTo)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        lead, axes = _sum_to_axes(x.shape, self.shape)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return self.xp_of(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} "
                             f"to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class Reshape(Function):
    """A new shape for the same elements in C order; a view when the strides allow,
    else a copy (so it works on non-contiguous inputs, unlike ``torch.view``)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {tuple(x.shape)} "
                             f"({x.size} elements) to {self.shape}") from None

    def backward(self, gy):
        return reshape(gy, self.in_shape)


class Contiguous(Function):
    """A C-contiguous copy of a strided view (matmul on permuted views is up to 2x
    slower than on a contiguous copy, which costs far less)."""

    def forward(self, x):
        return self.xp_of(x).ascontiguousarray(x)

    def backward(self, gy):
        return gy


def contiguous(x):
    return x if x.data.flags['C_CONTIGUOUS'] else Contiguous()(x)


class Permute(Function):
    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        if len(self.axes) != x.ndim or not all(-x.ndim <= a < x.ndim for a in self.axes) \
                or sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {self.axes} is not a permutation of the "
                             f"{x.ndim} dims of shape {tuple(x.shape)}")
        return x.transpose(self.axes)

    def backward(self, gy):
        inv = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inv[a % len(self.axes)] = i
        return permute(gy, inv)


class Flip(Function):
    """Reverse the order of elements along ``dims``; its own adjoint."""

    def __init__(self, dims):
        self.dims = tuple(dims)

    def forward(self, x):
        return self.xp_of(x).flip(x, axis=self.dims)

    def backward(self, gy):
        return Flip(self.dims)(gy)


class Concatenate(Function):
    """Join arrays along ``dim``; the gradient is split back into the input sizes."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, *xs):
        self.sizes = [x.shape[self.dim] for x in xs]
        return self.xp_of(xs[0]).concatenate(xs, axis=self.dim)

    def backward(self, gy):
        return Split(self.sizes, self.dim)(gy)


class Split(Function):
    """Cut an array into consecutive pieces of the given sizes along ``dim`` (a tuple of
    outputs). Backward concatenates the pieces' gradients, zeros where a piece got none."""

    def __init__(self, sizes, dim):
        self.sizes, self.dim = list(sizes), dim

    def forward(self, x):
        self.in_shape = x.shape
        bounds, start = [], 0
        for s in self.sizes[:-1]:
            start += s
            bounds.append(start)
        return tuple(self.xp_of(x).split(x, bounds, axis=self.dim))

    def backward(self, *gys):
        xp, dtype = self.inputs[0].xp, self.inputs[0].dtype
        parts = []
        for g, s in zip(gys, self.sizes):
            if g is None:     # this piece did not reach the loss: its gradient is zero
                shape = self.in_shape[:self.dim] + (s,) + self.in_shape[self.dim + 1:]
                g = Tensor(xp.zeros(shape, dtype=dtype))
            parts.append(g)
        return Concatenate(self.dim)(*parts)


class ConstantPad(Function):
    """Pad with a constant; ``widths`` is one (before, after) pair per dim, and a negative
    width crops instead (as in PyTorch). The adjoint of padding by w is padding the
    gradient by -w with zeros: what was added is cut off, what was cut off gets 0."""

    def __init__(self, widths, value=0.0):
        self.widths, self.value = tuple(widths), value

    def forward(self, x):
        xp = self.xp_of(x)
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in self.widths]
        if any(lo or hi for lo, hi in grow):
            x = xp.pad(x, grow, mode='constant', constant_values=self.value)
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                     for (lo, hi), n in zip(self.widths, x.shape))
        return x[crop]

    def backward(self, gy):
        return ConstantPad([(-lo, -hi) for lo, hi in self.widths], 0.0)(gy)


# ----------------------------------------------------------------------------- broadcasting
def sum_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else SumTo(shape)(x)


def broadcast_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else BroadcastTo(shape)(x)


def expand(x, *sizes):
    """PyTorch ``expand``: broadcast to ``sizes``; -1 keeps that dim's size, new dims
    may be added in front. A read-only view, no copy."""
    sizes = _sizes(sizes, 'expand')
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} given for a tensor of shape "
                         f"{x.shape}; need at least {x.ndim}")
    shape = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: size -1 is not allowed in the new leading dim {i} "
                                 f"(sizes {sizes}, shape {x.shape})")
            s = x.shape[i - lead]
        elif i >= lead and x.shape[i - lead] not in (1, s):
            raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}: dim {i} has "
                             f"size {x.shape[i - lead]} (only size-1 dims can be expanded)")
        shape.append(s)
    return broadcast_to(x, shape)


# ----------------------------------------------------------------------------- reshaping
def reshape(x, *shape):
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``; one -1 is inferred."""
    shape = _sizes(shape, 'reshape')
    if shape == x.shape:
        return x
    return Reshape(shape)(x)


def view(x, *shape):
    """Alias of ``reshape``. Unlike ``torch.view`` it never fails on a non-contiguous
    input: it returns a view when the strides allow and a copy otherwise."""
    return reshape(x, *shape)


def squeeze(x, dim=None):
    """Drop size-1 dims (all, or those in ``dim``; a listed dim of other size is kept)."""
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = {_dim(d, max(x.ndim, 1), 'squeeze', x.shape) for d in dims}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim])."""
    dim = _dim(dim, x.ndim + 1, 'unsqueeze', x.shape)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim (inclusive) into one; a 0-d tensor becomes shape (1,)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start = _dim(start_dim, x.ndim, 'flatten', x.shape)
    end = _dim(end_dim, x.ndim, 'flatten', x.shape)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for shape {x.shape}")
    n = 1
    for s in x.shape[start:end + 1]:
        n *= s
    return reshape(x, x.shape[:start] + (n,) + x.shape[end + 1:])


# ----------------------------------------------------------------------------- transposes
def permute(x, *dims):
    dims = _sizes(dims, 'permute')
    if dims == tuple(range(x.ndim)):
        return x
    return Permute(dims)(x)


def transpose(x, dim0, dim1):
    """PyTorch ``transpose``: swap two dims (for NumPy's reversal use ``x.T``/``permute``)."""
    axes = list(range(x.ndim))
    a, b = _dim(dim0, x.ndim, 'transpose', x.shape), _dim(dim1, x.ndim, 'transpose', x.shape)
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, axes)


def swapaxes(x, axis0, axis1):
    """NumPy's name for ``transpose(x, dim0, dim1)``."""
    return transpose(x, axis0, axis1)


def movedim(x, source, destination):
    """Move dim ``source`` to position ``destination``, keeping the others in order."""
    src = _dim(source, x.ndim, 'movedim', x.shape)
    dst = _dim(destination, x.ndim, 'movedim', x.shape)
    order = [d for d in range(x.ndim) if d != src]
    order.insert(dst, src)
    return permute(x, order)


def _reverse_dims(x):
    """``x.T``: all dims reversed, as NumPy (a no-op for 0-d and 1-d)."""
    return x if x.ndim < 2 else permute(x, tuple(range(x.ndim - 1, -1, -1)))


def flip(x, dims):
    """Reverse the order of elements along ``dims`` (an int or a sequence)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    dims = tuple(sorted({_dim(d, x.ndim, 'flip', x.shape) for d in dims}))
    return Flip(dims)(x) if dims else x


# ----------------------------------------------------------------------------- join and split
def _check_joinable(tensors, who):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{who}: expected a non-empty list of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: expected Tensors, got {type(t).__name__}")
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(f"{who}: tensors have different dtypes "
                        f"({', '.join(str(t.dtype) for t in tensors)}); convert with .to(dtype)")
    return tensors


def cat(tensors, dim=0, axis=None):
    """Concatenate tensors along an existing dim (``torch.cat``; ``np.concatenate`` with
    ``axis=`` works too). All shapes must agree except along ``dim``."""
    tensors = _check_joinable(tensors, 'cat')
    ref = tensors[0]
    if ref.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = _dim(_dim_or_axis(dim, axis, 'cat'), ref.ndim, 'cat', ref.shape)
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(f"cat: shapes must match except in dim {d}, got {ref.shape} "
                             f"(entry 0) and {t.shape} (entry {i})")
    if len(tensors) == 1:
        return tensors[0]
    return Concatenate(d)(*tensors)


concatenate = cat


def stack(tensors, dim=0, axis=None):
    """Join equally shaped tensors along a new dim ``dim``."""
    tensors = _check_joinable(tensors, 'stack')
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise ValueError(f"stack: expects tensors of equal shape, got {ref.shape} "
                             f"(entry 0) and {t.shape} (entry {i})")
    d = _dim(_dim_or_axis(dim, axis, 'stack'), ref.ndim + 1, 'stack', ref.shape)
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    """``torch.split``: an int cuts pieces of that size (the last may be smaller); a list
    gives each piece's size (they must sum to the dim's size). Returns a tuple."""
    if x.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor")
    d = _dim(dim, x.ndim, 'split', x.shape)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} must be non-negative and sum to {n}, the "
                             f"size of dim {d} of shape {x.shape}")
    return Split(sizes, d)(x)


def chunk(x, chunks, dim=0):
    """``torch.chunk``: split into pieces of size ceil(n / chunks) (possibly fewer pieces)."""
    positive_int(chunks, 'chunks', 'chunk')
    if x.ndim == 0:
        raise ValueError("chunk: cannot chunk a 0-d tensor")
    n = x.shape[_dim(dim, x.ndim, 'chunk', x.shape)]
    return split(x, max(-(-n // chunks), 1), dim)


# ----------------------------------------------------------------------------- pad
_PAD_MODES = ('constant', 'reflect', 'replicate', 'circular')


def pad(x, pad, mode='constant', value=0.0):
    """``F.pad``: ``pad`` lists (before, after) widths starting from the LAST dim:
    ``(left, right)`` pads dim -1, ``(left, right, top, bottom)`` dims -1 and -2, ...

    mode: 'constant' (``value``; negative widths crop), 'reflect' (mirror without
    repeating the edge, widths < size), 'replicate' (repeat the edge), 'circular'
    (wrap around).
    """
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad {pad} must have an even length of at most "
                         f"2 * ndim = {2 * x.ndim} for shape {x.shape}")
    if any(not isinstance(p, int) or isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: widths must be ints, got {pad}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {_PAD_MODES}")
    k = len(pad) // 2
    # (before, after) per padded dim, last dim first -> one pair per dim, first dim first
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]
    widths = [(0, 0)] * (x.ndim - k) + pairs
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if n + lo + hi < 0:
            raise ValueError(f"pad: widths {(lo, hi)} leave a negative size for dim {d} "
                             f"of shape {x.shape}")
    if mode == 'constant':
        return ConstantPad(widths, value)(x) if any(lo or hi for lo, hi in widths) else x
    return _pad_by_index(x, widths, mode)


def _pad_by_index(x, widths, mode):
    """reflect / replicate / circular: pick, per padded dim, which input index each output
    position copies, and gather it with index_select (gradient: one scatter-add)."""
    from .index import index_select    # index builds on shape; import here to avoid a cycle
    xp = x.xp
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if not (lo or hi):
            continue
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative widths {(lo, hi)} are only allowed in constant "
                             f"mode (dim {d} of shape {x.shape})")
        if n == 0:
            raise ValueError(f"pad: cannot {mode}-pad dim {d} of size 0 (shape {x.shape})")
        if mode == 'reflect' and (lo >= n or hi >= n):
            raise ValueError(f"pad: reflect widths {(lo, hi)} must be smaller than the size "
                             f"{n} of dim {d} (shape {x.shape})")
        i = xp.arange(-lo, n + hi)
        if mode == 'replicate':
            i = xp.clip(i, 0, n - 1)
        elif mode == 'circular':
            i = i % n
        else:    # reflect about the first and last element: -1 -> 1, n -> n - 2
            i = xp.abs(i)
            i = xp.where(i > n - 1, 2 * (n - 1) - i, i)
        x = index_select(x, d, Tensor(i))
    return x


# ----------------------------------------------------------------------------- repeat
def repeat(x, *sizes):
    """``torch.Tensor.repeat``: tile ``x`` sizes[i] times along dim i; extra leading sizes
    add dims. (For NumPy's element-wise ``repeat`` see ``repeat_interleave``.)"""
    sizes = _sizes(sizes, 'repeat')
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts {sizes} given for a tensor "
                         f"of shape {x.shape}; need at least {x.ndim}")
    if any(r < 0 for r in sizes):
        raise ValueError(f"repeat: repeat counts must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    # (s0, s1, ..) -> (1, s0, 1, s1, ..) -> broadcast (r0, s0, r1, s1, ..) -> (r0*s0, r1*s1, ..)
    interleaved = reshape(x, tuple(v for s in shape for v in (1, s)))
    tiled = broadcast_to(interleaved, tuple(v for r, s in zip(sizes, shape) for v in (r, s)))
    return reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))


def tile(x, dims):
    """``torch.tile`` / ``np.tile``: like ``repeat``, but fewer counts than dims are
    padded with leading 1s."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def repeat_interleave(x, repeats, dim=None):
    """Repeat each element ``repeats`` times along ``dim`` (flattened when None), like
    ``np.repeat``. ``repeats`` is an int or one count per element (list or 1-d Tensor)."""
    if dim is None:
        x, dim = reshape(x, -1), 0
    d = _dim(dim, max(x.ndim, 1), 'repeat_interleave', x.shape)
    if x.ndim == 0:
        x = reshape(x, (1,))
    n = x.shape[d]
    if isinstance(repeats, int):
        if repeats < 0:
            raise ValueError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        y = unsqueeze(x, d + 1)
        y = broadcast_to(y, x.shape[:d + 1] + (repeats,) + x.shape[d + 1:])
        return reshape(y, x.shape[:d] + (n * repeats,) + x.shape[d + 1:])
    # explicit host transfer: the output size depends on the counts
    counts = repeats.tolist() if isinstance(repeats, Tensor) else list(repeats)
    if len(counts) != n or any(int(c) < 0 for c in counts):
        raise ValueError(f"repeat_interleave: expected {n} non-negative counts for dim {d} of "
                         f"shape {x.shape}, got {counts}")
    from .index import index_select    # see _pad_by_index
    idx = x.xp.repeat(x.xp.arange(n), [int(c) for c in counts])
    return index_select(x, d, Tensor(idx))


TENSOR_METHODS = {
    'sum_to': sum_to, 'broadcast_to': broadcast_to, 'expand': expand,
    'reshape': reshape, 'view': view, 'squeeze': squeeze, 'unsqueeze': unsqueeze,
    'flatten': flatten, 'permute': permute, 'transpose': transpose, 'swapaxes': swapaxes,
    'movedim': movedim, 'flip': flip, 'split': split, 'chunk': chunk, 'repeat': repeat,
    'tile': tile, 'repeat_interleave': repeat_interleave, 'contiguous': contiguous,
    'T': property(_reverse_dims),
    'mT': property(lambda x: transpose(x, -1, -2)),
}
