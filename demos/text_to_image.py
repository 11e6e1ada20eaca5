"""Text-to-image in miniature: CLIP text encoder, spatial-latent VAE and latent diffusion
with cross-attention on captioned 16x16 shapes (or 32x32 avatars); prompts scored on seen
and held-out combinations (docs/text_to_image.md).

    OMP_NUM_THREADS=1 python demos/text_to_image.py                 # train all three, evaluate
    python demos/text_to_image.py --prompt "large green triangle" --n 16   # load the checkpoint
    python demos/text_to_image.py --denoiser dit                    # a DiT instead of the U-Net
    OMP_NUM_THREADS=1 python demos/text_to_image.py --dataset avatars   # 5-word prompts, 4x8x8 latent
    python demos/text_to_image.py --quick                           # seconds

Training (each stage stops at its step count or its CPU budget, ``--stage-cpu``):
1. CLIP (``scratchgen.models.clip.train_clip``) on images of the training captions (the
   8 ``HOLDOUT`` combinations never appear); its text encoder, frozen, turns every prompt
   into ``TextCondition(tokens, padding, pooled)``.
2. A KL-regularised VAE with a 4x4x4 spatial latent (4x8x8 for the 32x32 avatars;
   ``VAEConfig(latent_shape=...)``),
   frozen; its posterior means, times λ = 1 / std, are the diffusion's data.
3. Latent diffusion (``scratchgen.models.latent_diffusion``): a U-Net with cross-attention
   to the prompt tokens (or a DiT), v-prediction, cosine schedule, Min-SNR weight, the
   prompt dropped to "" with probability 0.1 for classifier-free guidance.
One checkpoint (OUT/text_to_image_checkpoint.npz) holds all three; ``--prompt`` runs load
it and only sample. Evaluation: attribute classifiers trained on real images
(``scratchgen.metrics.attributes``) score every prompted attribute of images generated for
each seen prompt and each held-out prompt; CLIP score (100 · cosine of the CLIP image and
prompt embeddings); Fréchet distance to real images of the same prompts in the attribute
classifiers' features; for each guidance weight in ``--guidance``.

--dataset avatars: the five-word avatar captions (``sg.data.caption_avatars``; 4 (clothing
type, hair type) pairs never appear in training, 576 of the 4,032 captions). With that many
captions the evaluation draws ``--eval-prompts`` seen and as many held-out prompts, and the
real images of a prompt are its rendering (an avatar is a deterministic function of its
five features, so the real-vs-real FD is 0).
"""
import dataclasses
import functools
import os
import textwrap
import time

import numpy as np

from _common import parser, ensure_out, Progress, write_results

import scratchgen as sg
from scratchgen import metrics
from scratchgen.data.avatars import render_avatars
from scratchgen.data.captions import (encode_captions, caption_shapes, CAPTION_SETS,
                                      CaptionedShapes)
from scratchgen.metrics.attributes import train_attribute_classifiers, attribute_accuracy
from scratchgen.models.clip import CLIP, CLIPConfig, train_clip
from scratchgen.models.diffusion import UNet, TextCondition, denoise
from scratchgen.models.latent_diffusion import (LatentDiffusion, LatentDiffusionConfig,
                                                latent_scale)
from scratchgen.models.vae import VAE, VAEConfig

CHECKPOINT = 'text_to_image_checkpoint.npz'
IMAGE_SIZE = {'shapes': 16, 'avatars': 32}
# the prompts of the cross-attention figure and of the denoising trajectory
FIGURE_PROMPTS = {
    'shapes': ('large green triangle', ['large green triangle', 'small red circle',
                                        'medium blue square']),
    'avatars': ('sunglasses blue hoodie blonde curly',
                ['sunglasses blue hoodie blonde curly', 'round red vneck black straight',
                 'plain green overall brown bald']),
}


def tokenizer(text_encoder):
    """``captions, context -> (ids, padding)`` in the words the text encoder was built
    with (so prompt ids and the encoder's embedding table cannot disagree)."""
    return functools.partial(encode_captions, vocab=text_encoder.vocab)


# ----------------------------------------------------------------------------- building
def build_denoiser(kind, options, context_dim):
    """The denoiser ``net(z_t, t, cond)``: 'unet' (cross-attention U-Net) or 'dit'."""
    if kind == 'unet':
        return UNet(context_dim=context_dim, **options)
    try:
        from scratchgen.models.diffusion.dit import DiT
    except ImportError:
        raise SystemExit("text_to_image: --denoiser dit needs scratchgen/models/diffusion/dit.py "
                         "(the DiT), which this checkout lacks") from None
    return DiT(context_dim=context_dim, **options)


def denoiser_options(kind, latent_shape, args):
    """Constructor options of the denoiser (saved in the checkpoint)."""
    C, h, w = latent_shape
    if kind == 'unet':
        return dict(in_channels=C, channels=8 if args.quick else args.channels,
                    channel_mults=(1, 2), num_res_blocks=1, groups=8, heads=4)
    return dict(in_channels=C, input_size=(h, w), patch=args.dit_patch,
                width=16 if args.quick else args.dit_width,
                depth=1 if args.quick else args.dit_depth, heads=4)


def build(state):
    """CLIP, VAE and LatentDiffusion from a checkpoint's (or a fresh run's) configs."""
    clip_cfg = dict(state['clip_config'])
    clip_cfg['channels'] = tuple(clip_cfg['channels'])
    clip = CLIP(CLIPConfig(**clip_cfg))
    vae_cfg = dict(state['vae_config'])
    for k in ('data_shape', 'hidden', 'channels', 'latent_shape'):
        vae_cfg[k] = tuple(vae_cfg[k])
    vae = VAE(VAEConfig(**vae_cfg))
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in state['denoiser_options'].items()}
    net = build_denoiser(state['denoiser'], opts, clip.config.width)
    ldm = LatentDiffusion(vae, clip.text, net, tokenizer(clip.text),
                          LatentDiffusionConfig(**state['ldm_config']))
    return clip, vae, ldm


def save_checkpoint(path, clip, vae, ldm, kind, options, extra):
    sg.save({'clip_config': dataclasses.asdict(clip.config), 'clip': clip.state_dict(),
             'vae_config': dataclasses.asdict(vae.config), 'vae': vae.state_dict(),
             'denoiser': kind, 'denoiser_options': options,
             'ldm_config': dataclasses.asdict(ldm.config), 'net': ldm.net.state_dict(),
             **extra}, path)


def load_checkpoint(path):
    state = sg.load(path)
    clip, vae, ldm = build(state)
    clip.load_state_dict(state['clip'])
    vae.load_state_dict(state['vae'])
    ldm.net.load_state_dict(state['net'])
    return clip, vae, ldm, state


# ----------------------------------------------------------------------------- training
def train_vae(vae, images, steps, batch, lr, seed, cpu_budget, progress):
    """Adam with warm-up/cosine decay on −(E_q log p(x|z) − β KL); returns the losses."""
    opt = sg.optim.Adam(vae.parameters(), lr=lr)
    sched = sg.optim.warmup_cosine(opt, max(1, steps // 20), steps)
    rng, t0, losses = np.random.default_rng(seed), time.process_time(), []
    for step in range(1, steps + 1):
        loss = vae.loss(sg.tensor(images[rng.integers(0, len(images), batch)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        progress(step, loss=float(np.mean(losses[-50:])))
        if time.process_time() - t0 > cpu_budget:
            print(f"  VAE: CPU budget reached at step {step}", flush=True)
            break
    return losses


def train_ldm(ldm, z0, caption_index, conds, steps, batch, lr, seed, cpu_budget, progress):
    """Adam + EMA on the latent diffusion loss. ``conds`` holds one TextCondition row per
    distinct caption (host arrays); ``caption_index`` maps each latent to its caption.
    Returns (EMA, losses)."""
    params = ldm.trainable_parameters()
    opt = sg.optim.Adam(params, lr=lr)
    sched = sg.optim.warmup_cosine(opt, max(1, steps // 20), steps, min_lr_ratio=0.05)
    ema = sg.optim.EMA(ldm.net, decay=0.999, warmup=True)
    rng, t0, losses = np.random.default_rng(seed), time.process_time(), []
    ldm.train()
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(z0), batch)
        rows = caption_index[idx]
        cond = TextCondition(sg.tensor(conds[0][rows]), sg.tensor(conds[1][rows]),
                             sg.tensor(conds[2][rows]))
        loss = ldm.loss(sg.tensor(z0[idx]), cond)
        losses.append(sg.optim.train_step(loss, opt, sched, ema, 'text_to_image', step))
        progress(step, loss=float(np.mean(losses[-50:])))
        if time.process_time() - t0 > cpu_budget:
            print(f"  latent diffusion: CPU budget reached at step {step}", flush=True)
            break
    return ema, losses


# ----------------------------------------------------------------------------- sampling
def generate(ldm, prompts, w, steps, batch=128):
    """Images (N, 3, H, W) in [0, 1] (host) for a list of prompts."""
    out = []
    for i in range(0, len(prompts), batch):
        out.append(ldm.generate(prompts[i:i + batch], w=w, steps=steps).numpy())
    return np.concatenate(out)


def clip_score(clip, images, prompts):
    """100 · mean cosine similarity of CLIP's image and prompt embeddings."""
    u, v = clip.embed_images(images), clip.embed_captions(prompts)
    return float(100.0 * np.mean(np.sum(u * v, axis=1)))


def judge_features(judges):
    """Images -> the attribute classifiers' penultimate features, side by side (FD's space)."""
    def feats(x):
        return np.concatenate([net.features(x) for net in judges.nets.values()], 1)
    return feats


def evaluate(ldm, clip, judges, real, prompts, w, steps):
    """Attribute accuracy, CLIP score and FD (in the judges' features) of images generated
    for ``prompts``, against ``real`` images (CaptionedShapes) of the same prompts."""
    fake = generate(ldm, prompts, w, steps)
    r = attribute_accuracy(judges, fake, prompts)
    r['clip_score'] = clip_score(clip, fake, prompts)
    r['fd'] = float(metrics.frechet_distance(fake, real.images[:len(fake)],
                                             features=judge_features(judges)))
    return r, fake


def real_baseline(clip, judges, real, real2):
    r = attribute_accuracy(judges, real.images, real.captions)
    r['clip_score'] = clip_score(clip, real.images, real.captions)
    r['fd_real_vs_real'] = float(metrics.frechet_distance(
        real.images, real2.images[:len(real.images)], features=judge_features(judges)))
    return r


def eval_prompts(cs, args):
    """The seen and held-out prompts scored: shapes, every caption (``--per-prompt``
    images per seen caption, 4x as many per held-out one); avatars, ``--eval-prompts``
    captions drawn from each split."""
    if cs.name == 'shapes':
        return ([c for c in cs.train_captions for _ in range(args.per_prompt)],
                [c for c in cs.holdout_captions for _ in range(4 * args.per_prompt)])
    rng = np.random.default_rng(args.seed + 10)

    def draw(captions):
        return [captions[i] for i in rng.integers(0, len(captions), args.eval_prompts)]
    return draw(cs.train_captions), draw(cs.holdout_captions)


def matched_real(cs, prompts, seed, split):
    """Real images with exactly the caption counts of ``prompts`` (drawn from ``split``;
    an avatar is its caption's rendering)."""
    if cs.name == 'avatars':
        attributes = cs.parse(list(prompts))
        return CaptionedShapes(render_avatars(attributes), list(prompts), attributes)
    need = {c: prompts.count(c) for c in set(prompts)}
    pool = caption_shapes(int(len(prompts) * 1.5) + 200, seed=seed, split=split)
    got = {c: [] for c in need}
    for x, c in zip(pool.images, pool.captions):
        if c in got and len(got[c]) < need[c]:
            got[c].append(x)
    while any(len(got[c]) < need[c] for c in need):   # top up the rare ones
        seed += 1000
        more = caption_shapes(len(prompts), seed=seed, split=split)
        for x, c in zip(more.images, more.captions):
            if c in got and len(got[c]) < need[c]:
                got[c].append(x)
    images = np.stack([got[c].pop() for c in prompts])
    return CaptionedShapes(images, list(prompts), cs.parse(list(prompts)))


# ----------------------------------------------------------------------------- figures
def prompt_grid(ldm, prompts, n_seeds, w, steps, seed, path, title):
    sg.manual_seed(seed)
    rows = [p for p in prompts for _ in range(n_seeds)]
    x = generate(ldm, rows, w, steps)
    sg.viz.image_grid(x, nrow=n_seeds, path=path, title=title)
    return x


def attention_maps(ldm, prompt, w, steps, seed, path):
    """Sample one image for ``prompt`` and draw, for each token, the cross-attention weight
    each latent pixel gives it (the 4x4 blocks, averaged over blocks, heads and steps)."""
    blocks = [b for b in ldm.net.cross_attention_blocks()] if hasattr(
        ldm.net, 'cross_attention_blocks') else []
    if not blocks:
        return None
    C, h, wd = ldm.latent_shape
    full = [b for b in blocks]
    total, count = None, 0

    def grab(t, z):
        nonlocal total, count
        for b in full:
            if b.weights is not None and b.weights.shape[1] == h * wd:
                wts = b.weights.numpy()[-1]              # the conditional half, last image
                total = wts if total is None else total + wts
                count += 1
    for b in full:
        b.keep_weights = True
    try:
        sg.manual_seed(seed)
        cond = ldm.condition([prompt])
        z = ldm.sample_latents(cond, w, steps=steps, callback=grab)
    finally:
        for b in full:
            b.keep_weights, b.weights = False, None
    image = ldm.decode_latents(z).numpy()[0]
    words = ['<cls>'] + prompt.split()
    # avatars repeat colour words ('black' clothes, 'black' hair): number the columns
    labels = [f"{k}:{w}" if prompt.split().count(w) > 1 else w
              for k, w in enumerate(words)]
    maps = (total / max(count, 1))[:, :len(words)].T.reshape(len(words), h, wd)
    fig = sg.viz.new_figure(1.6 * (len(words) + 1), 1.9)
    ax = fig.add_subplot(1, len(words) + 1, 1)
    ax.imshow(np.transpose(image, (1, 2, 0)))
    ax.set_title('\n'.join(textwrap.wrap(prompt, 20)), fontsize=7)   # five-word prompts: two lines
    ax.axis('off')
    for k, word in enumerate(words):
        ax = fig.add_subplot(1, len(words) + 1, k + 2)
        ax.imshow(maps[k], cmap='magma', vmin=0, vmax=maps.max())
        ax.set_title(f"'{labels[k]}'", fontsize=8)
        ax.axis('off')
    sg.viz.save(fig, path)
    return {label: maps[k].round(3).tolist() for k, label in enumerate(labels)}


def trajectory(ldm, prompts, w, steps, seed, path, show=6):
    """Decode z_t and the predicted x̂_0 at ``show`` of the sampling steps."""
    sg.manual_seed(seed)
    cond = ldm.condition(prompts)
    eps = ldm.eps_fn(cond, w)
    frames = []

    def keep(t, z):
        frames.append((t, z, denoise(eps, ldm.schedule, z, t) if t > 0 else z))
    ldm.sample_latents(cond, w, steps=steps, callback=keep)
    pick = np.unique(np.linspace(0, len(frames) - 1, show).round().astype(int))
    rows = []
    for i in pick:
        rows.append(ldm.decode_latents(frames[i][1]).numpy())
    for i in pick:
        rows.append(ldm.decode_latents(frames[i][2]).numpy())
    grid = np.stack(rows, 1).reshape((-1,) + rows[0].shape[1:])      # prompt-major
    sg.viz.image_grid(grid, nrow=2 * len(pick), path=path,
                      title='t = ' + ', '.join(str(frames[i][0]) for i in pick)
                      + ':\ndecoded z_t (left half), predicted x̂₀ (right half)')


def draw_figures(ldm, cs, args, out):
    """The prompt x seed grid, the held-out grid, the cross-attention maps and the
    denoising trajectory, at guidance weight ``args.w``; returns the attention maps."""
    def spread(captions):                      # 8 captions evenly through the list
        return [captions[i] for i in np.linspace(0, len(captions) - 1, 8).round().astype(int)]
    show = list(cs.train_captions[::7])[:8] if cs.name == 'shapes' else spread(cs.train_captions)
    prompt_grid(ldm, show, 8, args.w, args.steps, args.seed + 2,
                os.path.join(out, 'prompt_seed_grid.png'),
                f'seen prompts (rows) x seeds, w = {args.w:g}')
    prompt_grid(ldm, spread(cs.holdout_captions), 8, args.w, args.steps, args.seed + 3,
                os.path.join(out, 'holdout_grid.png'),
                f'held-out prompts (never trained on) x seeds, w = {args.w:g}')
    attention_prompt, trajectory_prompts = FIGURE_PROMPTS[cs.name]
    maps = attention_maps(ldm, attention_prompt, args.w, args.steps, args.seed + 4,
                          os.path.join(out, 'cross_attention.png'))
    trajectory(ldm, trajectory_prompts, args.w, args.steps, args.seed + 5,
               os.path.join(out, 'trajectory.png'))
    return maps


# ----------------------------------------------------------------------------- main
def main():
    p = parser(__doc__.split('\n')[0], 'out/text_to_image')
    p.add_argument('--prompt', default=None,
                   help='generate --n images for this prompt from the saved checkpoint')
    p.add_argument('--n', type=int, default=16, help='images for --prompt')
    p.add_argument('--w', type=float, default=2.0, help='guidance weight for --prompt and figures')
    p.add_argument('--checkpoint', default=None,
                   help=f'checkpoint to load (default OUT/{CHECKPOINT}) with --prompt')
    p.add_argument('--dataset', default='shapes', choices=sorted(IMAGE_SIZE),
                   help='captioned shapes (16x16, 3 words) or avatars (32x32, 5 words)')
    p.add_argument('--denoiser', default='unet', choices=['unet', 'dit'])
    p.add_argument('--channels', type=int, default=32, help='U-Net base width')
    p.add_argument('--dit-width', type=int, default=88,
                   help='DiT token width (88 x 4 blocks: 803k parameters, the U-Net 32 has 797k)')
    p.add_argument('--dit-depth', type=int, default=4, help='DiT blocks')
    p.add_argument('--dit-patch', type=int, default=1, help='DiT patch size on the 4x4 latent')
    p.add_argument('--guidance', default='1,2,3,5', help='guidance weights to evaluate')
    p.add_argument('--figures-only', action='store_true',
                   help='redraw the figures from the checkpoint (no training, no evaluation)')
    p.add_argument('--clip-steps', type=int, default=800)
    p.add_argument('--vae-steps', type=int, default=2000)
    p.add_argument('--vae-beta', type=float, default=0.1, help='KL weight β of the latent VAE')
    p.add_argument('--ldm-steps', type=int, default=2000)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--stage-cpu', type=float, default=900,
                   help='CPU-second budget of each training stage')
    p.add_argument('--steps', type=int, default=25, help='DDIM sampling steps')
    p.add_argument('--score', action='store_true',
                   help='with --prompt: also train the attribute classifiers and score the images')
    p.add_argument('--per-prompt', type=int, default=8,
                   help='shapes: evaluation images per seen prompt (4x as many per held-out prompt)')
    p.add_argument('--eval-prompts', type=int, default=500,
                   help='avatars: seen and held-out prompts drawn for the evaluation')
    args = p.parse_args()
    if args.dataset == 'avatars' and args.out == 'out/text_to_image':
        args.out = 'out/text_to_image_avatars'
    if args.device != 'cpu':
        p.error(f"--device {args.device}: this demo runs on the CPU only for now")
    out = ensure_out(args.out)
    ckpt = args.checkpoint or os.path.join(out, CHECKPOINT)
    t_start = time.time()

    if args.figures_only:                           # ------------------ figures only
        if not os.path.exists(ckpt):
            p.error(f"no checkpoint at {ckpt}: run the demo once without --figures-only")
        clip, vae, ldm, state = load_checkpoint(ckpt)
        maps = draw_figures(ldm, CAPTION_SETS[clip.config.captions], args, out)
        write_results(out, {'figures_only': True, 'w': args.w, 'seed': args.seed,
                            'checkpoint': ckpt, 'cross_attention_maps': maps})
        return

    if args.prompt is not None:                     # ------------------ sample only
        if not os.path.exists(ckpt):
            p.error(f"no checkpoint at {ckpt}: run the demo once without --prompt to train "
                    f"(or pass --checkpoint)")
        clip, vae, ldm, state = load_checkpoint(ckpt)
        try:
            ldm.condition([args.prompt])
        except ValueError as e:
            p.error(str(e))
        if args.n < 1:
            p.error(f"--n must be at least 1, got {args.n}")
        n = args.n
        sg.manual_seed(args.seed)
        x = generate(ldm, [args.prompt] * n, args.w, args.steps)
        tag = args.prompt.replace(' ', '_') or 'empty_prompt'
        path = os.path.join(out, f"prompt_{tag}.png")
        sg.viz.image_grid(x, nrow=min(8, n), path=path, title=f'"{args.prompt}", w = {args.w:g}')
        print(f"{n} images for {args.prompt!r} -> {path}")
        r = {'prompt': args.prompt, 'n': n, 'w': args.w, 'seed': args.seed, 'checkpoint': ckpt,
             'denoiser': state['denoiser']}
        if args.prompt:
            r['clip_score'] = clip_score(clip, x, [args.prompt] * n)
            print(f"  CLIP score {r['clip_score']:.1f}")
        cs = CAPTION_SETS[clip.config.captions]
        if args.score and len(args.prompt.split()) == len(cs.attributes):
            judges = train_attribute_classifiers(*real_for_judges(cs, args.quick, args.seed),
                                                 epochs=1 if args.quick else 4, seed=args.seed,
                                                 captions=cs.name)
            r['attribute_accuracy'] = attribute_accuracy(judges, x, [args.prompt] * n)
            print(f"  attributes right: {r['attribute_accuracy']}")
        write_results(out, r, {'samples': x})
        return

    quick, cs = args.quick, CAPTION_SETS[args.dataset]   # ------------------ train
    size = IMAGE_SIZE[cs.name]
    n_train = 1500 if quick else 20000
    if quick:
        args.clip_steps, args.vae_steps, args.ldm_steps, args.per_prompt = 5, 10, 10, 1
        args.batch, args.steps, args.guidance, args.eval_prompts = 16, 3, '1,3', 16
    sg.manual_seed(args.seed)
    train = cs.sample(n_train, seed=args.seed, split='train')
    print(f"{len(train.images)} training images {train.images.shape[1:]} of "
          f"{len(set(train.captions))} captions ({len(cs.holdout_captions)} held out)", flush=True)

    # 1. CLIP
    if quick:
        clip_config = CLIPConfig.for_captions(cs.name, width=16, n_layer=1, embed_dim=16,
                                              image_size=size, channels=(8, 8, 8))
    elif cs.name == 'avatars':                   # the config of docs/clip.md's avatars runs
        clip_config = CLIPConfig.for_captions(cs.name, image_size=size, channels=(16, 32, 64, 64))
    else:
        clip_config = CLIPConfig()
    clip = CLIP(clip_config)
    t0 = time.process_time()
    clip_losses = train_clip(clip, train.images, train.captions, steps=args.clip_steps,
                             seed=args.seed, cpu_budget=args.stage_cpu,
                             progress=Progress(args.clip_steps, 'clip'))['loss']
    clip.eval()
    clip_cpu = time.process_time() - t0

    # 2. VAE with a 4 x H/4 x W/4 spatial latent (two stride-2 stages)
    sg.manual_seed(args.seed)
    vae = VAE(VAEConfig(data_shape=(3, size, size), arch='conv', channels=(8, 8) if quick else (32, 64),
                        latent_shape=(4, size // 4, size // 4), conv_depth=0 if quick else 1,
                        beta=args.vae_beta,
                        likelihood='bernoulli'))
    t0 = time.process_time()
    vae_losses = train_vae(vae, train.images, args.vae_steps, args.batch, args.lr, args.seed,
                           args.stage_cpu, Progress(args.vae_steps, 'vae'))
    vae.eval()
    vae_cpu = time.process_time() - t0

    # 3. latent diffusion
    options = denoiser_options(args.denoiser, vae.config.latent_shape, args)
    net = build_denoiser(args.denoiser, options, clip.config.width)
    ldm = LatentDiffusion(vae, clip.text, net, tokenizer(clip.text),
                          LatentDiffusionConfig(context=cs.context, T=1000))
    z_raw = ldm.encode_images(sg.tensor(train.images)).numpy()
    ldm.config.scale = latent_scale(z_raw)
    z0 = (z_raw * ldm.config.scale).astype(np.float32)
    captions = sorted(set(train.captions))
    caption_index = np.array([captions.index(c) for c in train.captions])
    c = ldm.condition(captions)
    conds = (c.tokens.numpy(), c.padding.numpy(), c.pooled.numpy())
    n_params = sum(q.numel() for q in ldm.trainable_parameters())
    print(f"latent {vae.config.latent_shape}, scale λ = {ldm.config.scale:.4f}; {args.denoiser} "
          f"with {n_params:,} parameters", flush=True)
    sg.manual_seed(args.seed)
    t0 = time.process_time()
    ema, ldm_losses = train_ldm(ldm, z0, caption_index, conds, args.ldm_steps, args.batch,
                                args.lr, args.seed, args.stage_cpu,
                                Progress(args.ldm_steps, args.denoiser))
    ldm_cpu = time.process_time() - t0
    ema.copy_to()
    ldm.eval()
    save_checkpoint(ckpt, clip, vae, ldm, args.denoiser, options,
                    {'seed': args.seed, 'ldm_steps': len(ldm_losses)})
    print(f"  CPU s: clip {clip_cpu:.0f}, vae {vae_cpu:.0f}, ldm {ldm_cpu:.0f}; checkpoint {ckpt}",
          flush=True)

    # ------------------ evaluation
    judges_x, judges_caps = real_for_judges(cs, quick, args.seed)
    judges = train_attribute_classifiers(judges_x, judges_caps, epochs=1 if quick else 4,
                                         seed=args.seed, captions=cs.name)
    seen_prompts, hold_prompts = eval_prompts(cs, args)
    real_seen = matched_real(cs, seen_prompts, args.seed + 11, 'train')
    real_hold = matched_real(cs, hold_prompts, args.seed + 12, 'holdout')
    baseline = {'seen': real_baseline(clip, judges, real_seen,
                                      matched_real(cs, seen_prompts, args.seed + 13, 'train')),
                'holdout': real_baseline(clip, judges, real_hold,
                                         matched_real(cs, hold_prompts, args.seed + 14, 'holdout'))}
    print(f"  real images: all attributes right {baseline['seen']['all']:.3f} (seen) / "
          f"{baseline['holdout']['all']:.3f} (held out); CLIP score {baseline['seen']['clip_score']:.1f}",
          flush=True)
    # VAE reconstructions: does the latent keep shape, colour and size?
    rec = vae.reconstruct(sg.tensor(real_seen.images)).numpy()
    vae_rec = attribute_accuracy(judges, rec, real_seen.captions)
    vae_rec['mse'] = float(np.mean((rec - real_seen.images) ** 2))
    print(f"  VAE reconstructions: {vae_rec}", flush=True)
    sweep, samples = {}, None
    for w in [float(v) for v in args.guidance.split(',')]:
        sg.manual_seed(args.seed + 1)
        seen, fake_seen = evaluate(ldm, clip, judges, real_seen, seen_prompts, w, args.steps)
        hold, fake_hold = evaluate(ldm, clip, judges, real_hold, hold_prompts, w, args.steps)
        sweep[f"w={w:g}"] = {'seen': seen, 'holdout': hold}
        print(f"  w = {w:g}: all attributes right {seen['all']:.3f} seen, {hold['all']:.3f} held out; "
              f"CLIP score {seen['clip_score']:.1f} / {hold['clip_score']:.1f}; "
              f"FD {seen['fd']:.2f} / {hold['fd']:.2f}", flush=True)
        if samples is None or w == args.w:
            samples = {'samples': np.concatenate([fake_seen, fake_hold]),
                       'prompts': np.array(seen_prompts + hold_prompts)}

    maps = draw_figures(ldm, cs, args, out)
    stride = args.per_prompt if cs.name == 'shapes' else 1
    sg.viz.image_grid(np.concatenate([real_seen.images[::stride][:16], rec[::stride][:16]]),
                      nrow=16, path=os.path.join(out, 'vae_reconstructions.png'),
                      title='real (top) and VAE reconstructions through the '
                            + 'x'.join(map(str, vae.config.latent_shape)) + ' latent (bottom)')
    results = dict(
        seed=args.seed, dataset=cs.name, denoiser=args.denoiser, denoiser_options=options,
        denoiser_parameters=n_params, latent_shape=vae.config.latent_shape,
        latent_scale=ldm.config.scale, vae_beta=args.vae_beta,
        steps={'clip': len(clip_losses), 'vae': len(vae_losses), 'ldm': len(ldm_losses)},
        train_cpu_s={'clip': clip_cpu, 'vae': vae_cpu, 'ldm': ldm_cpu},
        loss_last_100={'clip': float(np.mean(clip_losses[-100:])),
                       'vae': float(np.mean(vae_losses[-100:])),
                       'ldm': float(np.mean(ldm_losses[-100:]))},
        real_images=baseline, vae_reconstruction=vae_rec, guidance_sweep=sweep,
        cross_attention_maps=maps, sampling_steps=args.steps,
        eval_prompts={'seen': len(seen_prompts), 'holdout': len(hold_prompts)},
        checkpoint=ckpt, wall_s=time.time() - t_start)
    write_results(out, results, samples)
    # a later --prompt run into the same OUT rewrites metrics.json; this copy stays
    with open(os.path.join(out, 'train_metrics.json'), 'w') as f:
        f.write(open(os.path.join(out, 'metrics.json')).read())


def real_for_judges(cs, quick, seed):
    """Real captioned images of every caption of the set for the attribute classifiers."""
    d = cs.sample(2000 if quick else 12000, seed=seed + 7, split='all')
    return d.images, d.captions


if __name__ == '__main__':
    main()
