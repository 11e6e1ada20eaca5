"""The IDX file format (MNIST's): ``read_idx`` and ``write_idx``.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the values in C order, big-endian. Type codes:
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
Files may be gzip-compressed (detected from the content, not the name).
"""
import gzip
import os

import numpy as np

IDX_DTYPES = {0x08: np.dtype('u1'), 0x09: np.dtype('i1'), 0x0B: np.dtype('>i2'),
              0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}
_GZIP_MAGIC = b'\x1f\x8b'


def parse_idx(raw, where='read_idx'):
    """IDX bytes (uncompressed) -> a native-endian NumPy array."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{where}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}, "
                         "expected 00 00 <type> <ndim>)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{where}: unknown IDX type code 0x{code:02X}; expected one of "
                         f"{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{where}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype='>u4', count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{where}: IDX header says shape {shape} of {dtype.name} "
                         f"({expected} bytes) but the file holds {len(raw) - header} data bytes")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder('='))      # native byte order, a writable copy


def read_idx(path):
    """Read an IDX file (raw or gzip-compressed) into a NumPy array."""
    with open(os.fspath(path), 'rb') as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    return parse_idx(raw, f"read_idx({os.fspath(path)!r})")


def write_idx(path, array):
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in '.gz'."""
    a = np.asarray(array)
    codes = {dt.newbyteorder('='): c for c, dt in IDX_DTYPES.items()}
    code = codes.get(a.dtype.newbyteorder('='))
    if code is None:
        raise TypeError(f"write_idx: dtype {a.dtype} has no IDX type code; expected uint8, "
                        "int8, int16, int32, float32 or float64")
    if a.ndim > 255:
        raise ValueError(f"write_idx: at most 255 dimensions, got {a.ndim}")
    body = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype='>u4').tobytes()
            + np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes())
    path = os.fspath(path)
    with open(path, 'wb') as f:
        f.write(gzip.compress(body) if path.endswith('.gz') else body)
