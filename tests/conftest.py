import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))    # tests/helpers.py for every test folder

from scratchgen import backend  # noqa: E402

_cuda_reason = backend.cuda_unavailable_reason()
DEVICES = ['cpu', 'emu', pytest.param('cuda', marks=pytest.mark.skipif(
    _cuda_reason is not None, reason=f"cuda: {_cuda_reason}"))]


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on every device: NumPy, the emulated device boundary, and CuPy."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    backend.manual_seed(0)
    yield


def pytest_report_header(config):
    if _cuda_reason is None:
        return "devices: cpu, emu, cuda"
    return f"devices: cpu, emu; every 'cuda' case is skipped: {_cuda_reason}"
