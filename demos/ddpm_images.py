"""DDPM with a small U-Net on procedural images (shapes 16x16), optionally class-conditional
with classifier-free guidance; inpainting.

    OMP_NUM_THREADS=1 python demos/ddpm_images.py --conditional --guidance 0,1,2,4 \
        --train-steps 1200 --n-eval 300 --steps 25                            # the docs run (~12 min)
    python demos/ddpm_images.py --data my_images.npz            # your own images (and labels)
    python demos/ddpm_images.py --quick                          # seconds

A U-Net ε-predictor (docs/diffusion.md) is trained on images scaled to [-1, 1] with Adam
and EMA weights. Samples (``--sampler``, ``--steps``) are scored as docs/gan.md scores
the DCGAN, with the same functions (demos/dcgan_images.py: ``evaluate``): Fréchet
distance, MMD² and 1-NN in the feature space of the in-repo classifier trained on the
training images, nearest-training-image distances (memorisation), and with
--conditional the classifier's accuracy on the samples of each class, for each
guidance weight w (ε̂ = ε̂_u + w (ε̂_c − ε̂_u); w = 0 unconditional, w = 1 conditional).
"""
import os
import time

import numpy as np

from _common import parser, ensure_out, Progress, write_results
from dcgan_images import UserImages, evaluate, load

import scratchgen as sg
from scratchgen import metrics
from scratchgen.models.diffusion import Diffusion, DiffusionConfig, inpaint


def generate(model, n, sampler, steps, labels=None, w=None, batch=250):
    """n images in [0, 1] (host float32), in batches."""
    out = []
    for i in range(0, n, batch):
        y = None if labels is None else sg.tensor(labels[i:i + batch])
        clip = {'clip_x0': 1.0} if sampler == 'ddim' else {}     # x̂_0 stays in [-1, 1]
        x = model.sample(min(batch, n - i), sampler, steps=steps, y=y, w=w, **clip)
        out.append(np.clip((x.numpy() + 1.0) / 2.0, 0.0, 1.0))
    return np.concatenate(out)


def main():
    p = parser(__doc__.split('\n')[0], 'out/ddpm_images',
               data="your own images: a .npz with 'images' (N, C, H, W) or (N, H, W) in [0, 1] "
                    "and optional integer 'labels'")
    p.add_argument('--conditional', action='store_true', help='condition on the class label')
    p.add_argument('--guidance', default='1', help='guidance weights w to evaluate, comma-separated')
    p.add_argument('--sampler', default='ddim', choices=['ddpm', 'ddim', 'sde', 'ode'])
    p.add_argument('--steps', type=int, default=50, help='sampling steps (ddim, sde, ode)')
    p.add_argument('--train-steps', type=int, default=1500)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--channels', type=int, default=16, help='U-Net base width')
    p.add_argument('--n-eval', type=int, default=500)
    args = p.parse_args()
    out = ensure_out(args.out)
    t_start = time.time()
    n_train, n_test, n_eval, steps = 20000, 2000, args.n_eval, args.train_steps
    fn_epochs, sample_steps, T, channels = 3, args.steps, 1000, args.channels
    if args.quick:      # also T = 50 steps, so that DDPM and inpainting stay quick
        n_train, n_test, n_eval, steps, fn_epochs, sample_steps, T, channels = \
            256, 64, 24, 10, 1, 4, 50, 8
    if args.data:
        try:
            user = UserImages(args.data, args.seed)
        except sg.data.DataFileError as e:
            p.error(str(e))
        if user.classes is None and args.conditional:
            p.error(f"--conditional needs 'labels' in {args.data}")
        (train, test, test2), train_labels = user.images, user.labels[0]
        if train_labels is None:               # one class: no classifier, pixel distances
            train_labels, classes = np.zeros(len(train), np.int64), ['all']
        else:
            classes = user.classes
        label = os.path.splitext(os.path.basename(args.data))[0]
    else:
        train, train_labels, classes = load('shapes', n_train, args.seed, 16)
        test, _, _ = load('shapes', n_test, args.seed + 1, 16)
        test2, _, _ = load('shapes', n_test, args.seed + 2, 16)
        label = 'shapes'
    n_classes, shape = len(classes), train.shape[1:]
    cond = n_classes if args.conditional else None
    # without labels there is no classifier to embed with: distances on the pixels
    net = metrics.train_feature_net(train, train_labels, arch='conv', epochs=fn_epochs,
                                    seed=args.seed, device=args.device) if n_classes > 1 else None

    sg.manual_seed(args.seed)
    model = Diffusion(DiffusionConfig(data_shape=shape, T=T, arch='unet', channels=channels,
                                      channel_mults=(1, 2), num_classes=cond)).to(args.device)
    opt = sg.optim.Adam(model.parameters(), lr=1e-3)
    ema = sg.optim.EMA(model, decay=0.999, warmup=True)
    rng, progress = np.random.default_rng(args.seed), Progress(steps, label)
    print(f"{label}: {len(train)} training images {shape}, {sum(q.numel() for q in model.parameters()):,} "
          f"parameters, {steps} steps of batch {args.batch}", flush=True)
    scaled, t_cpu = train * 2.0 - 1.0, time.process_time()
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(train), args.batch)
        y = sg.tensor(train_labels[idx], device=args.device) if cond else None
        loss = model.loss(sg.tensor(scaled[idx], device=args.device), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update()
        if not np.isfinite(loss.item()):
            raise FloatingPointError(f"ddpm_images: the loss became {loss.item()} at step {step}")
        progress(step, loss=loss.item())
    train_cpu = (time.process_time() - t_cpu) / 60
    ema.copy_to()                                  # everything below uses the averaged weights
    sg.save({'model': model.state_dict()}, os.path.join(out, f"ddpm_{label}_checkpoint.npz"))

    results = {}
    weights = [float(w) for w in args.guidance.split(',')] if cond else [None]
    for w in weights:
        sg.manual_seed(args.seed + 1)
        fake_labels = np.arange(n_eval) % n_classes if cond else None
        t0 = time.time()
        fake = generate(model, n_eval, args.sampler, sample_steps, fake_labels, w)
        seconds = time.time() - t0
        r, _, _ = evaluate(net, fake, fake_labels, train, test[:n_eval], test2[:n_eval],
                           train_labels, n_classes)
        r['ms_per_image'] = 1000 * seconds / n_eval
        key = 'unconditional' if w is None else f"w={w:g}"
        results[key] = r
        print(f"  {key}: FD {r['fd']:.2f} (real vs real {r['fd_real_vs_real']:.2f})  1-NN "
              f"{r['one_nn_accuracy']:.3f}  nearest-train median {r['nn_dist_fake_median']:.2f} "
              f"(held-out {r['nn_dist_heldout_median']:.2f})"
              + (f"  accuracy {r['accuracy']:.3f} per class "
                 + ' '.join(f"{c} {a:.3f}" for c, a in zip(classes, r['accuracy_per_label']))
                 if cond else '') + f"  {r['ms_per_image']:.0f} ms/image", flush=True)
        tag = f"diffusion_{label}" + (f"_w{w:g}" if cond else '')
        sg.viz.image_grid(fake[:60], nrow=10 if not cond else n_classes * 4,
                          path=os.path.join(out, f"{tag}_samples.png"),
                          title=f"{args.sampler} ({sample_steps} steps), "
                                + ('unconditional' if w is None else f"w = {w:g}"))

    # inpainting: the left half of held-out images is known, the right half is sampled
    sg.manual_seed(args.seed + 3)
    known = sg.tensor(test[:10] * 2.0 - 1.0)
    mask = sg.tensor(np.broadcast_to((np.arange(shape[-1]) < shape[-1] // 2), known.shape).copy())
    filled = inpaint(model.eps_fn(), model.schedule, sg.randn(*known.shape), known, mask)
    sg.viz.image_grid(np.concatenate([test[:10], np.clip((filled.numpy() + 1) / 2, 0, 1)]), nrow=10,
                      path=os.path.join(out, f"diffusion_{label}_inpaint.png"),
                      title='held-out images (top); left half kept, right half inpainted (bottom)')
    write_results(out, dict(results=results, data=args.data or 'shapes', seed=args.seed,
                            steps=steps, train_cpu_min=train_cpu,
                            sampler=args.sampler, sampling_steps=sample_steps,
                            conditional=bool(cond), wall_s=time.time() - t_start),
                  {'samples': fake, **({'labels': fake_labels} if cond else {})})


if __name__ == '__main__':
    main()
