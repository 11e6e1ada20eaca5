"""Checkpoints: exact round trips, devices, no pickle, clear errors, atomic writes."""
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend, optim
from scratchgen.autograd import Tensor
from scratchgen.io import CheckpointError, checkpoint, load, save
from scratchgen.optim import lr_scheduler as L


def host(x):
    return backend.to_host(x.data if isinstance(x, Tensor) else x)


def nested(device):
    return {
        'model': {'w': sg.tensor(np.arange(12.0).reshape(3, 4), dtype=sg.float32, device=device),
                  'w64': sg.tensor(np.linspace(0, 1, 5), device=device),
                  'idx': sg.tensor(np.array([3, 1, 2]), device=device),
                  'mask': sg.tensor(np.array([[True, False]]), device=device),
                  'grad_leaf': sg.randn(2, device=device, requires_grad=True)},
        'device_array': backend.asarray(np.array([1.5, 2.5], dtype=np.float16), device=device),
        3: ['int key', 7, -2**100, 2**127 + 5],
        'floats': (0.1, -0.0, math.inf, -math.inf, 1e-310),
        'flags': [True, False, None],
        'text': 'unicode: θ̄ ← dθ̄ "quoted" \\ slash',
        'numpy': {'f16': np.array([1, 2], dtype=np.float16), 'u8': np.arange(4, dtype=np.uint8),
                  'c64': np.array([1 + 2j], dtype=np.complex64), 'zero_d': np.array(3.5),
                  'empty': np.zeros((0, 3), dtype=np.int32),
                  'noncontig': np.arange(12.0).reshape(3, 4).T,
                  'scalar32': np.float32(1.25), 'scalar_i64': np.int64(-4)},
        'empty_dict': {}, 'empty_list': [], 'empty_tuple': (),
    }


def check_same(a, b, device):
    """b (loaded) equals a (saved) in type, dtype, shape, values and device."""
    if isinstance(a, Tensor):
        assert type(b) is Tensor and b.device == device and b.dtype == a.dtype
        assert b.requires_grad == a.requires_grad
        np.testing.assert_array_equal(b.numpy(), a.numpy())
    elif isinstance(a, np.ndarray):
        assert type(b) is np.ndarray and b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    elif isinstance(a, np.generic):
        assert type(b) is type(a) and b == a
    elif backend.is_array(a):
        assert backend.device_of(b) == device and b.dtype == a.dtype
        np.testing.assert_array_equal(host(b), host(a))
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        for k in a:
            check_same(a[k], b[k], device)
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(a) == len(b)
        for x, y in zip(a, b):
            check_same(x, y, device)
    elif isinstance(a, float):
        assert type(b) is float and (b == a or (math.isnan(a) and math.isnan(b)))
        assert math.copysign(1, a) == math.copysign(1, b)
    else:
        assert type(b) is type(a) and b == a


def test_round_trip(tmp_path, device):
    obj = nested(device)
    save(obj, tmp_path / 'ckpt.npz')
    check_same(obj, load(tmp_path / 'ckpt.npz'), device)


def test_nan_round_trips(tmp_path):
    save({'x': math.nan}, tmp_path / 'c.npz')
    assert math.isnan(load(tmp_path / 'c.npz')['x'])


def test_load_onto_a_chosen_device(tmp_path, device):
    obj = nested('cpu')
    save(obj, tmp_path / 'c.npz')
    back = load(tmp_path / 'c.npz', device=device)
    check_same(obj['model'], back['model'], device)          # tensors move
    check_same(obj['numpy'], back['numpy'], device)          # NumPy stays NumPy
    assert type(back['device_array']) is np.ndarray          # (on 'cpu' that is the array)
    save(nested('emu'), tmp_path / 'd.npz')
    back = load(tmp_path / 'd.npz', device=device)
    assert back['model']['w'].device == device
    assert backend.device_of(back['device_array']) == device  # device arrays move too
    assert back['device_array'].dtype == np.float16


def test_exact_path_and_pathlike(tmp_path):
    save({'a': 1}, str(tmp_path / 'model.ckpt'))              # no .npz appended
    assert os.listdir(tmp_path) == ['model.ckpt']
    assert load(tmp_path / 'model.ckpt') == {'a': 1}
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / 'model.ckpt').st_mode & 0o777 == 0o666 & ~umask


def test_shared_tensor_stored_once(tmp_path):
    t = sg.randn(100)
    save({'a': t, 'b': [t]}, tmp_path / 'c.npz')
    with zipfile.ZipFile(tmp_path / 'c.npz') as z:
        assert len(z.namelist()) == 2                          # header + one array
    back = load(tmp_path / 'c.npz')
    assert back['a'] is back['b'][0]


def test_state_dicts_round_trip(tmp_path):
    sg.manual_seed(1)
    ps = [sg.Parameter(sg.randn(3, 2)), sg.Parameter(sg.randn(2))]
    opt = optim.AdamW([{'params': ps[:1]}, {'params': ps[1:], 'lr': 0.5}], amsgrad=True)
    sched = L.SequentialLR(opt, [L.LinearWarmup(opt, 2), L.CosineAnnealingLR(opt, 5)], [2])
    ema = optim.EMA(ps)
    for _ in range(3):
        for p in ps:
            p.grad = sg.randn(*p.shape)
        opt.step()
        sched.step()
        ema.update()
    obj = {'opt': opt.state_dict(), 'sched': sched.state_dict(), 'ema': ema.state_dict(),
           'rng': backend.get_rng_state(), 'step': 3}
    save(obj, tmp_path / 'c.npz')
    back = load(tmp_path / 'c.npz')
    check_same(obj, back, 'cpu')
    assert set(back['opt']['state']) == {0, 1}                 # int keys stay ints
    assert back['opt']['param_groups'][0]['betas'] == (0.9, 0.999)
    backend.set_rng_state(back['rng'])
    a = sg.randn(4).numpy()
    backend.set_rng_state(obj['rng'])
    np.testing.assert_array_equal(a, sg.randn(4).numpy())


# ----------------------------------------------------------------------------- save errors
@pytest.mark.parametrize('obj,match', [
    ({'a': {1, 2}}, r"an object of type set at \['a'\]"),
    ({'a': [1, object()]}, r"object at \['a'\]\[1\]"),
    ({(1, 2): 3}, r"a dict key \(1, 2\) of type tuple"),
    ({True: 3}, 'of type bool'),
    ({'a': np.array([{}], dtype=object)}, r"an array of dtype object at \['a'\]"),
    ({'a': np.zeros(2, dtype=[('x', 'f4')])}, 'an array of dtype'),
    (lambda: 0, 'an object of type function at the top level'),
])
def test_unsupported_objects(tmp_path, obj, match):
    path = tmp_path / 'c.npz'
    with pytest.raises(TypeError, match=match) as info:
        save(obj, path)
    assert str(path) in str(info.value)
    assert os.listdir(tmp_path) == []


def test_self_containing_structure(tmp_path):
    a = []
    a.append(a)
    with pytest.raises(TypeError, match='contains itself'):
        save({'a': a}, tmp_path / 'c.npz')


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        save({}, tmp_path / 'nope' / 'c.npz')


# ----------------------------------------------------------------------------- load errors
def test_missing_file(tmp_path):
    path = tmp_path / 'absent.npz'
    with pytest.raises(FileNotFoundError, match=f"no checkpoint at '{path}'"):
        load(path)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / 'good.npz'
    save({'w': sg.randn(64, 32), 'n': 5, 'name': 'x' * 50}, path)
    return path


@pytest.mark.parametrize('keep', [0, 10, 0.25, 0.5, 0.9, -1])
def test_truncated(good, keep):
    data = good.read_bytes()
    n = keep if isinstance(keep, int) and keep >= 0 else \
        (len(data) - 1 if keep == -1 else int(keep * len(data)))
    good.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match='truncated or corrupted') as info:
        load(good)
    assert str(good) in str(info.value)


@pytest.mark.parametrize('where', [0.3, 0.5, 0.7])
def test_corrupted_bytes(good, where):
    data = bytearray(good.read_bytes())
    i = int(where * len(data))
    data[i:i + 4] = bytes(b ^ 0xFF for b in data[i:i + 4])      # flip bits mid-file
    good.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(good)):
        load(good)


def test_not_a_checkpoint(tmp_path):
    plain = tmp_path / 'plain.npz'
    np.savez(plain, x=np.arange(3))
    with pytest.raises(CheckpointError, match=r"is an \.npz file but not a scratchgen checkpoint"):
        load(plain)
    npy = tmp_path / 'arr.npy'
    np.save(npy, np.arange(3))
    with pytest.raises(CheckpointError, match='single .npy array'):
        load(npy)
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    with pytest.raises(CheckpointError, match='not an .npz checkpoint'):
        load(text)
    empty = tmp_path / 'empty.npz'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match='truncated or corrupted'):
        load(empty)


class Exploit:
    """Unpickling this would create a marker file: loading must never do that."""
    marker = None

    def __reduce__(self):
        return (open, (Exploit.marker, 'w'))


def test_pickle_bearing_files_are_rejected(tmp_path):
    Exploit.marker = str(tmp_path / 'PWNED')
    evil = tmp_path / 'evil.npz'
    header = json.dumps({'format': checkpoint.FORMAT, 'version': checkpoint.VERSION,
                         'root': {'t': 'numpy', 'a': 'a0'}}).encode()
    np.savez(evil, allow_pickle=True, **{checkpoint.HEADER: np.frombuffer(header, np.uint8),
                                         'a0': np.array([Exploit()], dtype=object)})
    with pytest.raises(CheckpointError, match='pickle'):
        load(evil)
    raw = tmp_path / 'raw.npz'
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match='pickle'):
        load(raw)
    assert not os.path.exists(Exploit.marker)
    pickle.loads(pickle.dumps(Exploit())).close()       # the payload is real: pickle runs it
    assert os.path.exists(Exploit.marker)


def forged(tmp_path, meta, **arrays):
    path = tmp_path / 'forged.npz'
    header = (meta if isinstance(meta, bytes) else json.dumps(meta).encode())
    np.savez(path, **{checkpoint.HEADER: np.frombuffer(header, np.uint8)}, **arrays)
    return path


def test_forged_headers(tmp_path):
    ok = {'format': checkpoint.FORMAT, 'version': checkpoint.VERSION}
    cases = [
        (b'{not json', 'not valid JSON'),
        ({'format': 'other'}, 'does not describe'),
        ({**ok, 'version': 99}, 'format version 99'),
        ({**ok, 'root': {'t': 'mystery'}}, "unknown entry type 'mystery'"),
        ({**ok, 'root': {'t': 'numpy', 'a': 'a7'}}, "missing array 'a7'"),
        ({**ok, 'root': {'t': 'int', 'v': 'seven'}}, "an entry of type 'int' holds 'seven'"),
        ({**ok, 'root': {'t': 'dict', 'items': [[[1], {'t': 'none'}]]}}, 'not a'),
        ({**ok, 'root': [1, 2]}, 'unexpected entry'),
    ]
    for meta, match in cases:
        with pytest.raises(CheckpointError, match=match):
            load(forged(tmp_path, meta))
    with pytest.raises(CheckpointError, match=r"entries the structure does not use: \['a0'\]"):
        load(forged(tmp_path, {**ok, 'root': {'t': 'none'}}, a0=np.zeros(2)))


def test_unusable_saved_device(tmp_path):
    meta = {'format': checkpoint.FORMAT, 'version': checkpoint.VERSION,
            'root': {'t': 'tensor', 'a': 'a0', 'device': 'tpu', 'requires_grad': False}}
    path = forged(tmp_path, meta, a0=np.zeros(2, np.float32))
    with pytest.raises(CheckpointError, match="saved on 'tpu'.*device='cpu'"):
        load(path)
    assert load(path, device='cpu').shape == (2,)


# ----------------------------------------------------------------------------- atomic writes
def assert_only(tmp_path, names):
    assert sorted(os.listdir(tmp_path)) == sorted(names)       # no temporary files left


def test_overwrite(tmp_path):
    save({'v': 1}, tmp_path / 'c.npz')
    save({'v': 2}, tmp_path / 'c.npz')
    assert load(tmp_path / 'c.npz') == {'v': 2}
    assert_only(tmp_path, ['c.npz'])


def test_failed_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'c.npz'
    save({'v': 1, 'w': sg.ones(3)}, path)

    def broken_replace(src, dst):
        raise OSError('disk on fire')
    monkeypatch.setattr(checkpoint.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk on fire'):
        save({'v': 2, 'w': sg.zeros(3)}, path)
    monkeypatch.undo()
    back = load(path)
    assert back['v'] == 1 and back['w'].numpy().tolist() == [1.0, 1.0, 1.0]
    assert_only(tmp_path, ['c.npz'])


@pytest.mark.parametrize('exc', [OSError('no space left'), KeyboardInterrupt()])
def test_failure_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch, exc):
    path = tmp_path / 'c.npz'
    save({'v': 1}, path)
    before = path.read_bytes()

    def half_written(f, arrays):
        f.write(b'PK\x03\x04 half a zip file')
        raise exc
    monkeypatch.setattr(checkpoint, '_write_npz', half_written)
    with pytest.raises(type(exc)):
        save({'v': 2}, path)
    assert path.read_bytes() == before and load(path) == {'v': 1}
    assert_only(tmp_path, ['c.npz'])


def test_failed_fsync_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'c.npz'
    save({'v': 1}, path)

    def broken_fsync(fd):
        raise OSError('I/O error')
    monkeypatch.setattr(checkpoint.os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='I/O error'):
        save({'v': 2}, path)
    monkeypatch.undo()
    assert load(path) == {'v': 1}
    assert_only(tmp_path, ['c.npz'])


def test_save_writes_through_fsync_then_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(checkpoint.os, 'fsync', lambda fd: (calls.append('fsync'), real_fsync(fd)))
    monkeypatch.setattr(checkpoint.os, 'replace',
                        lambda a, b: (calls.append('replace'), real_replace(a, b)))
    save({'v': 1}, tmp_path / 'c.npz')
    assert calls[:2] == ['fsync', 'replace']


def test_every_single_byte_corruption_is_caught_or_harmless(tmp_path):
    """Flip each byte of a small checkpoint in turn: loading either raises CheckpointError
    or (for bytes the zip format does not check, such as timestamps) returns the same data;
    never another exception, never different data."""
    path = tmp_path / 'c.npz'
    w = sg.randn(4, 3)
    save({'w': w, 'n': 5, 'name': 'x'}, path)
    original = path.read_bytes()
    caught = 0
    for i in range(len(original)):
        data = bytearray(original)
        data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            back = load(path)
        except CheckpointError:
            caught += 1
            continue
        assert back['n'] == 5 and back['name'] == 'x', i
        np.testing.assert_array_equal(back['w'].numpy(), w.numpy())
    assert caught > len(original) // 2
