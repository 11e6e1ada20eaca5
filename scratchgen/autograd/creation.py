"""Tensor factories: ``tensor``, ``zeros``, ``randn``, ... (PyTorch names and defaults)."""
import numpy as np

from .. import backend
from .tensor import Tensor


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"expected a shape of non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _check_numeric(dtype, who, what):
    """Tensors hold numbers: bool, int, unsigned or float (no strings, objects, complex)."""
    if dtype.kind not in 'biuf':
        kind = {'U': 'strings', 'S': 'bytes', 'O': 'Python objects', 'c': 'complex numbers'}.get(
            dtype.kind, f"dtype {dtype}")
        raise TypeError(f"{who}: cannot build a tensor from {what} holding {kind} (dtype "
                        f"{dtype}); expected bool, integer or floating-point data")


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf tensor from Python data, a NumPy/backend array or a Tensor (copied).
    Python floats become the default dtype (float32); NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        _check_numeric(data.dtype, 'tensor', type(data).__name__)
        device = device if device is not None else backend.device_of(data)
        arr = backend.to_device(data, device, dtype)
        if arr is data:
            arr = arr.copy()
    else:
        try:
            host = np.asarray(data, dtype=dtype)
        except (TypeError, ValueError) as e:       # ragged lists, strings cast to float, ...
            raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} "
                            f"({e}); expected numbers, nested lists of equal length, or an "
                            "array") from None
        if dtype is None and host.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
            host = host.astype(backend.get_default_dtype())
        _check_numeric(host.dtype, 'tensor', type(data).__name__)
        arr = backend.to_device(host, device)
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but returns ``data`` itself when it already fits."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)) and \
            (device is None or data.device == backend.canonical_device(device)):
        return data
    return tensor(data, dtype, device)


def _fill(fn, size, dtype, device, requires_grad):
    xp = backend.array_module(device)
    return Tensor(fn(xp, _shape(size), _dtype(dtype)), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _fill(lambda xp, s, d: xp.zeros(s, dtype=d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _fill(lambda xp, s, d: xp.ones(s, dtype=d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _fill(lambda xp, s, d: xp.empty(s, dtype=d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    size = (size,) if isinstance(size, int) else size
    return _fill(lambda xp, s, d: xp.full(s, fill_value, dtype=d), (size,), dtype, device,
                 requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the seeded generator (``sg.manual_seed``)."""
    return Tensor(backend.randn(_shape(size), _dtype(dtype), device), requires_grad=requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) samples from the seeded generator."""
    return Tensor(backend.rand(_shape(size), _dtype(dtype), device), requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64, device=None):
    """Integers in [low, high) (or [0, low) when high is omitted), like torch.randint."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    return Tensor(backend.randint(low, high, _shape((size,) if isinstance(size, int) else size),
                                  dtype, device))


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if is_int else backend.get_default_dtype()
    xp = backend.array_module(device)
    return Tensor(xp.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    xp = backend.array_module(device)
    return Tensor(xp.linspace(start, end, steps, dtype=_dtype(dtype)), requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    xp = backend.array_module(device)
    return Tensor(xp.eye(n, m, dtype=_dtype(dtype)), requires_grad=requires_grad)


def host_array(x, dtype=None, who='host_array'):
    """A host NumPy array from a Tensor, a backend array on any device, or Python data
    (explicit transfer; for host-side code such as metrics, plots and file I/O).
    ``who`` names the caller (and argument) in the error for data that is not numeric."""
    if isinstance(x, Tensor):
        x = x.data
    if backend.is_array(x) and backend.device_of(x) != 'cpu':
        x = backend.to_host(x)
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{who}: expected an array or Tensor, got {type(x).__name__} ({e})") from None
