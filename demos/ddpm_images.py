"""DDPM with a small U-Net on procedural images (shapes 16x16, avatars 32x32), optionally class-conditional
with classifier-free guidance; inpainting.

    OMP_NUM_THREADS=1 python demos/ddpm_images.py --conditional --guidance 1,2   # ~8 CPU minutes
    OMP_NUM_THREADS=1 python demos/ddpm_images.py --conditional --guidance 0,1,2 \
        --train-steps 1000 --warmup 100 --seed 0   # the docs run (docs/diffusion.md), ~20 CPU min
    python demos/ddpm_images.py --checkpoint out/ddpm_images/ddpm_shapes_checkpoint.npz \
        --conditional --guidance 0,1,2      # evaluate a saved model again, no training
    python demos/ddpm_images.py --data my_images.npz            # your own images (and labels)
    OMP_NUM_THREADS=1 python demos/ddpm_images.py --dataset avatars --batch 32 --train-steps 2400 \
        --warmup 100 --sampler sde --steps 100 --n-eval 1000 --skip-inpaint   # 32x32 avatars, ~90 CPU min
    python demos/ddpm_images.py --quick                          # seconds

A U-Net (docs/diffusion.md) is trained on images scaled to [-1, 1] with Adam (linear
warm-up, cosine decay) and EMA weights; by default with the cosine noise schedule,
v-prediction and the Min-SNR loss weight, which learn 16x16 images much faster than the
DDPM defaults (linear schedule, ε, uniform weight; docs/diffusion.md, "Images").
Samples (``--sampler``, ``--steps``) are scored as docs/gan.md scores the DCGAN, with the
same functions (demos/dcgan_images.py: ``evaluate``) and the same sizes (2,000 samples
against 2,000 held-out images): Fréchet distance, MMD² and 1-NN in the feature space of
the in-repo classifier trained on the training images, nearest-training-image distances
(memorisation), and with --conditional the classifier's accuracy on the samples of each
class, for each guidance weight w (ε̂ = ε̂_u + w (ε̂_c − ε̂_u); w = 0 unconditional, w = 1
conditional). ``--sampler-sweep ddim:10,ddim:25,ddpm:1000`` adds FD and time per image
for other samplers and step counts.

--distill K: progressive distillation (Salimans & Ho 2022; the loop is ``distill`` below,
one regression ``distill_loss``): the EMA model as teacher at --distill-from DDIM steps
teaches a copy of itself to take one step where it takes two, K times, halving the steps
each round; the students and the teacher at the same step counts (and at 64 steps) are
scored like the samplers, at every guidance weight. With --conditional the label is
dropped with probability --distill-uncond, so a student keeps both its conditional and
its unconditional sampler (w = 0 and w = 1 are exact for it; other w mix the two).

    OMP_NUM_THREADS=1 python demos/ddpm_images.py --checkpoint CKPT.npz --conditional \
        --guidance 0,1 --distill 2 --distill-from 16 --n-eval 500
"""
import dataclasses
import math
import os
import time

import numpy as np

from _common import parser, ensure_out, Progress, write_results
from dcgan_images import UserImages, evaluate, load

import scratchgen as sg
from scratchgen import metrics
from scratchgen.models.diffusion import (Diffusion, DiffusionConfig, inpaint, to_x0,
                                         distill_round)


def generate(model, n, sampler, steps, labels=None, w=None, batch=250):
    """n images in [0, 1] (host float32), in batches."""
    out = []
    for i in range(0, n, batch):
        y = None if labels is None else sg.tensor(labels[i:i + batch], device=model_device(model))
        clip = {'clip_x0': 1.0} if sampler == 'ddim' else {}     # x̂_0 stays in [-1, 1]
        x = model.sample(min(batch, n - i), sampler, steps=steps, y=y, w=w, **clip)
        out.append(np.clip((x.numpy() + 1.0) / 2.0, 0.0, 1.0))
    return np.concatenate(out)


def model_device(model):
    return next(iter(model.parameters())).device


FRACTIONS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)     # of T: t = 10, 50, ... for T = 1000


@sg.no_grad()
def error_by_time(model, x0, y, seed=0):
    """The diagnostic of docs/diffusion.md: mean ‖x_0 − x̂_0‖² per pixel (images in [−1, 1])
    of the network's one-step prediction from x_t, at fixed times t, on held-out images."""
    sg.manual_seed(seed)
    times = [max(1, round(f * model.config.T)) for f in FRACTIONS]
    x0 = sg.tensor(x0 * 2.0 - 1.0, device=model_device(model))
    y = None if y is None else sg.tensor(y, device=x0.device)
    out = {}
    for t in times:
        tt = sg.full((x0.shape[0],), t, dtype='int64', device=x0.device)
        x_t, _ = model.schedule.q_sample(x0, tt)
        a, s = model.schedule.coefficients(x0, tt)
        pred = model.net(x_t, tt.to(x0.dtype), y)
        x0_hat = to_x0(pred, x_t, a, s, model.config.prediction)
        out[t] = float(((x0_hat - x0) ** 2).mean().item())
    return out


def train(model, images, labels, args, steps, progress):
    """Adam with warm-up and cosine decay, EMA weights; returns (EMA, losses, CPU minutes)."""
    opt = sg.optim.Adam(model.parameters(), lr=args.lr)
    sched = sg.optim.warmup_cosine(opt, min(args.warmup, steps // 2), steps, min_lr_ratio=0.05)
    ema = sg.optim.EMA(model, decay=args.ema, warmup=True)
    rng, device = np.random.default_rng(args.seed), model_device(model)
    scaled, t_cpu, losses = images * 2.0 - 1.0, time.process_time(), []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(images), args.batch)
        y = sg.tensor(labels[idx], device=device) if model.config.num_classes else None
        loss = model.loss(sg.tensor(scaled[idx], device=device), y)
        losses.append(sg.optim.train_step(loss, opt, sched, ema, 'ddpm_images', step))
        progress(step, loss=float(np.mean(losses[-50:])), lr=opt.param_groups[0]['lr'])
        if args.save_every and step % args.save_every == 0 and step < steps:
            with ema.average_parameters():
                save_checkpoint(model, os.path.join(args.out, f"checkpoint_step{step}.npz"), step)
    return ema, losses, (time.process_time() - t_cpu) / 60


def distill(teacher, images, labels, args, progress_label):
    """Progressive distillation: each round a copy of the teacher learns to match two
    teacher DDIM steps in one (``distill_round``) on its own grid of N = N_teacher / 2
    times; then it becomes the teacher. Returns ({N: student}, CPU minutes per round)."""
    students, N, cpu, scaled = {}, args.distill_from, [], images * 2.0 - 1.0
    for r in range(1, args.distill + 1):
        N //= 2
        t_cpu = time.process_time()
        progress = Progress(args.distill_train, f"{progress_label} round {r}: {2 * N} -> {N} steps")
        students[N] = teacher = distill_round(
            teacher, scaled, N, args.distill_train, args.batch, args.distill_lr,
            seed=(args.seed, r), labels=labels, p_uncond=args.distill_uncond,
            callback=lambda step, v: progress(step, loss=v))
        cpu.append((time.process_time() - t_cpu) / 60)
    return students, cpu


def save_checkpoint(model, path, steps):
    config = dataclasses.asdict(model.config)
    sg.save({'model': model.state_dict(), 'config': config, 'steps': steps}, path)


def load_checkpoint(path, device):
    state = sg.load(path)
    config = dict(state['config'])
    config['data_shape'], config['channel_mults'] = tuple(config['data_shape']), \
        tuple(config['channel_mults'])
    model = Diffusion(DiffusionConfig(**config)).to(device)
    model.load_state_dict(state['model'])
    return model, int(state['steps'])


def main():
    p = parser(__doc__.split('\n')[0], 'out/ddpm_images',
               data="your own images: a .npz with 'images' (N, C, H, W) or (N, H, W) in [0, 1] "
                    "and optional integer 'labels'")
    p.add_argument('--dataset', default='shapes', choices=['shapes', 'avatars'],
                   help='shapes 16x16 or avatars 32x32 (labels: clothing type)')
    p.add_argument('--conditional', action='store_true', help='condition on the class label')
    p.add_argument('--guidance', default='1', help='guidance weights w to evaluate, comma-separated')
    p.add_argument('--sampler', default='ddim', choices=['ddpm', 'ddim', 'sde', 'ode'])
    p.add_argument('--steps', type=int, default=15, help='sampling steps (ddim, sde, ode)')
    p.add_argument('--sampler-sweep', default='',
                   help="extra sampler:steps pairs to score at the first guidance weight, "
                        "e.g. ddim:10,ddim:50,ddpm:1000")
    p.add_argument('--sweep-n', type=int, default=None,
                   help='samples per --sampler-sweep entry (default --n-eval)')
    p.add_argument('--train-steps', type=int, default=500)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--warmup', type=int, default=200, help='linear warm-up steps')
    p.add_argument('--ema', type=float, default=0.999, help='EMA decay (with warm-up)')
    p.add_argument('--channels', type=int, default=16, help='U-Net base width')
    p.add_argument('--mults', default=None,
                   help='U-Net channel multipliers per level (default 1,2,2 for 16x16 images, '
                        '1,2,2,2 from 32x32: self-attention then runs at 4x4)')
    p.add_argument('--schedule', default='cosine', choices=['linear', 'cosine'])
    p.add_argument('--prediction', default='v', choices=['eps', 'v', 'x0'])
    p.add_argument('--weighting', default='min_snr', choices=['none', 'min_snr'])
    p.add_argument('--n-eval', type=int, default=2000)
    p.add_argument('--save-every', type=int, default=0, help='also save a checkpoint every N steps')
    p.add_argument('--checkpoint', default=None,
                   help='evaluate this saved model (from an earlier run) instead of training')
    p.add_argument('--distill', type=int, default=0, metavar='K',
                   help='rounds of progressive distillation after training (each halves the steps)')
    p.add_argument('--distill-from', type=int, default=16,
                   help='DDIM steps of the first teacher (a multiple of 2^K)')
    p.add_argument('--distill-train', type=int, default=250, help='training steps per round')
    p.add_argument('--distill-lr', type=float, default=1e-4)
    p.add_argument('--distill-uncond', type=float, default=0.5,
                   help='probability of "no label" in distillation (--conditional)')
    p.add_argument('--skip-inpaint', action='store_true', help='no inpainting figure (saves DDPM time)')
    args = p.parse_args()
    if args.distill and args.distill_from % 2 ** args.distill:
        p.error(f"--distill-from {args.distill_from} must be a multiple of 2^{args.distill}")
    out = ensure_out(args.out)
    t_start = time.time()
    n_train, n_test, n_eval, steps = 20000, 2000, args.n_eval, args.train_steps
    fn_epochs, sample_steps, T, channels = 3, args.steps, 1000, args.channels
    if args.quick:      # also T = 50 steps, so that DDPM and inpainting stay quick
        n_train, n_test, n_eval, steps, fn_epochs, sample_steps, T, channels = \
            256, 64, 24, 10, 1, 4, 50, 8
        args.batch, args.warmup = 16, 2
        args.distill_train, args.distill_from = 3, 2 ** args.distill
    if args.data:
        try:
            user = UserImages(args.data, args.seed)
        except sg.data.DataFileError as e:
            p.error(str(e))
        if user.classes is None and args.conditional:
            p.error(f"--conditional needs 'labels' in {args.data}")
        (train_x, test, test2), (train_labels, test_labels) = user.images, user.labels[:2]
        if train_labels is None:               # one class: no classifier, pixel distances
            train_labels, classes = np.zeros(len(train_x), np.int64), ['all']
            test_labels = np.zeros(len(test), np.int64)
        else:
            classes = user.classes
        label = os.path.splitext(os.path.basename(args.data))[0]
    else:
        # the DCGAN demo's data and held-out sets (avatars: 32x32, labels = clothing type)
        size = 16 if args.dataset == 'shapes' else 32
        train_x, train_labels, classes = load(args.dataset, n_train, args.seed, size)
        test, test_labels, _ = load(args.dataset, n_test, args.seed + 1, size)
        test2, _, _ = load(args.dataset, n_test, args.seed + 2, size)
        label = args.dataset
    n_eval = min(n_eval, len(test))
    n_classes, shape = len(classes), train_x.shape[1:]
    cond = n_classes if args.conditional else None
    # without labels there is no classifier to embed with: distances on the pixels
    net = metrics.train_feature_net(train_x, train_labels, arch='conv', epochs=fn_epochs,
                                    seed=args.seed, device=args.device) if n_classes > 1 else None

    mults = args.mults or ('1,2,2' if shape[-1] < 32 else '1,2,2,2')   # attention at 4x4
    mults = tuple(int(m) for m in mults.split(','))
    sg.manual_seed(args.seed)
    config = DiffusionConfig(data_shape=shape, T=T, arch='unet', channels=channels,
                             channel_mults=mults,
                             num_classes=cond, schedule=args.schedule,
                             prediction=args.prediction, weighting=args.weighting)
    model = Diffusion(config).to(args.device)
    diag_y = test_labels[:500] if cond else None
    error_init = error_by_time(model, test[:500], diag_y)
    ckpt = os.path.join(out, f"ddpm_{label}_checkpoint.npz")
    train_cpu, losses = None, []
    if args.checkpoint:
        model, steps = load_checkpoint(args.checkpoint, args.device)
        if (model.config.num_classes is not None) != bool(cond):
            p.error(f"--checkpoint {args.checkpoint} was trained with num_classes "
                    f"{model.config.num_classes}; run with{'' if model.config.num_classes else 'out'} "
                    "--conditional")
        print(f"{label}: loaded {args.checkpoint} ({steps} training steps)", flush=True)
    else:
        print(f"{label}: {len(train_x)} training images {shape}, "
              f"{sum(q.numel() for q in model.parameters()):,} parameters, {steps} steps of "
              f"batch {args.batch}", flush=True)
        ema, losses, train_cpu = train(model, train_x, train_labels, args, steps,
                                       Progress(steps, label))
        error_raw = error_by_time(model, test[:500], diag_y)
        ema.copy_to()                              # everything below uses the averaged weights
        save_checkpoint(model, ckpt, steps)
        print(f"  {train_cpu:.1f} CPU min of training; checkpoint {ckpt}", flush=True)
    error_ema = error_by_time(model, test[:500], diag_y)
    print('  x0 error by t (init / ' + ('' if args.checkpoint else 'raw / ') + 'EMA): '
          + '  '.join(f"{t}: {error_init[t]:.3f}/"
                      + ('' if args.checkpoint else f"{error_raw[t]:.3f}/") + f"{error_ema[t]:.3f}"
                      for t in error_init), flush=True)

    def score(sampler, n_steps, w, n, net_model=None):
        sg.manual_seed(args.seed + 1)
        fake_labels = np.arange(n) % n_classes if cond else None
        t0, t_cpu = time.time(), time.process_time()
        fake = generate(net_model or model, n, sampler, n_steps, fake_labels, w)
        cpu_ms = 1000 * (time.process_time() - t_cpu) / n
        seconds = time.time() - t0
        r, _, _ = evaluate(net, fake, fake_labels, train_x, test[:n], test2[:n],
                           train_labels, n_classes)
        r.update(ms_per_image=1000 * seconds / n, cpu_ms_per_image=cpu_ms, n=n, sampler=sampler,
                 sampling_steps=n_steps)
        print(f"  {sampler} {n_steps} steps, " + ('unconditional' if w is None else f"w={w:g}")
              + f": FD {r['fd']:.2f} (real vs real {r['fd_real_vs_real']:.2f})  1-NN "
              f"{r['one_nn_accuracy']:.3f}  nearest-train median {r['nn_dist_fake_median']:.2f} "
              f"(held-out {r['nn_dist_heldout_median']:.2f})"
              + (f"  accuracy {r['accuracy']:.3f} per class "
                 + ' '.join(f"{c} {a:.3f}" for c, a in zip(classes, r['accuracy_per_label']))
                 if cond else '') + f"  {r['ms_per_image']:.0f} ms/image "
              f"({r['cpu_ms_per_image']:.0f} CPU ms)", flush=True)
        return r, fake, fake_labels

    results, sweep, distilled = {}, {}, {}
    weights = [float(w) for w in args.guidance.split(',')] if cond else [None]
    for w in weights:
        r, fake, fake_labels = score(args.sampler, sample_steps, w, n_eval)
        key = 'unconditional' if w is None else f"w={w:g}"
        results[key] = r
        tag = f"diffusion_{label}" + (f"_w{w:g}" if cond else '')
        order = np.argsort(fake_labels[:60], kind='stable') if cond else np.arange(min(60, n_eval))
        sg.viz.image_grid(fake[:60][order], nrow=10 if not cond else n_classes * 4,
                          path=os.path.join(out, f"{tag}_samples.png"),
                          title=f"{args.sampler} ({sample_steps} steps), "
                                + ('unconditional' if w is None else f"w = {w:g}"))
    for entry in filter(None, args.sampler_sweep.split(',')):
        sampler, n_steps = entry.split(':')
        sweep[entry], _, _ = score(sampler, int(n_steps), weights[0], args.sweep_n or n_eval)
    if args.distill:
        students, distill_cpu = distill(model, train_x, train_labels, args, label)
        distilled['cpu_min_per_round'] = distill_cpu
        for w in weights:
            key = 'unconditional' if w is None else f"w={w:g}"
            rows = distilled[key] = {}
            for n_steps in sorted({min(64, model.config.T), args.distill_from, *students},
                                  reverse=True):
                print(f"  teacher, {key}:", flush=True)
                rows[f"teacher {n_steps}"], _, _ = score('ddim', n_steps, w, n_eval)
            for n_steps, student in students.items():
                print(f"  student ({round(math.log2(args.distill_from // n_steps))} rounds), "
                      f"{key}:", flush=True)
                rows[f"student {n_steps}"], s_fake, s_labels = score('ddim', n_steps, w, n_eval, student)
            order = np.argsort(s_labels[:60], kind='stable') if cond else np.arange(min(60, n_eval))
            sg.viz.image_grid(s_fake[:60][order], nrow=10 if not cond else n_classes * 4,
                              path=os.path.join(out, f"distilled_{label}_{n_steps}steps"
                                                + (f"_w{w:g}" if cond else '') + "_samples.png"),
                              title=f"distilled student, DDIM {n_steps} steps, "
                                    + ('unconditional' if w is None else f"w = {w:g}"))

    # inpainting: the left half of held-out images is known, the right half is sampled
    inpaint_figure(model, test, shape, label, out, args)
    write_results(out, dict(results=results, sampler_sweep=sweep, distillation=distilled,
                            data=args.data or args.dataset,
                            seed=args.seed, steps=steps, train_cpu_min=train_cpu,
                            loss_last_100=float(np.mean(losses[-100:])) if losses else None,
                            x0_error_by_t={'init': error_init, 'ema': error_ema},
                            config=dataclasses.asdict(model.config), batch=args.batch,
                            lr=args.lr, sampler=args.sampler, sampling_steps=sample_steps,
                            conditional=bool(cond), checkpoint=args.checkpoint or ckpt,
                            wall_s=time.time() - t_start),
                  {'samples': fake, **({'labels': fake_labels} if cond else {})})


def inpaint_figure(model, test, shape, label, out, args):
    """The left half of 10 held-out images is known, the right half is sampled (DDPM)."""
    if args.skip_inpaint:
        return
    sg.manual_seed(args.seed + 3)
    known = sg.tensor(test[:10] * 2.0 - 1.0, device=args.device)
    mask = sg.tensor(np.broadcast_to((np.arange(shape[-1]) < shape[-1] // 2), known.shape).copy(),
                     device=args.device)
    filled = inpaint(model.eps_fn(), model.schedule, sg.randn(*known.shape, device=args.device),
                     known, mask)
    sg.viz.image_grid(np.concatenate([test[:10], np.clip((filled.numpy() + 1) / 2, 0, 1)]), nrow=10,
                      path=os.path.join(out, f"diffusion_{label}_inpaint.png"),
                      title='held-out images (top); left half kept, right half inpainted (bottom)')


if __name__ == '__main__':
    main()
