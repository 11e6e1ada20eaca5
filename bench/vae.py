"""Speed of one VAE training step in scratchgen against the same model in PyTorch CPU.

One step = encode, reparameterise, decode, the negative ELBO (Bernoulli decoder,
closed-form KL), backward, Adam update; the models are the ones the demos train.
Each library runs in its own subprocess (NumPy and PyTorch thread pools fight when
interleaved), median of --repeats steps after 3 warm-up steps. Run:

    python bench/vae.py                     # all cases, ratio table
    python bench/vae.py --cases mlp --repeats 50
    python bench/vae.py --threads 1         # one BLAS / intra-op thread in both libraries

Cases:
  mlp    shapes demo: 256 -> 256 -> 256 -> 2x16 | 16 -> 256 -> 256 -> 256, batch 128
  jars   jars demo:  1024 -> 512 -> 256 -> 2x2 | 2 -> 256 -> 512 -> 1024, batch 128
  conv   shapes demo with --arch conv: Conv(1->32, 4, s2) Conv(32->64, 4, s2) -> 256 -> 256
         -> 2x16, and the mirror with ConvTranspose2d, batch 128

``build_torch_vae`` builds the PyTorch twin of a scratchgen VAE with the same parameter
names; tests/models/test_vae.py checks that both give the same loss and gradients.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

CASES = {
    'mlp': ('MLP VAE, binarised shapes 16x16, latent 16, batch 128',
            dict(data_shape=(1, 16, 16), latent_dim=16, arch='mlp', hidden=(256, 256))),
    'jars': ('MLP VAE, jars 32x32, latent 2, batch 128',
             dict(data_shape=(1, 32, 32), latent_dim=2, arch='mlp', hidden=(512, 256))),
    'conv': ('conv VAE, 16x16, channels (32, 64), latent 16, batch 128',
             dict(data_shape=(1, 16, 16), latent_dim=16, arch='conv', hidden=(256, 256),
                  channels=(32, 64))),
}
BATCH = 128


def build_torch_vae(config, torch):
    """A torch.nn twin of ``scratchgen.models.vae.VAE(config)`` (Bernoulli decoder):
    same layers, same parameter names; ``loss(x, eps=None)`` as VAE.loss."""
    nn = torch.nn

    def mlp(sizes):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            d, c, hidden = config.latent_dim, config.channels, config.hidden
            self.encoder, self.decoder = nn.Module(), nn.Module()
            if config.arch == 'mlp':
                self.encoder.features = nn.Flatten()
                n = config.data_size
                self.decoder.body = mlp((d,) + hidden[::-1] + (n,))
            else:
                layers, c_in = [], config.data_shape[0]
                for c_out in c:
                    layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
                    c_in = c_out
                self.encoder.features = nn.Sequential(*layers, nn.Flatten())
                sizes = [tuple(config.data_shape[1:])]
                for _ in c:
                    sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
                self.sizes = sizes[::-1]
                h, w = self.sizes[0]
                n = c[-1] * h * w
                self.decoder.body = nn.Sequential(mlp((d,) + hidden[::-1] + (n,)), nn.ReLU(),
                                                  nn.Unflatten(1, (c[-1], h, w)))
                outs = c[::-1][1:] + (config.data_shape[0],)
                self.decoder.deconvs = nn.ModuleList([nn.ConvTranspose2d(a, b, 4, 2, 1)
                                                      for a, b in zip(c[::-1], outs)])
            self.encoder.head = mlp((n,) + hidden + (2 * d,))

        def loss(self, x, eps=None):
            mu, logvar = self.encoder.head(self.encoder.features(x)).chunk(2, dim=1)
            eps = torch.randn_like(mu) if eps is None else eps
            z = mu + torch.exp(0.5 * logvar) * eps
            out = self.decoder.body(z)
            if config.arch == 'mlp':
                out = out.reshape(x.shape)
            else:
                for i, deconv in enumerate(self.decoder.deconvs):
                    out = deconv(out, output_size=self.sizes[i + 1])
                    if i < len(self.decoder.deconvs) - 1:
                        out = torch.relu(out)
            rec = nn.functional.binary_cross_entropy_with_logits(out, x, reduction='none')
            kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)
            return (rec.flatten(1).sum(1) + config.beta * kl).mean()

    return TorchVAE()


def _batch(config):
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.random((BATCH,) + tuple(config.data_shape)) < 0.3).astype(np.float32)


def build_sg(case):
    import scratchgen as sg
    from scratchgen.models.vae import VAE, VAEConfig
    sg.manual_seed(0)
    model = VAE(VAEConfig(**CASES[case][1]))
    opt = sg.optim.Adam(model.parameters(), lr=1e-3)
    x = sg.tensor(_batch(model.config))

    def step():
        loss = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def build_torch(case):
    import torch
    from scratchgen.models.vae import VAEConfig
    torch.manual_seed(0)
    config = VAEConfig(**CASES[case][1])
    model = build_torch_vae(config, torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.tensor(_batch(config))

    def step():
        loss = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


if __name__ == '__main__':
    main(__file__, {k: v[0] for k, v in CASES.items()}, build_sg, build_torch, doc=__doc__)
