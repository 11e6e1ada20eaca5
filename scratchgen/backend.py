"""The one door to the arrays: NumPy on ``'cpu'``, CuPy on ``'cuda'``, and ``'emu'``.

Everything else in scratchgen asks this module for the array module of an array
(``xp_of``) or of a device (``array_module``) and never imports NumPy/CuPy for device
math itself. Every NumPy/CuPy difference is handled here, once:

* random numbers (one seeded generator per device, ``manual_seed``),
* scatter-add (``np.add.at`` vs ``cupyx.scatter_add``),
* host transfer (``to_host`` / ``to_device``; CuPy refuses implicit conversion),
* 0-d results (CuPy reductions return 0-d arrays, NumPy returns scalars).

``'emu'`` is a CPU emulation of the device boundary: arrays compute with NumPy but
refuse, with ``TypeError``, what CuPy refuses (``np.asarray(x)``, mixing host NumPy
arrays into device math). Tests run on it so that host leaks are caught without a GPU.
"""
import ctypes
import os
import sys

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

# dtypes, re-exported as sg.float32 etc.
float16, float32, float64 = np.float16, np.float32, np.float64
int8, int32, int64, uint8, bool_ = np.int8, np.int32, np.int64, np.uint8, np.bool_

DEVICES = ('cpu', 'emu', 'cuda')
_default_dtype = np.dtype(np.float32)
_default_device = 'cpu'


# ----------------------------------------------------------------------------- emu
def _refuse_host(kind):
    raise TypeError(f"emu: {kind} mixes a host NumPy array with a device array; "
                    "CuPy refuses this too. Move it explicitly (sg.tensor(..., device=...) "
                    "or backend.to_device).")


def _unwrap(obj, where):
    """EmuArray -> ndarray, recursively; a host ndarray is refused like CuPy does."""
    if isinstance(obj, EmuArray):
        return obj._a
    if isinstance(obj, np.ndarray):
        _refuse_host(where)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, where) for o in obj)
    return obj


def _wrap(obj):
    """ndarray / NumPy scalar -> EmuArray (CuPy returns 0-d arrays, not scalars)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return EmuArray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


class EmuArray(NDArrayOperatorsMixin):
    """A NumPy array behind a device boundary (see module docstring)."""
    __slots__ = ('_a',)
    __array_priority__ = 100

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        raise TypeError("emu: implicit conversion to a NumPy array is not allowed "
                        "(CuPy refuses it too); use Tensor.numpy() or backend.to_host().")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = _unwrap(inputs, f"ufunc '{ufunc.__name__}'")
        if 'out' in kwargs:
            kwargs['out'] = _unwrap(kwargs['out'], f"ufunc '{ufunc.__name__}'")
        return _wrap(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, '__name__', str(func))
        args = _unwrap(args, name)
        kwargs = {k: _unwrap(v, name) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))

    # attributes and methods forward to the wrapped array; results stay on the device
    def __getattr__(self, name):
        if name.startswith('__'):    # no __array_interface__ etc.: no back door to the host
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr) if name in ('T', 'real', 'imag') else attr
        if name in ('item', 'tolist'):      # explicit host conversions, as in CuPy
            return attr
        return lambda *a, **k: _wrap(attr(*_unwrap(a, name),
                                          **{key: _unwrap(v, name) for key, v in k.items()}))

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, 'indexing')])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, 'indexing')] = _unwrap(value, 'assignment')

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(r) for r in self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __repr__(self):
        return 'emu_' + repr(self._a)

    def get(self):
        """Explicit device-to-host copy (CuPy's spelling)."""
        return self._a.copy()


class _EmuModule:
    """Module-like: NumPy's namespace, with array creation landing on the emu device.

    Functions that take arrays dispatch to EmuArray via NumPy's ``__array_function__``
    protocol; creation functions (``zeros``, ``asarray``, ...) are wrapped here.
    """
    _creators = ('array', 'asarray', 'ascontiguousarray', 'zeros', 'ones', 'empty', 'full',
                 'arange', 'linspace', 'eye', 'identity', 'tri', 'indices')

    def __getattr__(self, name):
        attr = getattr(np, name)
        if name in self._creators:
            def create(*args, **kwargs):
                args = [a._a if isinstance(a, EmuArray) else a for a in args]
                return EmuArray(np.asarray(attr(*args, **kwargs)))
            return create
        return attr

    def __repr__(self):
        return "<array module 'emu' (NumPy behind a CuPy-like device boundary)>"


emu = _EmuModule()


# ----------------------------------------------------------------------------- cupy
_cupy = None
_cupy_error = None


def _get_cupy():
    """Import CuPy lazily; explain clearly what is missing if it cannot be used."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError('no CUDA device found')
            _cupy = cupy
        except ImportError:
            _cupy_error = ("device 'cuda' needs CuPy, which is not installed "
                           "(pip install 'scratchgen[gpu]' or cupy-cuda12x)")
        except Exception as e:    # CUDA driver/runtime errors surface here
            _cupy_error = f"device 'cuda' is not usable: CuPy is installed but {e}"
    if _cupy is None:
        raise RuntimeError(_cupy_error)
    return _cupy


def cuda_is_available():
    try:
        _get_cupy()
        return True
    except RuntimeError:
        return False


def cuda_unavailable_reason():
    """Why 'cuda' cannot be used, or None when it can."""
    try:
        _get_cupy()
        return None
    except RuntimeError as e:
        return str(e)


# ----------------------------------------------------------------------------- devices
def canonical_device(device):
    """'cpu' | 'emu' | 'cuda' from a string (``'cuda:0'`` accepted) or None (default)."""
    if device is None:
        return _default_device
    name = str(device).lower()
    if name.startswith('cuda'):
        name = 'cuda'
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    if name == 'cuda':
        _get_cupy()
    return name


def parse_to_args(who, device_or_dtype=None, device=None, dtype=None):
    """The arguments of ``.to(...)`` (Tensor and Module) -> (device or None, dtype or None):
    ``to('emu')``, ``to(float64)``, ``to('cpu', float32)``, ``to(device=..., dtype=...)``."""
    if device_or_dtype is not None:
        if isinstance(device_or_dtype, str) and device_or_dtype.split(':')[0].lower() in DEVICES:
            device = device_or_dtype
        elif dtype is None:
            dtype = device_or_dtype
        else:
            raise TypeError(f"{who}: got a dtype twice ({device_or_dtype!r} and dtype={dtype!r})")
    try:
        dtype = None if dtype is None else np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: expected a device {DEVICES} or a dtype, got {dtype!r}") from None
    return (None if device is None else canonical_device(device)), dtype


def array_module(device):
    device = canonical_device(device)
    if device == 'cpu':
        return np
    if device == 'emu':
        return emu
    return _get_cupy()


def device_of(a):
    if isinstance(a, EmuArray):
        return 'emu'
    if type(a).__module__.startswith('cupy'):
        return 'cuda'
    return 'cpu'


def xp_of(a):
    """The array module (numpy, emu or cupy) that holds array ``a``."""
    if isinstance(a, EmuArray):
        return emu
    if type(a).__module__.startswith('cupy'):
        return _cupy
    return np


def is_array(a):
    return isinstance(a, (np.ndarray, EmuArray)) or type(a).__module__.startswith('cupy')


def set_default_device(device):
    global _default_device
    _default_device = canonical_device(device)


def get_default_device():
    return _default_device


class default_device:
    """``with sg.default_device('emu'):`` -- factories inside create tensors there."""

    def __init__(self, device):
        self.device = canonical_device(device)

    def __enter__(self):
        self._prev = get_default_device()
        set_default_device(self.device)
        return self

    def __exit__(self, *exc):
        set_default_device(self._prev)
        return False


def set_default_dtype(dtype):
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != 'f':
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


# ----------------------------------------------------------------------------- transfer
def to_host(a):
    """A host NumPy copy of any backend array (explicit transfer)."""
    if isinstance(a, EmuArray):
        return a._a.copy()
    if type(a).__module__.startswith('cupy'):
        return a.get()
    return np.array(a, copy=True)


def to_device(a, device, dtype=None):
    """Put host data or a backend array on ``device`` (a copy when it moves)."""
    device = canonical_device(device)
    src = device_of(a) if is_array(a) else 'cpu'
    if src == device:
        return a if dtype is None else a.astype(dtype, copy=False)
    host = to_host(a) if src != 'cpu' else np.asarray(a)
    if dtype is not None:
        host = host.astype(dtype, copy=False)
    if device == 'cpu':
        return host
    if device == 'emu':
        return EmuArray(np.array(host, copy=True))
    return _get_cupy().asarray(host)


def asarray(data, dtype=None, device=None):
    """Host data (lists, scalars, NumPy arrays) or a backend array -> array on ``device``."""
    if is_array(data):
        return to_device(data, device if device is not None else device_of(data), dtype)
    return to_device(np.asarray(data, dtype=dtype), device)


# ----------------------------------------------------------------------------- scatter-add
def scatter_add(target, indices, values):
    """``target[indices] += values`` in place, correct for repeated indices, any device.

    ``x[idx] += g`` silently drops repeats on every backend; this is the one place
    that does it right (np.add.at / cupyx.scatter_add).
    """
    if isinstance(target, EmuArray):
        np.add.at(target._a, _unwrap(indices, 'scatter_add'), _unwrap(values, 'scatter_add'))
    elif type(target).__module__.startswith('cupy'):
        import cupyx
        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)
    return target


# ----------------------------------------------------------------------------- random
class _RNG:
    """One seeded generator per device. Device streams are drawn on the host for
    'cpu' and 'emu' (identical numbers) and with CuPy's generator on 'cuda'."""

    def __init__(self, seed=0):
        self.seed(seed)

    def seed(self, seed):
        self.host = np.random.default_rng(seed)
        self._seed = seed
        self._cuda = None

    def cuda(self):
        if self._cuda is None:
            self._cuda = _get_cupy().random.default_rng(self._seed)
        return self._cuda

    def generator(self, device):
        return self.cuda() if device == 'cuda' else self.host


_rng = _RNG(0)


def manual_seed(seed):
    """Seed every device's generator (like torch.manual_seed)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative int, got {seed!r}")
    _rng.seed(int(seed))


def get_rng_state():
    """Host generator state as a dict of plain arrays/ints (checkpointable without pickle)."""
    st = _rng.host.bit_generator.state
    return {'bit_generator': st['bit_generator'], 'state': int(st['state']['state']),
            'inc': int(st['state']['inc']), 'has_uint32': int(st['has_uint32']),
            'uinteger': int(st['uinteger'])}


def set_rng_state(state):
    bg = _rng.host.bit_generator
    bg.state = {'bit_generator': str(state['bit_generator']),
                'state': {'state': int(state['state']), 'inc': int(state['inc'])},
                'has_uint32': int(state['has_uint32']), 'uinteger': int(state['uinteger'])}


def _draw(device, host_fn, cuda_fn):
    device = canonical_device(device)
    if device == 'cuda':
        return cuda_fn(_rng.cuda())
    return to_device(host_fn(_rng.host), device)


def randn(shape, dtype=None, device=None):
    dtype = np.dtype(dtype or _default_dtype)
    return _draw(device, lambda g: g.standard_normal(shape).astype(dtype),
                 lambda g: g.standard_normal(shape, dtype=dtype if dtype.itemsize >= 4 else None).astype(dtype))


def rand(shape, dtype=None, device=None):
    dtype = np.dtype(dtype or _default_dtype)
    return _draw(device, lambda g: g.random(shape).astype(dtype),
                 lambda g: g.random(shape).astype(dtype))


def randint(low, high, shape, dtype=np.int64, device=None):
    return _draw(device, lambda g: g.integers(low, high, shape).astype(dtype),
                 lambda g: g.integers(low, high, shape).astype(dtype))


def sample_categorical(weights):
    """One draw per row of non-negative ``weights`` (..., K) (need not sum to 1):
    int64 indices (...), on the weights' device, from the seeded generator.

    Inverse-CDF sampling: with c the running sum over K and u ~ U[0, c_K), the draw is
    the number of entries c_k <= u. A zero-weight category repeats its left neighbour's
    c_k, so it is never chosen; the minimum guards against rounding at the top end.
    """
    xp = xp_of(weights)
    cdf = xp.cumsum(weights, axis=-1)
    u = rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=device_of(weights)) * cdf[..., -1:]
    return xp.minimum((cdf <= u).sum(axis=-1), weights.shape[-1] - 1).astype(np.int64)


def host_rng():
    """The host generator (for host-side code: data shuffling, procedural data)."""
    return _rng.host


def ensure_array(a):
    """NumPy reductions return scalars; make them 0-d arrays like CuPy's."""
    return np.asarray(a) if isinstance(a, np.generic) else a


# ----------------------------------------------------------------------------- allocator
def _keep_freed_memory():
    """Ask glibc to keep freed large blocks in the heap instead of returning them to the
    OS. By default every array over ~128 KB is a fresh mmap, so each training step
    page-faults its temporaries back in (the kernel zeroes every 4 KB page): measured
    here, an MLP step ran 1.35x and an attention step 1.4x faster with this. It only
    changes when memory goes back to the OS (up to 256 MB of freed heap is kept).
    Set SCRATCHGEN_DEFAULT_MALLOC=1 to leave the allocator alone."""
    if os.environ.get('SCRATCHGEN_DEFAULT_MALLOC') or not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3       # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 * 2 ** 20)) and \
            bool(libc.mallopt(m_trim_threshold, 256 * 2 ** 20))
    except (OSError, AttributeError):                     # not glibc (e.g. musl)
        return False


ALLOCATOR_TUNED = _keep_freed_memory()


# ----------------------------------------------------------------------------- cache blocks
# A temporary that a GEMM reads right after it is written (conv's im2col columns) is
# cheaper when it still sits in the CPU's cache: on the host, the ops build such a
# temporary a few samples at a time, about CACHE_BLOCK_BYTES each (a typical L2 cache),
# and run the product on each block. Measured on a 2-core EPYC (1 MB L2), a 48->16
# 3x3 conv of (32, 48, 16, 16), forward and backward, ran 1.46x faster (docs/
# benchmarks.md, "Conv and GroupNorm in the U-Net step"). A GPU gets the whole batch.
CACHE_BLOCK_BYTES = 2 ** 20


def batch_blocks(a, n, bytes_per_sample):
    """Slices of range(n), the batch of array ``a``, of about CACHE_BLOCK_BYTES each
    for a temporary of ``bytes_per_sample`` per sample; one slice on CuPy."""
    step = n
    if not type(a).__module__.startswith('cupy'):
        step = max(1, min(n, CACHE_BLOCK_BYTES // max(1, bytes_per_sample)))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


# ----------------------------------------------------------------------------- BLAS threads
# OpenBLAS's worker threads busy-wait for one another. On a laptop's few cores, with
# anything else running, a product split over two threads waits for a core to come free:
# measured here (bench/threads.py, docs/benchmarks.md), a 0.05 ms product took 16 ms with
# two threads at a load average of 1.6 on 2 cores, and attention's batch of small
# products ran 23x slower. Threads help only large products on otherwise idle cores. So
# every matrix product of the ops runs on ONE BLAS thread by default, and
# ``set_num_threads(n)`` (or the environment variable SCRATCHGEN_NUM_THREADS=n) lets the
# large ones (at least GEMM_THREADS_MIN_WORK multiply-adds, m x k by k x n) use n; small
# ones always keep one. threadpoolctl finds the BLAS library once; its controller's
# set_num_threads costs ~5 us and runs only when the count changes (the
# ``threadpool_limits`` context manager costs ~1.3 ms a call: too slow per product).
# NumPy code of your own in the same process sees the count of the last product.
GEMM_THREADS_MIN_WORK = 2 ** 24          # measured in docs/benchmarks.md (threads)
_blas = None                             # threadpoolctl controllers of NumPy's BLAS
_blas_now = None                         # the count the BLAS is set to now
_threads = 1                             # the count a large product may use


def _blas_controllers():
    """NumPy's BLAS libraries as threadpoolctl controllers (found once; [] without
    threadpoolctl, when the thread count is left as the BLAS chose it)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = []
            return _blas
        libs = ThreadpoolController().select(user_api='blas').lib_controllers
        mine = [c for c in libs if os.path.dirname(np.__file__) in c.filepath]  # numpy.libs/
        _blas = mine or libs             # a NumPy built on a system BLAS: that one
    return _blas


def _use_threads(n):
    global _blas_now
    for c in _blas_controllers():
        c.set_num_threads(n)
    _blas_now = n


def set_num_threads(n):
    """Let large matrix products use ``n`` BLAS threads (default 1; small products always
    run on one). Worth it on otherwise idle cores only (module comment above)."""
    global _threads
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _threads = int(n)


def get_num_threads():
    """The BLAS threads a large matrix product may use (``set_num_threads``)."""
    return _threads


def overflow_ok():
    """A context in which a float overflow to inf is expected and raises no warning
    (NumPy warns on it; CuPy never does)."""
    return np.errstate(over='ignore')


def matmul(a, b, out=None):
    """``a @ b`` for arrays with ndim >= 2, on the BLAS thread count chosen for the size
    of one product (see above), into ``out`` (a view is fine) when given. Every matrix
    product of the ops goes through here."""
    if not type(a).__module__.startswith('cupy'):
        n = 1
        if _threads > 1 and a.shape[-2] * a.shape[-1] * b.shape[-1] >= GEMM_THREADS_MIN_WORK:
            n = _threads
        if n != _blas_now:
            _use_threads(n)
    if out is None:
        return a @ b
    return xp_of(a).matmul(a, b, out=out)


def _threads_from_env():
    value = os.environ.get('SCRATCHGEN_NUM_THREADS')
    if value:
        try:
            set_num_threads(int(value))
        except ValueError:
            raise ValueError(f"SCRATCHGEN_NUM_THREADS must be a positive integer, "
                             f"got {value!r}") from None


_threads_from_env()


# ----------------------------------------------------------------------------- special functions
_special = {}
# SciPy's float32 loops of these compute through its float64 code, one element at a time:
# measured ~19 ns an element for erf (and ndtr) on a (768, 512) float32 array, against
# ~5 ns for the ~24 in-place NumPy passes of ops/special.py's rational approximation
# (docs/benchmarks.md). So on the host, below float64, the NumPy formula is the fast one.
_HOST_SLOW_BELOW_FLOAT64 = ('erf', 'ndtr')


def special_function(name, xp, dtype=None):
    """The library implementation of special function ``name`` ('erf', 'ndtr', ...) for
    arrays of array module ``xp`` and float ``dtype``: ``cupyx.scipy.special`` on CUDA,
    ``scipy.special`` on the host (and emu: it is a ufunc, so it stays behind the device
    boundary). None when that library is not installed, or on the host when ``dtype`` is
    narrower than float64 and SciPy's loop is slower than the caller's own NumPy formula
    (``_HOST_SLOW_BELOW_FLOAT64``); the caller (ops/special.py) then uses its own."""
    on_cuda = xp is not np and xp is not emu
    if (not on_cuda and dtype is not None and np.dtype(dtype).itemsize < 8
            and name in _HOST_SLOW_BELOW_FLOAT64):
        return None
    key = (name, on_cuda)
    if key not in _special:
        try:
            if on_cuda:
                import cupyx.scipy.special as lib
            else:
                import scipy.special as lib
            _special[key] = getattr(lib, name, None)
        except ImportError:
            _special[key] = None
    return _special[key]
