"""BLAS threads chosen by the library (backend.matmul): the choice per product, the fixed
count of sg.set_num_threads, its checks, and that the products are unchanged. Speed is
measured in bench/threads.py, not here."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend

threadpoolctl = pytest.importorskip('threadpoolctl')


def blas_threads():
    return [c.num_threads for c in backend._blas_controllers()]


@pytest.fixture(autouse=True)
def _restore():
    yield
    sg.set_num_threads(None)


def test_per_product_choice_and_fixed_count(monkeypatch):
    sg.set_num_threads(None)
    most = sg.get_num_threads()
    a = np.ones((4, 4), dtype=np.float32)
    backend.matmul(a, a)                           # small: one thread
    assert blas_threads() and set(blas_threads()) == {1}
    monkeypatch.setattr(backend, 'GEMM_THREADS_MIN_WORK', 1)
    backend.matmul(a, a)                           # "large": every thread
    assert set(blas_threads()) == {most}
    sg.set_num_threads(1)                          # fixed: one thread whatever the size
    backend.matmul(a, a)
    assert sg.get_num_threads() == 1 and set(blas_threads()) == {1}


def test_products_are_unchanged(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5, 7)), rng.standard_normal((7, 2))
    want = a @ b
    for work in (1, 10 ** 12):
        monkeypatch.setattr(backend, 'GEMM_THREADS_MIN_WORK', work)
        np.testing.assert_allclose(backend.matmul(a, b), want, rtol=1e-12)


def test_bad_thread_counts_are_refused(monkeypatch):
    for bad in (0, -1, 1.5, True, '2'):
        with pytest.raises(ValueError, match='set_num_threads: expected a positive int or None'):
            sg.set_num_threads(bad)
    monkeypatch.setenv('SCRATCHGEN_NUM_THREADS', 'many')
    with pytest.raises(ValueError, match="SCRATCHGEN_NUM_THREADS must be a positive integer, got 'many'"):
        backend._threads_from_env()
    monkeypatch.setenv('SCRATCHGEN_NUM_THREADS', '1')
    backend._threads_from_env()
    assert sg.get_num_threads() == 1
