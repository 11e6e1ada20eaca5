"""Checkpoints: ``save(obj, path)`` and ``load(path, device=None)``, without pickle.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays, see docs/optim.md):

* every array in ``obj`` (Tensor data, backend arrays, NumPy arrays) is one member,
  ``a0``, ``a1``, ... stored with its exact dtype and shape;
* the structure around them (dicts, lists, tuples, numbers, strings, None, and which
  array goes where) is a JSON document stored as a uint8 array in the member
  ``__scratchgen_checkpoint__``.

Loading reads arrays with ``np.load(allow_pickle=False)`` and the structure with
``json.loads``; neither can run code, so opening an untrusted file is safe. Writing goes
to a temporary file in the same directory, which is flushed, fsync'ed and then renamed
over the target (``os.replace`` is atomic): a crash or an exception mid-save leaves the
previous checkpoint as it was.

What comes back: Tensors as ``sg.Tensor`` (on ``device``, or on the device they were
saved from), arrays saved from a device as arrays on that device, NumPy arrays and
NumPy scalars as NumPy, with dtypes kept exactly; tuples stay tuples, dict keys keep
their type (str or int, e.g. an optimizer's parameter indices).
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .. import backend
from ..autograd import Tensor

HEADER = '__scratchgen_checkpoint__'
FORMAT, VERSION = 'scratchgen-checkpoint', 1
_ARRAY_KINDS = 'biufc'          # bool, ints, unsigned, floats, complex: no objects, no pickle


class CheckpointError(ValueError):
    """A file that is not a readable scratchgen checkpoint (the message says why)."""


# ----------------------------------------------------------------------------- save
class _Flattener:
    """Turns a nested object into a JSON-able tree plus a dict of host arrays."""

    def __init__(self, path):
        self.path, self.arrays, self.memo, self.active = path, {}, {}, set()

    def fail(self, where, problem):
        raise TypeError(f"save: cannot save {problem} at {where or 'the top level'} "
                        f"to '{self.path}'. Supported: dicts (str/int keys), lists, tuples, "
                        "Tensors, backend and NumPy arrays of bool/int/float/complex dtype, "
                        "NumPy scalars, int, float, bool, str, None")

    def add_array(self, host, where, obj):
        if host.dtype.kind not in _ARRAY_KINDS or host.dtype.fields is not None:
            self.fail(where, f"an array of dtype {host.dtype}")
        key = self.memo.get(id(obj))
        if key is None:                   # the same tensor twice is stored once
            key = self.memo[id(obj)] = f"a{len(self.arrays)}"
            self.arrays[key] = host
        return key

    def node(self, obj, where=''):
        if obj is None:
            return {'t': 'none'}
        if isinstance(obj, bool):
            return {'t': 'bool', 'v': obj}
        if isinstance(obj, np.generic):       # before int/float: np.float64 is a float
            return {'t': 'scalar', 'a': self.add_array(np.asarray(obj), where, obj)}
        if isinstance(obj, int):
            return {'t': 'int', 'v': int(obj)}
        if isinstance(obj, float):
            return {'t': 'float', 'v': float(obj)}
        if isinstance(obj, str):
            return {'t': 'str', 'v': obj}
        if isinstance(obj, Tensor):
            return {'t': 'tensor', 'device': obj.device, 'requires_grad': obj.requires_grad,
                    'a': self.add_array(backend.to_host(obj.data), where, obj)}
        if isinstance(obj, np.ndarray):
            return {'t': 'numpy', 'a': self.add_array(obj, where, obj)}
        if backend.is_array(obj):
            return {'t': 'array', 'device': backend.device_of(obj),
                    'a': self.add_array(backend.to_host(obj), where, obj)}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self.active:
                self.fail(where, f"a {type(obj).__name__} that contains itself")
            self.active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = []
                    for k, v in obj.items():
                        if isinstance(k, bool) or not isinstance(k, (str, int)):
                            self.fail(where, f"a dict key {k!r} of type {type(k).__name__} "
                                             "(keys must be str or int)")
                        items.append([k, self.node(v, f"{where}[{k!r}]")])
                    return {'t': 'dict', 'items': items}
                kind = 'list' if isinstance(obj, list) else 'tuple'
                return {'t': kind, 'items': [self.node(v, f"{where}[{i}]")
                                             for i, v in enumerate(obj)]}
            finally:
                self.active.discard(id(obj))
        self.fail(where, f"an object of type {type(obj).__name__}")


def _write_npz(f, arrays):
    """Write the members into the open file ``f`` (a seam for fault-injection tests)."""
    np.savez(f, allow_pickle=False, **arrays)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(obj, path):
    """Save a nested structure of Tensors, arrays and plain values to ``path`` (.npz),
    atomically: on any error the file at ``path`` is left as it was."""
    path = os.fspath(path)
    flat = _Flattener(path)
    tree = flat.node(obj)
    header = json.dumps({'format': FORMAT, 'version': VERSION, 'root': tree})
    arrays = {HEADER: np.frombuffer(header.encode('utf-8'), dtype=np.uint8)}
    arrays.update(flat.arrays)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write '{path}': directory '{directory}' "
                                "does not exist")
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
                               dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes it private; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); not possible everywhere, so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- load
class _Builder:
    """Rebuilds the saved object from the JSON tree and the arrays, checking each node."""

    def __init__(self, path, arrays, device):
        self.path, self.arrays, self.device = path, arrays, device
        self.used, self.built = set(), {}

    def fail(self, problem):
        raise CheckpointError(f"load: '{self.path}' is corrupted: {problem}")

    def array(self, node):
        key = node.get('a')
        if key not in self.arrays:
            self.fail(f"the structure refers to a missing array {key!r}")
        self.used.add(key)
        return self.arrays[key]

    def target_device(self, node):
        device = self.device if self.device is not None else node.get('device')
        try:
            return backend.canonical_device(device)
        except (ValueError, RuntimeError) as e:
            raise CheckpointError(f"load: '{self.path}' holds tensors saved on {device!r}, "
                                  f"which cannot be used here ({e}); pass device='cpu'") from None

    def build(self, node):
        if not isinstance(node, dict) or not isinstance(node.get('t'), str):
            self.fail(f"unexpected entry {str(node)[:80]!r} in the structure")
        t = node['t']
        if t == 'none':
            return None
        if t in ('bool', 'int', 'float', 'str'):
            value = node.get('v')
            ok = {'bool': bool, 'int': int, 'float': (float, int), 'str': str}[t]
            if not isinstance(value, ok) or (t != 'bool' and isinstance(value, bool)):
                self.fail(f"an entry of type {t!r} holds {value!r}")
            return float(value) if t == 'float' else value
        if t in ('dict', 'list', 'tuple'):
            items = node.get('items')
            if not isinstance(items, list):
                self.fail(f"a {t} entry has no items")
            if t != 'dict':
                built = [self.build(v) for v in items]
                return built if t == 'list' else tuple(built)
            out = {}
            for item in items:
                if not (isinstance(item, list) and len(item) == 2
                        and isinstance(item[0], (str, int)) and not isinstance(item[0], bool)):
                    self.fail(f"a dict item {str(item)[:80]!r} is not a (str|int key, value) pair")
                out[item[0]] = self.build(item[1])
            return out
        if t in ('tensor', 'array', 'numpy', 'scalar'):
            key = node.get('a')
            cache_key = (t, key)
            if cache_key in self.built:            # stored once, loaded as one object
                return self.built[cache_key]
            host = self.array(node)
            if t == 'numpy':
                value = host
            elif t == 'scalar':
                if host.ndim != 0:
                    self.fail(f"scalar {key!r} has shape {host.shape}")
                value = host[()]
            else:
                data = backend.to_device(host, self.target_device(node))
                value = Tensor(data, requires_grad=bool(node.get('requires_grad'))
                               and data.dtype.kind == 'f') if t == 'tensor' else data
            self.built[cache_key] = value
            return value
        self.fail(f"unknown entry type {t!r}")


def load(path, device=None):
    """Load what ``save`` wrote. Tensors (and arrays saved from a device) go to ``device``
    ('cpu', 'emu', 'cuda'; default: where they were saved from). Raises
    ``FileNotFoundError`` or ``CheckpointError`` (a ValueError) naming the file."""
    path = os.fspath(path)
    if device is not None:
        device = backend.canonical_device(device)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at '{path}' (file not found)")
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError as e:
        if 'pickle' in str(e):
            raise CheckpointError(f"load: '{path}' is not an .npz checkpoint (it would need "
                                  "pickle to load, which is refused)") from None
        raise CheckpointError(f"load: '{path}' is not a readable .npz checkpoint ({e})") from None
    except (zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"load: '{path}' is truncated or corrupted ({e})") from None
    except IsADirectoryError:
        raise
    except Exception as e:          # a damaged zip directory raises all sorts of things
        raise CheckpointError(f"load: '{path}' is truncated or corrupted "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"load: '{path}' is a single .npy array, not a scratchgen "
                              "checkpoint (.npz written by sg.save)")
    with npz:
        names = list(npz.files)
        if HEADER not in names:
            raise CheckpointError(f"load: '{path}' is an .npz file but not a scratchgen "
                                  f"checkpoint (no '{HEADER}' entry; it holds "
                                  f"{names[:10]}{' ...' if len(names) > 10 else ''})")
        arrays = {}
        for name in names:
            try:
                arrays[name] = npz[name]
            except ValueError as e:
                if 'pickle' in str(e).lower():
                    raise CheckpointError(f"load: '{path}' entry '{name}' holds pickled "
                                          "Python objects; refusing to load it (checkpoints "
                                          "never contain pickle)") from None
                raise CheckpointError(f"load: '{path}' entry '{name}' is corrupted ({e})") from None
            except Exception as e:          # zip CRC errors, truncated members, bad headers
                raise CheckpointError(f"load: '{path}' entry '{name}' is truncated or "
                                      f"corrupted ({type(e).__name__}: {e})") from None
    header = arrays.pop(HEADER)
    if header.dtype != np.uint8 or header.ndim != 1:
        raise CheckpointError(f"load: '{path}' is corrupted: the '{HEADER}' entry has dtype "
                              f"{header.dtype} and shape {header.shape}, expected uint8 bytes")
    try:
        meta = json.loads(header.tobytes().decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"load: '{path}' is corrupted: its structure is not valid "
                              f"JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        raise CheckpointError(f"load: '{path}' is corrupted: the header does not describe a "
                              f"{FORMAT} file")
    if meta.get('version') != VERSION:
        raise CheckpointError(f"load: '{path}' has checkpoint format version "
                              f"{meta.get('version')!r}; this scratchgen reads version {VERSION}")
    for name, a in arrays.items():
        if a.dtype.kind not in _ARRAY_KINDS or a.dtype.fields is not None:
            raise CheckpointError(f"load: '{path}' entry '{name}' has unsupported dtype {a.dtype}")
    builder = _Builder(path, arrays, device)
    obj = builder.build(meta.get('root'))
    extra = sorted(set(arrays) - builder.used)
    if extra:
        raise CheckpointError(f"load: '{path}' has entries the structure does not use: "
                              f"{extra[:10]}; the file was not written by sg.save or was altered")
    return obj
