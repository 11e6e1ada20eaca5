"""The tour: every model family in scratchgen trained briefly on its default data, and a
gallery page of what each one generates.

    python demos/tour.py                     # every family: ~6 CPU minutes (19 min wall on a busy 2-core machine)
    python demos/tour.py --quick             # tiny budgets, real numbers: ~30 CPU seconds (under 2 min wall)
    python demos/tour.py --only gan,flow     # a subset (names below)
    python demos/tour.py --device emu        # any stage on another device ('cpu', 'emu', 'cuda')

Stages, each with its own progress bars (a live line on a terminal, periodic lines when
piped): ``autograd`` (an MLP fitted to a curve, its graph drawn by sg.viz.graph, a
gradcheck), ``naive_bayes`` (avatars), ``vae`` (binarised shapes), ``gan`` (the 2-D
ring benchmark), ``flow`` (a multi-scale flow on grey shapes, bits/dim), ``diffusion``
(the 2-D DDPM on ring8_wide: samplers and ODE likelihood), ``gpt`` (a tiny character
GPT on Python's own sources) and ``compare`` (one table on binarised shapes: naive
Bayes, VAE, MADE, PixelCNN and a DCGAN, with NLL, Fréchet distance in the in-repo
feature net's space and sampling time per image). Each stage calls the functions of the
full demo in demos/ at a smaller budget. Text-to-image is not in the library yet.

Writes OUT/index.html (static: open it in a browser, no network or JavaScript needed)
with the PNGs beside it, and OUT/metrics.json with every stage's headline numbers. A
stage that fails is shown as failed on the page with its error and the others go on;
the exit status is 1 when any stage failed.
"""
import argparse
import math
import sys
import time
import traceback

import numpy as np

from _common import Progress, ensure_out, parser, write_results
import _gallery

import scratchgen as sg
from scratchgen import nn
from scratchgen.viz import new_figure, save

STAGES = {}        # name -> (title, function); filled by @stage in the order of the page


def stage(name, title):
    def register(fn):
        STAGES[name] = (title, fn)
        return fn
    return register


def fmt(v, digits=3):
    """A number for the page ('—' for None, NaN or inf)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '—' if v is None or math.isnan(v) else ('∞' if v > 0 else '−∞')
    return f"{v:.{digits}f}".replace('-', '−')


def namespace(args, **options):
    """The arguments a demo's function reads from its own parser, for the tour's run."""
    return argparse.Namespace(quick=args.quick, seed=args.seed, device=args.device, data=None,
                              **options)


# ----------------------------------------------------------------------------- naive Bayes
@stage('naive_bayes', 'Naive Bayes on the fashion avatars')
def naive_bayes_stage(args, out):
    import naive_bayes_avatars as demo
    true = sg.data.avatar_joint()
    seeds = [args.seed] if args.quick else list(range(args.seed, args.seed + 5))
    n_test, n_pixel = (2000, 500) if args.quick else (10000, 5000)
    tables = demo.feature_table(args, true, seeds, n_test)
    cat, gauss, images, pixels = demo.pixel_models(args, n_pixel, args.device)
    _, new = demo.figures(args, out, true, cat, gauss, images, args.device)
    nb, full = tables['N=50'][demo.NB], tables['N=50'][demo.MODELS[1][0]]
    nb5k = tables['N=5000'][demo.NB]
    mean = lambda v: float(np.mean(v))
    return dict(
        blurb=f"Counting: the full joint table over the 4,032 feature combinations against "
              f"naive Bayes (5 independent features, 23 parameters), exact KL to the true "
              f"distribution, {len(seeds)} seed(s); then the same independence assumption "
              f"on {n_pixel} rendered 32x32 images, whose samples are coloured noise.",
        metrics=[('KL(true ‖ naive Bayes), N = 50', fmt(mean(nb['KL'])), '0.558 ± 0.131 (5 seeds)', None),
                 ('KL(true ‖ full joint α=1), N = 50', fmt(mean(full['KL'])), '0.630 ± 0.003', None),
                 ('KL(true ‖ naive Bayes), N = 5,000', fmt(mean(nb5k['KL'])),
                  '0.339 ± 0.000 (its floor 0.336)', None),
                 ('pixel model: log10 P(all 4,032 valid avatars)', fmt(pixels['log10_mass_on_valid_avatars'], 0),
                  '−210 (5,000 images)', None),
                 ('naive Bayes samples never seen in training (of 10)', str(new), '8 of 10', None)],
        images=[('naive_bayes_samples.png', 'training avatars; naive Bayes samples (rendered); pixel '
                 'naive Bayes samples'),
                ('naive_bayes_cells.png', 'model against true probability for all 4,032 combinations')],
        command='python demos/naive_bayes_avatars.py',
        docs=('docs/naive_bayes.md', 'Measured: counting vs independence', 'docs/naive_bayes.md'),
        numbers=dict(seeds=seeds, n_test=n_test, kl_nb_50=mean(nb['KL']),
                     kl_full_50=mean(full['KL']), kl_nb_5000=mean(nb5k['KL']),
                     naive_bayes_floor_kl=tables['naive_bayes_floor_kl'], pixels=pixels,
                     new_samples=new))


# ----------------------------------------------------------------------------- VAE
@stage('vae', 'VAE on binarised shapes')
def vae_stage(args, out):
    import vae_images as demo
    from scratchgen.models.vae import VAEConfig
    n_train, n_test, steps = (1000, 200, 40) if args.quick else (20000, 2000, 1500)
    x_train, _ = demo.binarised_shapes(n_train, np.random.default_rng((args.seed, 1)))
    x_test, _ = demo.binarised_shapes(n_test, np.random.default_rng((args.seed, 2)))
    config = VAEConfig(data_shape=(1, 16, 16), latent_dim=16, arch='mlp',
                       hidden=(64,) if args.quick else (256, 256))
    sg.manual_seed(args.seed)
    row, _ = demo.likelihood_experiment('shapes', x_train, x_test, config, steps,
                                        namespace(args), out)
    gain = row['gain']
    return dict(
        blurb=f"An MLP VAE (latent 16, Bernoulli decoder) trained for {steps} steps on "
              f"{n_train:,} binarised 16x16 shapes; on {n_test:,} held-out images the IWAE "
              "bound on −log p(x) (k = 100) against independent pixels.",
        metrics=[('IWAE NLL (k = 100), nats/image', fmt(row['iwae'], 2), '15.90 (4,000 steps)', None),
                 ('test −ELBO, nats/image', fmt(row['neg_elbo'], 2), '17.77', None),
                 ('independent pixels, nats/image', fmt(row['baseline'], 2), '91.60', None),
                 ('IWAE NLL below the baseline by', f"{100 * gain:.1f}%",
                  'target ≥ 30% (docs: 82.6%)', bool(gain >= 0.3))],
        images=[('vae_shapes_samples.png', 'samples: the mean of p(x|z), z ~ N(0, I)'),
                ('vae_shapes_reconstructions.png', 'held-out images and their reconstructions'),
                ('vae_shapes_interpolations.png', 'latent interpolations between held-out images')],
        command='python demos/vae_images.py',
        docs=('docs/vae.md', 'Binarised images: nats per image against independent pixels',
              'docs/vae.md'),
        numbers=row)


# ----------------------------------------------------------------------------- GAN
@stage('gan', 'GAN on the 2-D ring of eight Gaussians')
def gan_stage(args, out):
    import gan_toy2d as demo
    if args.quick:
        steps, arch, batch, n_eval = 300, dict(latent_dim=2, width=32, depth=2), 64, 500
    else:
        steps, arch, batch, n_eval = 2000, demo.ARCH, demo.BATCH, demo.N_EVAL
    r, snapshots, _ = demo.train('nonsaturating', 'ring8', args.seed, steps, args.device, arch,
                                 batch=batch, n_eval=n_eval)
    demo.trajectories_figure([dict(name='nonsaturating', result=r, snapshots=snapshots)], 'ring8',
                             f"{out}/gan_toy2d_ring8_training.png",
                             f"ring8: samples over {steps} generator steps (seed {args.seed})")
    return dict(
        blurb=f"The non-saturating GAN (MLP generator with batch norm, latent 2) for {steps} "
              f"generator steps on ring8, eight Gaussians with σ = 0.01 on the unit circle; "
              f"{n_eval} samples scored against the known modes.",
        metrics=[('modes captured', f"{r['modes']} / {r['n_modes']}", 'target 8 / 8 (docs: 8 / 8)',
                  r['modes'] == r['n_modes']),
                 ('high-quality samples (within 3σ of a mode)', f"{100 * r['hq']:.1f}%",
                  'target ≥ 80% (docs seed 0: 92.0%, 6,000 steps)', bool(r['hq'] >= 0.8)),
                 ('reverse KL of the mode histogram', fmt(r['rkl'], 2), '0.01', None),
                 ('MMD² to fresh data', fmt(r['mmd2'], 4), '0.0017', None)],
        images=[('gan_toy2d_ring8_training.png', 'generator samples over training (red), and the data (blue)')],
        command='python demos/gan_toy2d.py',
        docs=('docs/gan.md', 'The 2-D mode-collapse benchmark', 'docs/gan.md'),
        numbers=r)


# ----------------------------------------------------------------------------- flow
@stage('flow', 'Normalizing flow on grey shapes: bits per dimension')
def flow_stage(args, out):
    import flow_images as demo
    n_train, n_test, steps = (500, 100, 15) if args.quick else (10000, 2000, 300)
    levels = 16
    tr = sg.data.shapes(n_train, 16, seed=np.random.default_rng((args.seed, 1)), color=False).images
    te = sg.data.shapes(n_test, 16, seed=np.random.default_rng((args.seed, 2)), color=False).images
    r, _ = demo.flow_bits_per_dim('shapes', demo.quantised(tr, levels), demo.quantised(te, levels),
                                  levels, namespace(args, layers=4, steps=steps, batch=64, lr=1e-3),
                                  out)
    return dict(
        blurb=f"A RealNVP/Glow multi-scale flow ({r['params']:,} parameters) trained for {steps} "
              f"steps on uniformly dequantised 16-level grey shapes; its test bits/dim is an "
              "upper bound on the discrete model's, beside independent pixels (exact).",
        metrics=[('flow test bits/dim (bound)', fmt(r['bits_per_dim'], 4), '0.982 (1,000 steps)', None),
                 ('independent pixels bits/dim (exact)', fmt(r['baseline_bits_per_dim'], 4), '1.547', None),
                 ('flow below independent pixels', 'yes' if r['bits_per_dim'] < r['baseline_bits_per_dim']
                  else 'no', 'docs: 36% fewer bits', bool(r['bits_per_dim'] < r['baseline_bits_per_dim']))],
        images=[('flow_images_shapes_samples.png', '64 flow samples')],
        command='python demos/flow_images.py',
        docs=('docs/flows.md', 'Images: bits per dimension with dequantisation', 'docs/flows.md'),
        numbers=r)


# ----------------------------------------------------------------------------- diffusion
@stage('diffusion', 'Diffusion (DDPM) on 2-D data')
def diffusion_stage(args, out):
    import ddpm_toy2d as demo
    if args.quick:
        cfg = dict(steps=300, batch=128, hidden=32, depth=2, n_train=2000, n_eval=300, n_nll=100,
                   nll_steps=10)
        keys = ('DDPM (1000)', 'DDIM η=0 (20)')
    else:
        cfg = dict(steps=3000, batch=256, hidden=128, depth=3, n_train=20000, n_eval=600,
                   n_nll=300, nll_steps=50)
        keys = ('DDPM (1000)', 'DDIM η=0 (50)', 'ODE RK4 (25)')
    cfg.update(samplers={k: demo.SAMPLERS[k] for k in keys}, distill_steps=0)
    ns = namespace(args, prediction='eps', lr=2e-3, distill=0, distill_from=64, distill_lr=5e-4)
    label, r, _ = demo.run('ring8_wide', ns, out, cfg)
    entropy = r['entropy']
    return dict(
        blurb=f"An MLP ε-predictor (hidden {cfg['hidden']}, depth {cfg['depth']}) trained for "
              f"{cfg['steps']} steps on ring8_wide; {cfg['n_eval']} samples per sampler against "
              "as many held-out points (1-NN two-sample accuracy: 0.5 = indistinguishable), and "
              "the held-out NLL through the probability-flow ODE.",
        metrics=[(f"best sampler's 1-NN accuracy ({r['best']})", fmt(r['best_one_nn']),
                  'target ≤ 0.55 (docs: 0.490, 6,000 steps)', bool(r['best_one_nn'] <= 0.55)),
                 ('ODE NLL, nats', fmt(r['nll']), f"1.745 (entropy {entropy:.3f})", None)]
        + [(f"{k}: ms / sample", fmt(v['ms_per_sample'], 2), '', None) for k, v in r['samplers'].items()],
        images=[('diffusion_toy2d_reverse_ring8_wide.png', 'the reverse process: DDPM from noise to data'),
                ('diffusion_toy2d_samplers_ring8_wide.png', 'samples of each sampler and the held-out data')],
        command='python demos/ddpm_toy2d.py',
        docs=('docs/diffusion.md', 'Measured results: 2-D', 'docs/diffusion.md'),
        numbers=r)


# ----------------------------------------------------------------------------- GPT
@stage('gpt', 'A tiny GPT on Python\'s own source code')
def gpt_stage(args, out):
    import gpt_char as demo
    from scratchgen.models.gpt import GPT, GPTConfig
    train, val, tok, what = demo.token_ids(None, None, args.quick)
    V = tok.vocab_size
    base = demo.baselines(train, val, V)
    if args.quick:
        config, steps = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32), 60
    else:
        config, steps = GPTConfig(vocab_size=V, block_size=64, n_layer=2, n_head=4, n_embd=64), 450
    sg.manual_seed(args.seed)
    model = GPT(config, device=args.device)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=2e-3)
    sched = sg.optim.warmup_cosine(opt, warmup_steps=min(100, steps // 10), total_steps=steps)
    losses, evals, seconds = demo.train_gpt(model, opt, sched, train, val, steps, 16,
                                            np.random.default_rng(args.seed), args.device)
    final = evals[1][-1]
    demo.loss_figure(steps, losses, evals, base, f"{out}/gpt_char_loss.png",
                     f"char-level GPT, {model.num_parameters():,} parameters: validation "
                     f"{final:.3f} nats/char")
    sg.manual_seed(args.seed)
    ids = sg.tensor(np.array([tok.encode('def ')]), device=args.device)
    sample = tok.decode(model.generate(ids, 120 if args.quick else 300, temperature=0.8).numpy()[0])
    return dict(
        blurb=f"A GPT of {model.num_parameters():,} parameters ({config.n_layer} layers, "
              f"n_embd {config.n_embd}, context {config.block_size}) trained for {steps} steps "
              f"on {len(train):,} characters of {what}; validation loss against count baselines.",
        metrics=[('GPT validation nats/char', fmt(final), '1.328 (4 layers, n_embd 128, 2,000 steps)', None),
                 ('bigram baseline nats/char', fmt(base['bigram']), '2.381', None),
                 ('unigram baseline nats/char', fmt(base['unigram']), '3.116', None),
                 ('GPT below the bigram', 'yes' if final < base['bigram'] else 'no',
                  'docs: within its first 250 steps', bool(final < base['bigram']))],
        images=[('gpt_char_loss.png', 'training and validation loss with the baselines')],
        text=f"sample (prompt 'def ', temperature 0.8):\n{sample}",
        command='python demos/gpt_char.py',
        docs=('docs/transformer.md', "Character-level language model on Python's own source code",
              'docs/transformer.md'),
        numbers=dict(val_nats=final, baselines=base, steps=steps, params=model.num_parameters(),
                     train_seconds=seconds, sample=sample))


# ----------------------------------------------------------------------------- comparison
@stage('compare', 'One table across the families: binarised shapes')
def compare_stage(args, out):
    """NLL (flow_images.families: naive Bayes, VAE, MADE, PixelCNN), a DCGAN on the same
    images, and for all of them the Fréchet distance of 64 samples in the feature space of
    a classifier trained on the training images, and the sampling time per image."""
    import dcgan_images as dcgan
    import flow_images as flows
    import vae_images
    from scratchgen.models import gan
    quick = args.quick
    n_train, n_test = (1000, 200) if quick else (20000, 2000)       # as flow_images.families
    x_train, y_train = vae_images.binarised_shapes(n_train, np.random.default_rng((args.seed, 1)))
    x_test, y_test = vae_images.binarised_shapes(n_test, np.random.default_rng((args.seed, 2)))
    row, samples = flows.family_row('shapes', x_train, x_test, 1000, namespace(
        args, made_steps=1000, pixelcnn_steps=100), out)

    # a DCGAN on the same binarised images (tanh range), its samples binarised at 1/2
    steps = 100 if quick else 600
    sg.manual_seed(args.seed)
    model = gan.GAN.from_config(gan.GANConfig(arch='dcgan', channels=1, image_size=16, latent_dim=32,
                                              width=8 if quick else 32), args.device)
    rng, scaled = np.random.default_rng(args.seed), x_train * 2.0 - 1.0

    def next_batch():
        return sg.tensor(scaled[rng.integers(0, len(scaled), 64)], device=args.device)
    _, gan_cpu = dcgan.train_gan(model, next_batch, steps, 'DCGAN')
    sg.manual_seed(args.seed + 2)
    t0 = time.time()
    fake = dcgan.generate(model.G, 64)
    gan_ms = 1000 * (time.time() - t0) / 64
    samples['dcgan_samples'] = (fake >= 0.5).astype(np.float32)

    net = sg.metrics.train_feature_net(x_train, y_train, arch='conv', epochs=4 if quick else 1,
                                       seed=args.seed, device=args.device)
    accuracy = sg.metrics.classifier_accuracy(net, x_test, y_test)
    reference = net.features(x_test[64:])

    def fd(x):
        return sg.metrics.frechet_distance(net.features(x), reference)

    k = row['vae_k']
    families = [  # family, model, NLL, kind of NLL, samples key, ms/image, training, docs NLL
        ('naive Bayes', 'pixel naive Bayes', row['naive_bayes'], 'exact', 'naive_bayes_samples',
         row['naive_bayes_ms_per_image'], 'counting', '91.60'),
        ('VAE', 'MLP VAE, latent 16', row['vae_iwae'], f"IWAE bound, k = {k}", 'vae_samples',
         row['vae_ms_per_image'], f"{row['vae_steps']} steps", '15.80 (k = 1,000)'),
        ('autoregressive (models/flows)', 'MADE', row['made'], 'exact', 'made_samples',
         row['made_ms_per_image'], f"{row['made_steps']} steps", '13.90'),
        ('autoregressive (models/flows)', 'PixelCNN', row['pixelcnn'], 'exact', 'pixelcnn_samples',
         row['pixelcnn_ms_per_image'], f"{row['pixelcnn_steps']} steps", '16.28'),
        ('GAN', 'DCGAN (samples binarised at 1/2)', None, 'no likelihood', 'dcgan_samples', gan_ms,
         f"{steps} steps", '—'),
    ]
    rows, numbers = [], dict(families=row, dcgan_steps=steps, dcgan_cpu_seconds=gan_cpu,
                             feature_net_accuracy=accuracy)
    for family, name, nll, kind, key, ms, training, docs_nll in families:
        d = fd(samples[key][:64])
        numbers[name] = dict(nll=nll, fd=d, ms_per_image=ms)
        rows.append([family, name, fmt(nll, 2), kind, fmt(d, 2), fmt(ms, 2), training, docs_nll])
    floor = fd(x_test[:64])
    numbers['fd_real_vs_real'] = floor
    rows.append(['real images', '64 held-out images (the floor)', '—', '—', fmt(floor, 2), '—', '—', '—'])
    grid = np.concatenate([samples[f[4]][:16] for f in families] + [x_test[:16]])
    sg.viz.image_grid(grid, nrow=16, path=f"{out}/tour_compare_samples.png",
                      title='rows: naive Bayes, VAE, MADE, PixelCNN, DCGAN, real')
    return dict(
        blurb=f"The same {row['train']:,} training and {row['test']:,} test images for every "
              "family (the VAE demo's binarisation: a pixel is on where the shape covers at "
              "least half of it). NLL in nats per image on the test split: exact for naive "
              "Bayes and the autoregressive models, an upper bound (IWAE) for the VAE, none for "
              "the GAN. FD: Fréchet distance between 64 samples and the other held-out images "
              f"in the features of a small conv classifier trained on the training images "
              f"(held-out accuracy {accuracy:.3f}); with 64 samples its floor, two sets of real "
              "images, is far from 0, so compare rows with it. ms/image: wall time to draw 64. "
              "Diffusion is not in this table (its image model, demos/ddpm_images.py, needs "
              "about 12 CPU minutes, beyond the tour's budget, and trains on colour shapes; "
              "see docs/diffusion.md); the multi-scale flow is in its own section, on 16 grey "
              "levels.",
        columns=['family', 'model', 'NLL, nats/image', 'kind of NLL', 'FD (64 samples)',
                 'sampling ms/image', 'training', 'docs NLL (full run)'],
        rows=rows,
        images=[('tour_compare_samples.png', 'samples of each family and real images'),
                ('flow_images_families_samples.png', 'MADE, VAE and PixelCNN samples (flow_images.families)')],
        command='python demos/flow_images.py --families',
        docs=('docs/flows.md', 'One likelihood table across the families', 'docs/flows.md'),
        numbers=numbers)


# ----------------------------------------------------------------------------- autograd
@stage('autograd', 'Autograd: a graph, backward() and a gradient check')
def autograd_stage(args, out):
    rng = np.random.default_rng(args.seed)
    # data: y = sin(3x) + noise, on the host, then moved to the device explicitly
    x_host = rng.uniform(-1.5, 1.5, size=(256, 1)).astype(np.float32)
    y_host = (np.sin(3 * x_host) + 0.1 * rng.standard_normal(x_host.shape)).astype(np.float32)
    x, y = sg.tensor(x_host, device=args.device), sg.tensor(y_host, device=args.device)
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    model.to(args.device)
    opt = sg.optim.Adam(model.parameters(), lr=1e-2)
    steps = 300 if args.quick else 1500
    progress, losses = Progress(steps, 'mlp'), []
    for step in range(1, steps + 1):
        loss = sg.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        progress(step, loss=losses[-1])

    # a small model's graph: follow one forward pass op by op, then draw it
    small = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    xs = sg.randn(5, 1, dtype=sg.float64)
    print("one forward pass of a 1-4-1 MLP and its squared error, op by op:")
    with sg.trace() as t:
        small_loss = ((small(xs) - 1.0) ** 2).mean()
    sg.viz.graph(small_loss, f"{out}/tour_graph.png", params=dict(small.named_parameters()))
    # gradients checked numerically through the whole model in float64 (gradcheck
    # perturbs the parameters in place, so the function can just call the model)
    ok = sg.gradcheck(lambda *params: small(xs), list(small.parameters()))
    print(f"gradcheck of a 1-4-1 MLP's parameters in float64: {'passed' if ok else 'FAILED'}")

    grid = np.linspace(-1.5, 1.5, 200, dtype=np.float32)[:, None]
    with sg.no_grad():
        pred = model(sg.tensor(grid, device=args.device)).numpy()
    fig = new_figure(9, 3.5)
    axes = fig.subplots(1, 2)
    axes[0].scatter(x_host, y_host, s=6, alpha=0.5, label='data')
    axes[0].plot(grid, pred, 'r', lw=2, label='MLP')
    axes[0].plot(grid, np.sin(3 * grid), 'k--', lw=1, label='sin(3x)')
    axes[0].legend()
    axes[0].set_title('fit')
    axes[1].semilogy(losses)
    axes[1].set_xlabel('step')
    axes[1].set_title('training MSE')
    save(fig, f"{out}/tour_fit.png")
    return dict(
        blurb="A 1-64-64-1 tanh MLP fitted with Adam to y = sin(3x) + noise; then a 1-4-1 MLP's "
              "squared error followed op by op (sg.trace), its graph drawn by sg.viz.graph "
              "(orange: parameters), and sg.gradcheck on its parameters in float64: central "
              "differences against backward(), random upstream gradients.",
        metrics=[('final training MSE', fmt(losses[-1], 4), 'noise variance 0.0100', None),
                 ('gradcheck (float64, 1-4-1 MLP)', 'passed' if ok else 'FAILED', 'passes', bool(ok)),
                 ('ops traced in one forward pass', str(len(t.records)), '', None)],
        images=[('tour_graph.png', 'the autograd graph of the 1-4-1 MLP\'s loss (sg.viz.graph)'),
                ('tour_fit.png', 'the fit and the training MSE')],
        command='python demos/tour.py --only autograd',
        docs=('docs/autograd.md', 'Seeing the graph and following a forward pass', 'docs/autograd.md'),
        numbers=dict(steps=steps, final_train_mse=losses[-1], noise_variance=0.01,
                     gradcheck_passed=bool(ok), traced_ops=len(t.records)))


# ----------------------------------------------------------------------------- the run
def run_stage(name, args, out, fail):
    title, fn = STAGES[name]
    print(f"\n=== {name}: {title} ===", flush=True)
    t0, cpu0 = time.time(), time.process_time()
    try:
        if name in fail:
            raise RuntimeError(f"tour: stage {name!r} failed on purpose (--fail {name})")
        result = fn(args, out)
        result.update(status='passed')
    except Exception as e:             # a failing stage is shown on the page; the tour goes on
        traceback.print_exc()
        result = dict(status='failed', error=f"{type(e).__name__}: {e}\n\n"
                                             + ''.join(traceback.format_exc(limit=-3)))
    result.update(key=name, title=title, seconds=time.time() - t0,
                  cpu_seconds=time.process_time() - cpu0)
    print(f"=== {name}: {result['status']} in {result['seconds']:.1f} s "
          f"({result['cpu_seconds']:.1f} CPU s) ===", flush=True)
    return result


def main():
    p = parser(__doc__.splitlines()[0], 'out/tour')
    p.add_argument('--only', default=None, help='comma-separated stages: ' + ','.join(STAGES))
    p.add_argument('--fail', default='', help=argparse.SUPPRESS)     # tests: make a stage fail
    args = p.parse_args()
    names = list(STAGES) if args.only is None else [n.strip() for n in args.only.split(',') if n.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown or not names:
        p.error(f"--only: unknown stage(s) {unknown}; choose from {','.join(STAGES)}")
    out = ensure_out(args.out)
    t0 = time.time()
    results = [run_stage(n, args, out, set(args.fail.split(','))) for n in names]
    total = time.time() - t0
    failed = [r['key'] for r in results if r['status'] != 'passed']

    command = 'python demos/tour.py' + ''.join(f" {a}" for a in sys.argv[1:])
    budget = ('--quick: tiny budgets, so the numbers are real but far from the docs pages'
              if args.quick else 'a few minutes per family')
    intro = [f"Every model family of scratchgen, trained briefly on its default data by "
             f"{command!r} ({budget}; seed {args.seed}, device {args.device}). "
             f"{len(results) - len(failed)} of {len(results)} stages passed"
             + (f" (failed: {', '.join(failed)})" if failed else '')
             + f"; {total:.0f} s in all ({time.process_time():.0f} s of CPU).",
             "Each section: samples, the headline numbers beside the ones its docs page "
             "reports for the full demo (and the target where the docs state one), the wall "
             "time, the command of the full demo and a link to the docs."]
    footer = ["Text-to-image is not in the library yet, so it has no section here.",
              "All numbers of this page are in metrics.json beside it; everything is "
              "computed by this run, except the column of docs values, copied from the docs pages."]
    page = _gallery.write_page(out, 'scratchgen: a tour of the generative models', intro,
                               results, footer)
    print(f"\ngallery -> {page}")
    write_results(out, dict(seed=args.seed, quick=args.quick, device=args.device, stages=names,
                            failed=failed, total_seconds=total,
                            results={r['key']: dict(status=r['status'], seconds=r['seconds'],
                                                    cpu_seconds=r['cpu_seconds'],
                                                    error=r.get('error'),
                                                    numbers=r.get('numbers'))
                                     for r in results}))
    for r in results:
        print(f"  {r['key']:<12} {r['status']:<7} {r['seconds']:6.1f} s  {r['cpu_seconds']:6.1f} CPU s")
    print(f"tour: {len(results) - len(failed)}/{len(results)} stages passed in {total:.0f} s "
          f"({time.process_time():.0f} CPU s)")
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
