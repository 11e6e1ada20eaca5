"""CLIP on captioned shapes: a word-level transformer and a small conv net trained with the
symmetric InfoNCE loss, scored by zero-shot classification on combinations never seen.

    python demos/clip_shapes.py             # ~6 CPU minutes (420 s cap); writes out/clip_shapes/*.png
    python demos/clip_shapes.py --quick     # seconds
    python demos/clip_shapes.py --checkpoint out/clip_shapes/clip_checkpoint.npz   # no training
    python demos/clip_shapes.py --data my_captions.npz   # your own captioned images, see --help
    python demos/clip_shapes.py --dataset avatars   # the harder set: 32x32 avatars, 5 words (800 steps)

Data: sg.data.caption_shapes, 16x16 RGB shapes captioned "<size> <colour> <shape>" (63
captions). Training uses only the 55 captions outside sg.data.HOLDOUT; every number is
reported on fresh images of the 55 seen captions and of the 8 held-out ones separately:

- zero-shot accuracy per attribute: each image is compared with all 63 captions and the
  most similar caption's size, colour and shape words are checked (and all three);
- recall@1 over the 63 captions, both ways, on galleries of one image per caption;
- the same attributes read by classifiers trained on real images of all 63 captions
  (sg.metrics.train_attribute_classifiers): the judges of the text-to-image demo, and
  their accuracy on real images is the ceiling a generator can reach under them;
- size accuracy against the distance of the true scale to a size-word boundary.

The trained model is saved to OUT/clip_checkpoint.npz (sg.models.clip.load_clip reads
it). With --data PATH (a .npz with 'images' and 'captions', an array of strings in the
captions' vocabulary; sg.data.load_captioned_images) the model trains on the file, the
last tenth held out, and zero-shot compares each test image with the file's distinct
captions. Every number is in OUT/metrics.json; the gallery, its similarity matrix and the
embeddings in OUT/samples.npz. docs/clip.md explains the maths and lists the results.

--dataset avatars: sg.data.caption_avatars, 32x32 avatars captioned with one word per
feature ("sunglasses red hoodie black bun"; 4,032 captions); training leaves out every
avatar whose (clothing type, hair type) pair is in sg.data.captions.AVATAR_HOLDOUT_PAIRS
(576 captions). Zero-shot compares each image with all 4,032 captions and checks each of
the five words; the attribute classifiers are one per feature. Retrieval recall@1 uses
one gallery: the rendering of each of the 4,032 captions (an avatar is a deterministic
function of its five features). No size analysis.
"""
import os
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen.data import captions as cap
from scratchgen.metrics import attribute_accuracy, recall_at_1, train_attribute_classifiers
from scratchgen.models.clip import CLIP, CLIPConfig, train_clip, save_clip, load_clip

SEED_TRAIN, SEED_SEEN, SEED_HOLD, SEED_GALLERY, SEED_SIZE, SEED_ATTR = range(6)


def seeded(args, k):
    """One independent seed per use, derived from --seed."""
    return 1000 * args.seed + k


def parse_attributes(captions, cs):
    """(N, k) attribute indices when every caption is of the caption set ``cs``, else None."""
    try:
        return cs.parse(captions)
    except ValueError:
        return None


def zero_shot(model, images, captions, candidates, cs):
    """Zero-shot: accuracy of the most similar candidate caption, and per attribute."""
    pred = [candidates[i] for i in model.zero_shot(images, candidates)]
    out = {'caption': float(np.mean([p == c for p, c in zip(pred, captions)])), 'n': len(pred)}
    true, got = parse_attributes(captions, cs), parse_attributes(pred, cs)
    if true is not None and got is not None:
        right = true == got
        out.update({a: float(right[:, k].mean()) for k, a in enumerate(cs.attributes)})
        out['all'] = float(right.all(1).mean())
        out['confusion'] = {a: confusion(true[:, k], got[:, k], len(cs.words[k]))
                            for k, a in enumerate(cs.attributes)}
    return out, pred


def confusion(true, pred, k):
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (true, pred), 1)
    return m


def galleries(images, captions, candidates, n_galleries):
    """Galleries of one image per candidate caption: the g-th image of each caption."""
    where = {c: [] for c in candidates}
    for i, t in enumerate(captions):
        if t in where:
            where[t].append(i)
    have = [c for c in candidates if len(where[c]) >= 1]
    n = min(n_galleries, min(len(where[c]) for c in have))
    return have, [np.array([where[c][g] for c in have]) for g in range(n)]


def retrieval(model, images, captions, candidates, n_galleries, holdout=()):
    """recall@1 over galleries of one image per caption (mean over galleries), overall
    and for the held-out captions' rows (image -> text) and columns (text -> image)."""
    have, gals = galleries(images, captions, candidates, n_galleries)
    text = model.embed_captions(have)
    labels = np.arange(len(have))
    holdout = set(holdout)
    held = np.array([c in holdout for c in have])
    res = {'image_to_text': [], 'text_to_image': [], 'holdout_image_to_text': [],
           'holdout_text_to_image': []}
    sims = []
    for g in gals:
        sim = model.embed_images(images[g]) @ text.T
        sims.append(sim)
        r = recall_at_1(sim, labels, labels)
        res['image_to_text'].append(r['image_to_text'])
        res['text_to_image'].append(r['text_to_image'])
        if held.any():
            res['holdout_image_to_text'].append(float((sim[held].argmax(1) == labels[held]).mean()))
            res['holdout_text_to_image'].append(float((sim[:, held].argmax(0) ==
                                                       labels[held]).mean()))
    out = {k: float(np.mean(v)) for k, v in res.items() if v}
    out.update(captions=len(have), galleries=len(gals))
    return out, have, gals[0], sims[0]


def size_by_boundary_distance(model, clf, args, n):
    """Size accuracy of CLIP zero-shot and of the size classifier against how far each
    image's scale r is from the nearest size-word boundary (pixels of r)."""
    from scratchgen.data.images import SCALE_RANGE
    d = sg.data.shapes(n, size=16, seed=seeded(args, SEED_SIZE), color=True)
    lo, hi = SCALE_RANGE[0] * 16, SCALE_RANGE[1] * 16
    bounds = lo + (hi - lo) * np.array([1 / 3, 2 / 3])
    dist = np.abs(d.factors['scale'][:, None] - bounds[None]).min(1)
    true = cap.caption_attributes(d.descriptions)[:, 2]
    clip_size = cap.caption_attributes([cap.ALL_CAPTIONS[i] for i in
                                        model.zero_shot(d.images)])[:, 2]
    clf_size = clf.nets['size'].predict(d.images) if clf is not None else None
    edges = [0.0, 0.025, 0.05, 0.1, 0.2, 0.4, 10.0]
    rows = []
    for a, b in zip(edges[:-1], edges[1:]):
        m = (dist >= a) & (dist < b)
        if m.any():
            rows.append({'from_px': a, 'to_px': b, 'n': int(m.sum()),
                         'clip': float((clip_size[m] == true[m]).mean()),
                         'classifier': None if clf_size is None else
                         float((clf_size[m] == true[m]).mean())})
    return {'scale_range_px': [lo, hi], 'boundaries_px': bounds.tolist(), 'bins': rows}


# ----------------------------------------------------------------------------- figures
def plot_similarity(sim, names, holdout, path):
    fig = sg.viz.new_figure(9.5, 8.5)
    ax = fig.subplots()
    im = ax.imshow(sim, cmap='viridis')
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    ax.set_yticks(range(len(names)), names, fontsize=5)
    for lab in list(ax.get_xticklabels()) + list(ax.get_yticklabels()):
        if lab.get_text() in holdout:
            lab.set_color('red')
    ax.set_xlabel('caption')
    ax.set_ylabel('image (one per caption)')
    ax.set_title('cosine similarity, image vs caption (held-out captions in red)', fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.7)
    sg.viz.save(fig, path)


def plot_confusions(results, cs, path):
    rows = [(name, r) for name, r in results.items() if 'confusion' in r]
    k = len(cs.attributes)
    fig = sg.viz.new_figure(11 * k / 3, 3.6 * len(rows))
    axes = fig.subplots(len(rows), k, squeeze=False)
    for i, (name, r) in enumerate(rows):
        for j, a in enumerate(cs.attributes):
            m = np.asarray(r['confusion'][a])
            words = cs.words[j]
            ax = axes[i, j]
            ax.imshow(m / np.maximum(m.sum(1, keepdims=True), 1), cmap='Blues', vmin=0, vmax=1)
            for (y, x), v in np.ndenumerate(m):
                if v:
                    ax.text(x, y, str(v), ha='center', va='center', fontsize=7,
                            color='white' if v > m.sum(1)[y] / 2 else 'black')
            ax.set_xticks(range(len(words)), words, rotation=45, fontsize=7)
            ax.set_yticks(range(len(words)), words, fontsize=7)
            ax.set_title(f"{name}: {a} {100 * r[a]:.1f}%", fontsize=9)
            ax.set_xlabel('zero-shot', fontsize=8)
            ax.set_ylabel('true', fontsize=8)
    sg.viz.save(fig, path)


def plot_predictions(images, captions, pred, path, n=24):
    fig = sg.viz.new_figure(12, 6.6)
    axes = fig.subplots(3, 8).ravel()
    for ax, x, c, p in zip(axes, images[:n], captions[:n], pred[:n]):
        ax.imshow(np.clip(x.transpose(1, 2, 0), 0, 1), interpolation='nearest')
        ax.set_title(p.replace(' ', '\n'), fontsize=7, color='green' if p == c else 'red')
        ax.set_axis_off()
    fig.suptitle('held-out combinations: zero-shot caption (red = wrong)', fontsize=10)
    sg.viz.save(fig, path)


def plot_size_boundary(res, path):
    fig = sg.viz.new_figure(5.5, 3.6)
    ax = fig.subplots()
    bins = res['bins']
    x = np.arange(len(bins))
    ax.bar(x - 0.2, [b['clip'] for b in bins], 0.4, label='CLIP zero-shot')
    if bins[0]['classifier'] is not None:
        ax.bar(x + 0.2, [b['classifier'] for b in bins], 0.4, label='size classifier (real)')
    ax.set_xticks(x, [f"{b['from_px']:g}-{b['to_px']:g}\n(n={b['n']})" if b['to_px'] < 10
                      else f">{b['from_px']:g}\n(n={b['n']})" for b in bins], fontsize=7)
    ax.set_xlabel('distance of the scale r to the nearest size boundary (pixels)')
    ax.set_ylabel('size accuracy')
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc='lower right')
    ax.grid(alpha=0.3, axis='y')
    sg.viz.save(fig, path)


# ----------------------------------------------------------------------------- main
def load_user_data(path, p):
    try:
        images, captions = sg.data.load_captioned_images(path)
    except sg.data.DataFileError as e:
        p.error(str(e))                       # exits 2 with the message (it names the file)
    if len(images) < 20 or images.shape[2] != images.shape[3]:
        p.error(f"--data: {path!r} holds images of shape {images.shape}; this demo needs "
                "at least 20 square images (a tenth is held out)")
    n_test = max(10, len(images) // 10)
    return images, captions, n_test


def main():
    p = parser(__doc__.split('\n')[0], 'out/clip_shapes',
               data="your own captioned images: a .npz with 'images' (N, C, H, W) or (N, H, W) "
                    "in [0, 1] and 'captions', N strings of the shapes caption words")
    p.add_argument('--dataset', choices=('shapes', 'avatars'), default='shapes',
                   help='captioned shapes (16x16, 3 words) or avatars (32x32, 5 words)')
    p.add_argument('--steps', type=int, default=None,
                   help='training steps (default 5000 for shapes, 800 for avatars)')
    p.add_argument('--cpu-budget', type=float, default=420,
                   help='stop training after this many seconds of process CPU time')
    p.add_argument('--n-train', type=int, default=50000, help='training images')
    p.add_argument('--n-eval', type=int, default=2000, help='test images per split')
    p.add_argument('--checkpoint', default=None, help='a CLIP saved by this demo: no training')
    p.add_argument('--no-classifiers', action='store_true',
                   help='skip the real-image attribute classifiers')
    args = p.parse_args()
    avatars = args.dataset == 'avatars' and not args.data
    if avatars and args.out == 'out/clip_shapes':
        args.out = 'out/clip_avatars'
    if args.steps is None:
        args.steps = 800 if avatars else 5000
    if args.quick:
        args.steps, args.n_train, args.n_eval = (15, 800, 100) if avatars else (40, 1500, 200)
    out = ensure_out(args.out)
    sg.manual_seed(args.seed)
    metrics = {'seed': args.seed, 'quick': args.quick, 'dataset': args.dataset}
    cs = cap.CAPTION_SETS['avatars' if avatars else 'shapes']

    if args.data:
        images, captions, n_test = load_user_data(args.data, p)
        train_x, train_c = images[:-n_test], captions[:-n_test]
        tests = {'test': (images[-n_test:], captions[-n_test:])}
        candidates = sorted(set(captions))
        metrics['data'] = args.data
        C, H = images.shape[1], images.shape[2]
    else:
        d = cs.sample(args.n_train, seed=seeded(args, SEED_TRAIN), split='train')
        train_x, train_c = d.images, d.captions
        tests = {name: cs.sample(args.n_eval, seed=seeded(args, s), split=split)[:2]
                 for name, s, split in [('seen', SEED_SEEN, 'train'),
                                        ('holdout', SEED_HOLD, 'holdout')]}
        candidates = list(cs.all_captions)
        C, H = train_x.shape[1], train_x.shape[2]
        metrics['data'] = (f'sg.data.caption_{cs.name} ({H}x{H}, {len(cs.train_captions)} '
                           f'training captions)')
    metrics['train_images'], metrics['candidates'] = len(train_x), len(candidates)

    if args.checkpoint:
        model, extra = load_clip(args.checkpoint, device=args.device)
        print(f"loaded {args.checkpoint} (trained {extra.get('steps')} steps)")
        metrics['checkpoint'] = args.checkpoint
        history = None
    else:
        if avatars:
            config = CLIPConfig.for_captions('avatars', image_size=32,
                                             channels=(16, 32, 64, 64))
        else:
            config = CLIPConfig(image_channels=C, image_size=H)
        model = CLIP(config, device=args.device)
        n_params = sum(q.numel() for q in model.parameters())
        print(f"CLIP: {n_params:,} parameters; {len(train_x)} training pairs, up to "
              f"{args.steps} steps, CPU budget {args.cpu_budget:g} s")
        t0 = time.time()
        history = train_clip(model, train_x, train_c, steps=args.steps, seed=args.seed,
                             cpu_budget=args.cpu_budget,
                             progress=Progress(args.steps, label='CLIP'))
        metrics['train'] = {'steps': len(history['loss']), 'parameters': n_params,
                            'final_loss': float(np.mean(history['loss'][-50:])),
                            'temperature': history['temperature'][-1],
                            'cpu_seconds': history['cpu_seconds'],
                            'wall_seconds': time.time() - t0}
        save_clip(model, os.path.join(out, 'clip_checkpoint.npz'),
                  steps=len(history['loss']), seed=args.seed)
        sg.viz.training_curves({'InfoNCE loss': history['loss'],
                                'temperature tau': history['temperature']},
                               path=os.path.join(out, 'clip_training.png'), smooth=25,
                               logy=True)

    results, preds = {}, {}
    for name, (x, c) in tests.items():
        results[name], preds[name] = zero_shot(model, x, c, candidates, cs)
        shown = '  '.join(f"{k} {100 * results[name][k]:.1f}%" for k in
                          cs.attributes + ('all', 'caption') if k in results[name])
        print(f"zero-shot on {name} images: {shown}")
    metrics['zero_shot'] = results

    if avatars:
        finish_avatars(model, args, metrics, results, preds, tests, out)
        return

    # retrieval: galleries of one image per caption
    if args.data:
        x, c = tests['test']
    else:
        g = cap.caption_shapes(63 * (8 if args.quick else 40), seed=seeded(args, SEED_GALLERY),
                               split='all')
        x, c = g.images, g.captions
    rec, names, gal, sim = retrieval(model, x, c, candidates, 3 if args.quick else 20,
                                     holdout=cap.HOLDOUT_CAPTIONS)
    metrics['recall_at_1'] = rec
    print(f"recall@1 over {rec['captions']} captions ({rec['galleries']} galleries): "
          f"image->text {100 * rec['image_to_text']:.1f}%  text->image "
          f"{100 * rec['text_to_image']:.1f}%")
    plot_similarity(sim, names, cap.HOLDOUT_CAPTIONS, os.path.join(out, 'clip_similarity.png'))
    if any('confusion' in r for r in results.values()):
        plot_confusions(results, cs, os.path.join(out, 'clip_zero_shot_confusion.png'))
    name = 'holdout' if 'holdout' in tests else 'test'
    plot_predictions(tests[name][0], tests[name][1], preds[name],
                     os.path.join(out, 'clip_predictions.png'))

    if not args.data and not args.no_classifiers:
        clf = judge_real_images(cap.CAPTION_SETS['shapes'], args, tests, metrics,
                                1500 if args.quick else 20000, 1 if args.quick else 8)
        metrics['size_by_boundary_distance'] = size_by_boundary_distance(
            model, clf, args, 400 if args.quick else 4000)
        plot_size_boundary(metrics['size_by_boundary_distance'],
                           os.path.join(out, 'clip_size_boundary.png'))

    write_results(out, metrics, {'gallery_images': x[gal], 'gallery_captions': np.array(names),
                                 'similarity': sim,
                                 'caption_embeddings': model.embed_captions(names)})


def judge_real_images(cs, args, tests, metrics, n_images, epochs):
    """Attribute classifiers trained on real images of every caption of the set (never on
    CLIP), and their accuracy on the real test images: the ceiling any model is read
    against. Returns the classifiers."""
    real = cs.sample(n_images, seed=seeded(args, SEED_ATTR), split='all')
    t0 = time.process_time()
    clf = train_attribute_classifiers(real.images, real.attributes, captions=cs.name,
                                      epochs=epochs, seed=args.seed)
    ceiling = {name: attribute_accuracy(clf, x, cs.parse(c)) for name, (x, c) in tests.items()}
    metrics['attribute_classifiers'] = {'train_images': n_images,
                                        'trained_on': f'all {len(cs.all_captions)}',
                                        'cpu_seconds': time.process_time() - t0,
                                        'real_accuracy': ceiling}
    for name, r in ceiling.items():
        print(f"attribute classifiers on real {name} images: " +
              '  '.join(f"{k} {100 * v:.1f}%" for k, v in r.items()))
    return clf


def finish_avatars(model, args, metrics, results, preds, tests, out):
    """The avatars' figures, attribute classifiers on real avatars, and the results."""
    cs = cap.CAPTION_SETS['avatars']
    plot_confusions(results, cs, os.path.join(out, 'clip_zero_shot_confusion.png'))
    plot_predictions(tests['holdout'][0], tests['holdout'][1], preds['holdout'],
                     os.path.join(out, 'clip_predictions.png'))
    # retrieval over all 4,032 captions: an avatar is a deterministic rendering of its
    # caption, so the gallery is one rendering per caption
    every = list(cs.all_captions)
    rec, _, _, _ = retrieval(model, sg.data.render_avatars(cs.parse(every)), every,
                             every, 1, holdout=cs.holdout_captions)
    metrics['recall_at_1'] = rec
    print(f"recall@1 over {rec['captions']} captions: image->text {100 * rec['image_to_text']:.1f}%"
          f"  text->image {100 * rec['text_to_image']:.1f}%  (held-out captions: "
          f"{100 * rec['holdout_image_to_text']:.1f}% / {100 * rec['holdout_text_to_image']:.1f}%)")
    if not args.no_classifiers:
        judge_real_images(cs, args, tests, metrics, 600 if args.quick else 10000,
                          1 if args.quick else 4)
    x, c = tests['holdout']
    write_results(out, metrics, {'holdout_images': x[:64], 'holdout_captions': np.array(c[:64]),
                                 'holdout_predictions': np.array(preds['holdout'][:64])})


if __name__ == '__main__':
    main()
