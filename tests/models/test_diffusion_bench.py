"""The PyTorch twin of the diffusion U-Net in bench/diffusion.py is the same network: a
scratchgen state_dict loads into it by name and both give the same output."""
import importlib.util
import os

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.models.diffusion import UNet

torch = pytest.importorskip('torch')
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')


def _bench():
    spec = importlib.util.spec_from_file_location('bench_diffusion',
                                                  os.path.join(ROOT, 'bench', 'diffusion.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('mults', [(1, 2), (1, 2, 2)])
def test_torch_twin_matches_the_unet(mults):
    sg.manual_seed(0)
    net = UNet(3, channels=8, channel_mults=mults, num_classes=3)
    twin = _bench().torch_unet(3, 8, mults, num_classes=3)
    state = {k: torch.as_tensor(np.array(v.numpy())) for k, v in net.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in net.parameters())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    t = np.array([1.0, 250.0, 600.0, 999.0], np.float32)
    y = np.array([0, 1, 2, 3])                                  # 3 = "no label"
    ours = net(sg.tensor(x), sg.tensor(t), sg.tensor(y)).numpy()
    theirs = twin(torch.as_tensor(x), torch.as_tensor(t), torch.as_tensor(y)).detach().numpy()
    assert np.abs(ours).max() > 1e-2                            # not trivially zero
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_bench_cases_cover_the_demo_default():
    bench = _bench()
    assert bench.ARGS['unet16'] == dict(channels=16, channel_mults=(1, 2, 2))
