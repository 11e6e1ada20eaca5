"""BLAS threads chosen by the library (backend.matmul): one thread by default, the count
of sg.set_num_threads for large products only, its checks, and that the products are
unchanged. Speed is measured in bench/threads.py, not here."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend

threadpoolctl = pytest.importorskip('threadpoolctl')


def blas_threads():
    return {c.num_threads for c in backend._blas_controllers()}


@pytest.fixture(autouse=True)
def _restore():
    before = sg.get_num_threads()
    yield
    sg.set_num_threads(before)


def test_one_thread_by_default_and_n_for_large_products(monkeypatch):
    monkeypatch.setattr(backend, '_threads', 1)
    a = np.ones((4, 4), dtype=np.float32)
    monkeypatch.setattr(backend, 'GEMM_THREADS_MIN_WORK', 1)    # every product is "large"
    backend.matmul(a, a)
    assert sg.get_num_threads() == 1 and blas_threads() == {1}
    sg.set_num_threads(2)
    backend.matmul(a, a)
    assert sg.get_num_threads() == 2 and blas_threads() == {2}
    monkeypatch.setattr(backend, 'GEMM_THREADS_MIN_WORK', 10 ** 12)  # now small: one thread
    backend.matmul(a, a)
    assert blas_threads() == {1}


def test_products_are_unchanged(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5, 7)), rng.standard_normal((7, 2))
    want = a @ b
    sg.set_num_threads(2)
    for work in (1, 10 ** 12):
        monkeypatch.setattr(backend, 'GEMM_THREADS_MIN_WORK', work)
        np.testing.assert_allclose(backend.matmul(a, b), want, rtol=1e-12)


def test_bad_thread_counts_are_refused(monkeypatch):
    for bad in (0, -1, 1.5, True, '2', None):
        with pytest.raises(ValueError, match='set_num_threads: expected a positive int'):
            sg.set_num_threads(bad)
    monkeypatch.setenv('SCRATCHGEN_NUM_THREADS', 'many')
    with pytest.raises(ValueError, match="SCRATCHGEN_NUM_THREADS must be a positive integer, got 'many'"):
        backend._threads_from_env()
    monkeypatch.setenv('SCRATCHGEN_NUM_THREADS', '3')
    backend._threads_from_env()
    assert sg.get_num_threads() == 3
