"""Every demo runs end to end with --quick, writes at least one PNG and OUT/metrics.json
(and OUT/samples.npz when it generates); the demos that train on data take --data PATH
and refuse a bad file with a message that names it."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import scratchgen as sg

ROOT = pathlib.Path(__file__).resolve().parent.parent
# tour.py runs once, in tests/test_tour_page.py (its files, then its page in Chromium)
DEMOS = sorted(p for p in (ROOT / 'demos').glob('*.py')
               if not p.name.startswith('_') and p.stem != 'tour')
NO_SAMPLES = {'data_gallery'}       # it generates nothing: no OUT/samples.npz


def _run(demo, out_dir, *extra):
    env = dict(os.environ, MPLBACKEND='Agg')
    return subprocess.run([sys.executable, str(demo), '--quick', '--out', str(out_dir), *extra],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def _run_quick(demo, out_dir, *extra):
    """Run ``demo --quick --out out_dir *extra``; return its stdout (fails on an error)."""
    out = _run(demo, out_dir, *extra)
    assert out.returncode == 0, f"{demo.name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def _check_results(demo, out_dir):
    """OUT/metrics.json: a non-empty JSON object; OUT/samples.npz: non-empty arrays."""
    path = out_dir / 'metrics.json'
    assert path.exists(), f"{demo.name} wrote no metrics.json into --out"
    metrics = json.loads(path.read_text())
    assert isinstance(metrics, dict) and metrics, f"{demo.name}: metrics.json is empty"
    if demo.stem not in NO_SAMPLES:
        assert (out_dir / 'samples.npz').exists(), f"{demo.name} wrote no samples.npz"
        with np.load(out_dir / 'samples.npz', allow_pickle=False) as f:
            assert f.files and all(f[k].size for k in f.files)
    return metrics


@pytest.mark.parametrize('demo', DEMOS, ids=lambda p: p.stem)
def test_demo_quick(demo, tmp_path):
    _run_quick(demo, tmp_path)
    pngs = list(tmp_path.rglob('*.png'))
    assert pngs, f"{demo.name} wrote no PNG into --out"
    for png in pngs:
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    _check_results(demo, tmp_path)


def _images(path):
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.uniform(0, 1, (120, 8, 8)).astype(np.float32))


def _text(path):
    path.write_text('the quick brown fox jumps over the lazy dog; ' * 50, encoding='utf-8')


def _points(path):
    np.save(path, np.random.default_rng(0).standard_normal((200, 2)) * [3.0, 0.5] + 10.0)


def _rows(path):
    np.save(path, np.random.default_rng(0).integers(0, 3, (100, 4)))


def _captioned(path, word='red'):
    d = sg.data.caption_shapes(60, seed=0, size=8)
    np.savez(path, images=d.images, captions=np.array([c.replace('red', word) for c in d.captions]))


# demo -> (file name, write a good file, write a bad file)
DATA_DEMOS = {
    'vae_images': ('imgs.npz', _images,
                   lambda p: np.savez(p, pictures=np.zeros((120, 8, 8)))),
    'gpt_char': ('corpus.txt', _text, lambda p: p.write_bytes(b'\xff\xfe not utf-8 ' * 200)),
    'rnn_vs_gpt': ('corpus.txt', _text, lambda p: p.write_bytes(b'\xff\xfe not utf-8 ' * 200)),
    'naive_bayes_avatars': ('rows.npy', _rows, lambda p: np.save(p, np.zeros((100, 4)))),
    'gan_toy2d': ('points.npy', _points, lambda p: np.save(p, np.zeros((100, 3)))),
    'dcgan_images': ('imgs.npz', _images,
                     lambda p: np.savez(p, images=np.zeros((120, 8, 12)))),
    'flow_toy2d': ('points.npy', _points, lambda p: np.save(p, np.zeros((100, 3)))),
    'flow_images': ('imgs.npz', _images, lambda p: np.savez(p, images=np.full((120, 8, 8), 2.0))),
    'ddpm_toy2d': ('points.npy', _points, lambda p: np.save(p, np.zeros((100, 3)))),
    'ddpm_images': ('imgs.npz', _images, lambda p: np.savez(p, pictures=np.zeros((120, 8, 8)))),
    'clip_shapes': ('caps.npz', _captioned, lambda p: _captioned(p, word='crimson')),
}


@pytest.mark.parametrize('name', list(DATA_DEMOS))
def test_demo_data_file(name, tmp_path):
    """--quick --data on a tiny file the test writes: runs and writes its results; a bad
    file: non-zero exit, and the message names the file."""
    demo = ROOT / 'demos' / f'{name}.py'
    filename, good, bad = DATA_DEMOS[name]
    good(tmp_path / filename)
    _run_quick(demo, tmp_path / 'out', '--data', str(tmp_path / filename))
    metrics = _check_results(demo, tmp_path / 'out')
    assert str(tmp_path / filename) in json.dumps(metrics)     # it says which data it used
    bad(tmp_path / f'bad_{filename}')
    out = _run(demo, tmp_path / 'bad_out', '--data', str(tmp_path / f'bad_{filename}'))
    assert out.returncode != 0
    assert f'bad_{filename}' in out.stderr and 'Traceback' not in out.stderr, out.stderr[-2000:]


def test_dcgan_conditional_quick(tmp_path):
    """The conditional recipe (projection + AC head + averaged G) also runs end to end and
    writes its checkpoint with the average."""
    stdout = _run_quick(ROOT / 'demos' / 'dcgan_images.py', tmp_path, '--conditional')
    assert 'accuracy_per_label' in stdout
    ckpt = sg.load(str(tmp_path / 'gan_dcgan_shapes_conditional_checkpoint.npz'))
    assert {'generator', 'generator_ema', 'discriminator'} <= set(ckpt)
    assert 'classifier.weight' in ckpt['discriminator']


def test_dcgan_ebgan_quick(tmp_path):
    """--loss ebgan (autoencoder discriminator, margin and pulling-away term) runs end to
    end; --margin is passed through to the loss."""
    _run_quick(ROOT / 'demos' / 'dcgan_images.py', tmp_path, '--loss', 'ebgan', '--margin', '0.5')
    metrics = _check_results(ROOT / 'demos' / 'dcgan_images.py', tmp_path)
    assert metrics['loss'] == 'ebgan' and 'margin=0.5' in metrics['loss_config']


def test_ddpm_images_checkpoint_round_trip(tmp_path):
    """A conditional quick run saves its model with its config; --checkpoint evaluates it
    again without training and reaches the same FD with the same seed."""
    demo = ROOT / 'demos' / 'ddpm_images.py'
    _run_quick(demo, tmp_path / 'a', '--conditional', '--guidance', '1')
    ckpt = tmp_path / 'a' / 'ddpm_shapes_checkpoint.npz'
    assert sg.load(str(ckpt))['config']['num_classes'] == 3
    stdout = _run_quick(demo, tmp_path / 'b', '--conditional', '--guidance', '1',
                        '--checkpoint', str(ckpt))
    assert 'loaded' in stdout and '[shapes] step' not in stdout
    fd = [json.loads((tmp_path / d / 'metrics.json').read_text())['results']['w=1']['fd']
          for d in ('a', 'b')]
    assert fd[0] == pytest.approx(fd[1], rel=1e-6), fd


def test_text_to_image_prompt_from_checkpoint(tmp_path):
    """Training saves one checkpoint; --prompt loads it (no training) and writes n images
    for the prompt; an unknown word or an over-long prompt is refused by name."""
    demo = ROOT / 'demos' / 'text_to_image.py'
    _run_quick(demo, tmp_path / 'a')
    ckpt = tmp_path / 'a' / 'text_to_image_checkpoint.npz'
    stdout = _run_quick(demo, tmp_path / 'b', '--checkpoint', str(ckpt),
                        '--prompt', 'large green triangle', '--n', '5')
    assert '[clip] step' not in stdout and '[unet] step' not in stdout
    with np.load(tmp_path / 'b' / 'samples.npz') as f:
        assert f['samples'].shape == (5, 3, 16, 16)
    assert list((tmp_path / 'b').glob('prompt_*.png'))
    _run_quick(demo, tmp_path / 'd', '--checkpoint', str(ckpt), '--figures-only')
    assert (tmp_path / 'd' / 'cross_attention.png').exists()
    for prompt, message in (('large green hexagon', "unknown word 'hexagon'"),
                            ('a very large green triangle', 'at most 3 words')):
        bad = _run(demo, tmp_path / 'c', '--checkpoint', str(ckpt), '--prompt', prompt)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr[-500:]


def test_text_to_image_dit_quick(tmp_path):
    """--denoiser dit trains the DiT in the same pipeline."""
    _run_quick(ROOT / 'demos' / 'text_to_image.py', tmp_path, '--denoiser', 'dit')
    assert json.loads((tmp_path / 'metrics.json').read_text())['denoiser'] == 'dit'


def test_text_to_image_avatars_quick(tmp_path):
    """--dataset avatars: 32x32 images through a 4x8x8 latent, five-word prompts scored by
    five attribute judges; its checkpoint takes avatar prompts and refuses shapes words."""
    demo = ROOT / 'demos' / 'text_to_image.py'
    _run_quick(demo, tmp_path / 'a', '--dataset', 'avatars')
    m = json.loads((tmp_path / 'a' / 'metrics.json').read_text())
    assert m['dataset'] == 'avatars' and m['latent_shape'] == [4, 8, 8]
    assert set(m['guidance_sweep']['w=1']['holdout']) >= {'hair_type', 'clothing_type', 'all'}
    ckpt = tmp_path / 'a' / 'text_to_image_checkpoint.npz'
    _run_quick(demo, tmp_path / 'b', '--checkpoint', str(ckpt),
               '--prompt', 'round red vneck black straight', '--n', '3')
    with np.load(tmp_path / 'b' / 'samples.npz') as f:
        assert f['samples'].shape == (3, 3, 32, 32)
    bad = _run(demo, tmp_path / 'c', '--checkpoint', str(ckpt), '--prompt', 'large green triangle')
    assert bad.returncode == 2 and "unknown word 'large'" in bad.stderr, bad.stderr[-500:]


def test_ddpm_images_distill_quick(tmp_path):
    """--distill K runs K rounds of progressive distillation after training and scores
    every student and the teacher at the same step counts, at each guidance weight."""
    demo = ROOT / 'demos' / 'ddpm_images.py'
    _run_quick(demo, tmp_path, '--conditional', '--guidance', '0,1', '--distill', '2',
               '--skip-inpaint')
    rows = _check_results(demo, tmp_path)['distillation']
    assert len(rows['cpu_min_per_round']) == 2
    for w in ('w=0', 'w=1'):       # --quick: T = 50, teacher at 4 steps, students at 2 and 1
        assert set(rows[w]) == {'teacher 50', 'teacher 4', 'teacher 2', 'teacher 1',
                                'student 2', 'student 1'}
        assert all(np.isfinite(r['fd']) for r in rows[w].values())
    assert (tmp_path / 'distilled_shapes_1steps_w1_samples.png').exists()
    assert not (tmp_path / 'diffusion_shapes_inpaint.png').exists()


def test_ddpm_images_avatars_quick(tmp_path):
    """--dataset avatars trains and scores on 32x32 avatars (the DCGAN demo's data)."""
    demo = ROOT / 'demos' / 'ddpm_images.py'
    _run_quick(demo, tmp_path, '--dataset', 'avatars', '--skip-inpaint')
    metrics = _check_results(demo, tmp_path)
    assert metrics['data'] == 'avatars' and metrics['config']['data_shape'] == [3, 32, 32]
    with np.load(tmp_path / 'samples.npz') as f:
        assert f['samples'].shape[1:] == (3, 32, 32)


def test_clip_avatars_quick(tmp_path):
    """clip_shapes --dataset avatars: CLIP on the 32x32 avatars, zero-shot per feature on
    seen and held-out combinations, and one attribute classifier per feature."""
    demo = ROOT / 'demos' / 'clip_shapes.py'
    _run_quick(demo, tmp_path, '--dataset', 'avatars')
    metrics = _check_results(demo, tmp_path)
    assert metrics['dataset'] == 'avatars'
    for split in ('seen', 'holdout'):
        assert set(sg.data.AVATAR_FEATURES) <= set(metrics['zero_shot'][split])
        assert 'hair_type' in metrics['attribute_classifiers']['real_accuracy'][split]
    rec = metrics['recall_at_1']                  # one rendering per caption: all 4,032
    assert rec['captions'] == 4032 and 0.0 <= rec['holdout_text_to_image'] <= 1.0
    assert (tmp_path / 'clip_zero_shot_confusion.png').exists()
