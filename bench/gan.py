"""Time one GAN training step (n_critic critic updates + one generator update) per loss.

    OMP_NUM_THREADS=1 python bench/gan.py               # toy MLP (batch 512) and DCGAN 16x16 (batch 64)
    OMP_NUM_THREADS=1 python bench/gan.py --repeats 20

The toy setup is the one of demos/gan_toy2d.py (MLP 2-128-128-128-2 with batch norm in G,
batch 512); the image setup that of demos/dcgan_images.py (width 32, latent 32, 16x16 RGB,
batch 64); EBGAN's autoencoder discriminators are of the same width. Median over
``--repeats`` steps after two warm-up steps. WGAN-GP's step costs the most: five critic
updates, each with a double backward through the critic.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import scratchgen as sg  # noqa: E402
from scratchgen.models import gan  # noqa: E402
from _harness import median_time  # noqa: E402


def toy(loss):
    G = gan.MLPGenerator(2, 2, 128, 3, batch_norm=True)
    D = gan.MLPAutoencoderDiscriminator(2, 128, 3) if loss == 'ebgan' else \
        gan.MLPDiscriminator(2, 128, 3)
    x = sg.tensor(sg.data.toy2d('grid25', 512, seed=0))
    return gan.GAN(G, D, loss), lambda: x


def images(loss):
    G = gan.DCGANGenerator(32, 3, 16, 32)
    D = gan.ConvAutoencoderDiscriminator(3, 16, 32) if loss == 'ebgan' else \
        gan.DCGANDiscriminator(3, 16, 32, norm=None if loss == 'wgan-gp' else 'batch')
    x = sg.tensor(sg.data.shapes(64, size=16, seed=0).images * 2 - 1)
    return gan.GAN(G, D, loss), lambda: x


def time_step(build, loss, repeats):
    sg.manual_seed(0)
    model, batch = build(loss)
    return median_time(lambda: model.train_step(batch), repeats, warmup=2), model.n_critic


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=int, default=10)
    args = p.parse_args()
    print(f"{'setup':8s} {'loss':14s} {'n_critic':>8s} {'ms / step':>10s}")
    for name, build in (('toy', toy), ('dcgan16', images)):
        for loss in gan.LOSSES:
            ms, n_critic = time_step(build, loss, args.repeats)
            print(f"{name:8s} {loss:14s} {n_critic:8d} {1000 * ms:10.1f}", flush=True)


if __name__ == '__main__':
    main()
