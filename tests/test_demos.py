"""Every demo runs end to end with --quick and writes at least one PNG."""
import os
import pathlib
import subprocess
import sys

import pytest

import scratchgen as sg

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = sorted(p for p in (ROOT / 'demos').glob('*.py') if not p.name.startswith('_'))


def _run_quick(demo, out_dir, *extra):
    """Run ``demo --quick --out out_dir *extra``; return its stdout (fails on an error)."""
    env = dict(os.environ, MPLBACKEND='Agg')
    out = subprocess.run([sys.executable, str(demo), '--quick', '--out', str(out_dir), *extra],
                         capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert out.returncode == 0, f"{demo.name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


@pytest.mark.parametrize('demo', DEMOS, ids=lambda p: p.stem)
def test_demo_quick(demo, tmp_path):
    _run_quick(demo, tmp_path)
    pngs = list(tmp_path.rglob('*.png'))
    assert pngs, f"{demo.name} wrote no PNG into --out"
    for png in pngs:
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_dcgan_conditional_quick(tmp_path):
    """The conditional recipe (projection + AC head + averaged G) also runs end to end and
    writes its checkpoint with the average."""
    stdout = _run_quick(ROOT / 'demos' / 'dcgan_images.py', tmp_path, '--conditional')
    assert 'accuracy_per_label' in stdout
    ckpt = sg.load(str(tmp_path / 'gan_dcgan_shapes_conditional_checkpoint.npz'))
    assert {'generator', 'generator_ema', 'discriminator'} <= set(ckpt)
    assert 'classifier.weight' in ckpt['discriminator']
