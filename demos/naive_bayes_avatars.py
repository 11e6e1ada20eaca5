"""Naive Bayes on the fashion avatars: counting every combination vs independent features.

    python demos/naive_bayes_avatars.py           # ~15 s on a laptop CPU; out/naive_bayes/*.png
    python demos/naive_bayes_avatars.py --quick   # a few seconds
    python demos/naive_bayes_avatars.py --data rows.npy   # your own categorical data

What it shows (docs/naive_bayes.md): for N = 50 and N = 5,000 training avatars, averaged
over five seeds, the exact KL(true || model) and total variation over the 4,032 feature
combinations, the held-out log-likelihood and the probability left for combinations
never seen in training, for the full joint table (alpha = 0 and 1) and for naive Bayes
(alpha = 1). Then the same independence assumption applied to pixels: a pixel naive
Bayes fitted on rendered avatars, whose samples are coloured noise. Every number
printed is in OUT/metrics.json; the samples shown in the figure are in OUT/samples.npz.

With ``--data PATH`` (a .npy of integer category indices (N, d), one row per sample,
read by sg.data.load_categories) the counting models are fitted on your rows instead:
the last fifth is held out, and since the true distribution is unknown the table has
the held-out log-likelihood and the mass on unseen combinations, not the exact KL;
naive Bayes's samples go to OUT/samples.npz and their per-feature frequencies next to
the data's to naive_bayes_data.png.
"""
import math
import time

import numpy as np

from _common import ensure_out, parser, write_results

import scratchgen as sg
from scratchgen import metrics
from scratchgen.data import (AVATAR_SHAPE as SHAPE, avatar_entropy, avatar_joint, avatars,
                             all_avatar_combinations, render_avatars)
from scratchgen.models import CategoricalNaiveBayes, FullJointCategorical, PixelNaiveBayes
from scratchgen.viz import make_grid, new_figure, save

MODELS = (('full joint, α=0', lambda shape=SHAPE: FullJointCategorical(0.0, shape)),
          ('full joint, α=1', lambda shape=SHAPE: FullJointCategorical(1.0, shape)),
          ('naive Bayes, α=1', lambda shape=SHAPE: CategoricalNaiveBayes(1.0, shape)))
HEADER = ('| model | free params | KL(true ‖ model) | total variation | held-out LL / sample '
          '| mass on unseen |\n|---|---:|---:|---:|---:|---:|')


def seen_cells(X):
    """Boolean (3, 8, 4, 6, 7): which combinations occur in X."""
    counts = np.zeros(SHAPE, dtype=np.int64)
    np.add.at(counts, tuple(X.T), 1)
    return counts > 0


def evaluate(model, train, test, true, device):
    """The table's four numbers for one fitted model."""
    P = model.prob_table()                                   # host float64, 4,032 cells
    ll = model.log_prob(sg.tensor(test, device=device)).numpy().astype(np.float64)
    return dict(KL=metrics.kl_divergence(true, P), TV=metrics.total_variation(true, P),
                LL=float(ll.mean()), unseen=float(P[~seen_cells(train)].sum()))


def fmt(values, digits=3):
    """mean ± std over seeds; one infinite seed makes the mean infinite, and we say so."""
    v = np.asarray(values, dtype=np.float64)
    if np.isinf(v).any():
        sign = '−' if v.min() == -np.inf else ''
        return f"{sign}∞ ({int(np.isinf(v).sum())}/{len(v)} seeds)"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}".replace('-', '−')


def feature_table(args, true, seeds, n_test):
    """The two tables (N = 50 and 5,000); returns every number in them, per seed."""
    numbers = {}
    for N in (50, 5000):
        results = {name: {'KL': [], 'TV': [], 'LL': [], 'unseen': []} for name, _ in MODELS}
        truth = {'LL': [], 'unseen': [], 'distinct': []}
        for seed in seeds:
            gen = np.random.default_rng((seed, N))        # one stream: training, then test
            train, test = avatars(N, seed=gen), avatars(n_test, seed=gen)
            seen = seen_cells(train)
            truth['LL'].append(float(np.log(true[tuple(test.T)]).mean()))
            truth['unseen'].append(float(true[~seen].sum()))
            truth['distinct'].append(int(seen.sum()))
            for name, make in MODELS:
                for key, v in evaluate(make().fit(train), train, test, true, args.device).items():
                    results[name][key].append(v)
        print(f"\nN = {N} training avatars: {fmt(truth['distinct'], 1)} distinct combinations "
              f"seen; the truth has {fmt(truth['unseen'])} of its mass on the unseen ones")
        print(HEADER)
        for name, make in MODELS:
            r = results[name]
            print(f"| {name} | {make().n_free_parameters()} | {fmt(r['KL'])} | {fmt(r['TV'])} "
                  f"| {fmt(r['LL'])} | {fmt(r['unseen'])} |")
        print(f"| truth (the floor) | | 0 | 0 | {fmt(truth['LL'])} | {fmt(truth['unseen'])} |")
        numbers[f"N={N}"] = dict(results, truth=truth)
    H = avatar_entropy()
    print(f"\ntrue entropy H = {H:.3f} nats: the truth's held-out LL / sample averages −H, "
          "and no model beats that on average")
    # Naive Bayes's floor: with unlimited data it converges to the product of the true
    # marginals, which is this far from the truth (the features' total correlation).
    marginals = [true.sum(axis=tuple(j for j in range(true.ndim) if j != k))
                 for k in range(true.ndim)]
    product = marginals[0]
    for m in marginals[1:]:
        product = np.multiply.outer(product, m)
    floor = metrics.kl_divergence(true, product)
    print(f"naive Bayes's floor as N → ∞: KL(true ‖ product of the true marginals) = "
          f"{floor:.3f} nats")
    return dict(numbers, entropy=H, naive_bayes_floor_kl=floor)


def pixel_models(args, n_train, device):
    """Fit the pixel models; measure how much probability they give to real avatars."""
    t0 = time.time()
    images = render_avatars(avatars(n_train, seed=np.random.default_rng((args.seed, 1))))
    cat = PixelNaiveBayes('categorical', levels=4, alpha=1.0).fit(images)
    gauss = PixelNaiveBayes('gaussian').fit(images)
    print(f"\npixel naive Bayes on {n_train} rendered 32x32 avatars ({time.time() - t0:.1f}s):")
    print(f"  categorical over 4^3 = 64 colours per pixel: {cat.n_free_parameters()} free "
          f"parameters; Gaussian per pixel value: {gauss.n_free_parameters()}")
    # All 4,032 valid avatars, quantised as the model sees them: their total probability.
    valid = sg.tensor(render_avatars(all_avatar_combinations()), device=device)
    lp = cat.log_prob(valid).numpy().astype(np.float64)
    log10_mass = (lp.max() + math.log(np.exp(lp - lp.max()).sum())) / math.log(10)
    print(f"  quantised 32x32 images: 64^1024 = 10^{32 * 32 * math.log10(64):.0f}, of which "
          "4,032 are valid avatars")
    print(f"  probability the pixel model gives to all 4,032 valid avatars together: "
          f"10^{log10_mass:.0f} (the feature models: 1)")
    # How close do its samples come to a real avatar? The fraction of pixels whose colour
    # agrees with the best-matching valid avatar (1 for a real avatar).
    sg.manual_seed(args.seed)
    sample_colours = cat.colour_index(cat.sample(100, device=device)).numpy()   # (100, 1024)
    valid_colours = cat.colour_index(valid).numpy()                             # (4032, 1024)
    best = np.array([(valid_colours == s).mean(1).max() for s in sample_colours])
    print(f"  100 pixel samples: {best.mean():.2f} ± {best.std():.2f} of pixels agree with the "
          f"closest valid avatar; {int((best == 1).sum())} of them are valid avatars")
    numbers = dict(n_train=n_train, free_parameters=dict(categorical=cat.n_free_parameters(),
                                                         gaussian=gauss.n_free_parameters()),
                   log10_mass_on_valid_avatars=log10_mass, agree_mean=best.mean(),
                   agree_std=best.std(), valid_samples=int((best == 1).sum()))
    return cat, gauss, images, numbers


def figures(args, out, true, cat, gauss, images, device):
    """The two figures; returns the samples they show and how many NB samples are new."""
    # 1. samples: naive Bayes (rendered) next to the pixel models
    train = avatars(50, seed=np.random.default_rng((args.seed, 50)))
    nb = CategoricalNaiveBayes(alpha=1.0, n_categories=SHAPE).fit(train)
    sg.manual_seed(args.seed)
    nb_samples = nb.sample(10, device=device).numpy()
    new = int((~seen_cells(train)[tuple(nb_samples.T)]).sum())
    rows = [('10 training avatars', images[:10]),
            (f'naive Bayes (N = 50) samples, rendered: {new} of 10 are combinations never '
             'seen in training', render_avatars(nb_samples)),
            ('pixel naive Bayes, categorical (64 colours per pixel, shown at bin centres)',
             cat.sample(10, device=device).numpy()),
            ('pixel naive Bayes, Gaussian per pixel value (shown clipped to [0, 1])',
             gauss.sample(10, device=device).numpy())]
    fig = new_figure(8.4, 1.25 * len(rows) + 0.2)
    for ax, (title, batch) in zip(fig.subplots(len(rows), 1), rows):
        ax.imshow(make_grid(batch, nrow=10, value_range=(0, 1)), interpolation='nearest')
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    path = f"{out}/naive_bayes_samples.png"
    save(fig, path)
    print(f"wrote {path}")

    # 2. the 4,032 cells for that training set: model probability against the truth
    seen = seen_cells(train)
    floor = 1e-7                                  # where probability 0 is drawn
    fig = new_figure(12, 3.9)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    for ax, (name, make) in zip(axes, MODELS):
        P = make().fit(train).prob_table()
        for mask, colour, label in ((~seen, 'tab:red', 'unseen in training'),
                                    (seen, 'tab:blue', 'seen in training')):
            ax.scatter(true[mask], np.maximum(P[mask], floor), s=4, alpha=0.5, c=colour,
                       label=f"{label} ({int(mask.sum())})", linewidths=0)
        ax.plot((floor, 0.1), (floor, 0.1), 'k--', lw=0.8)
        ax.set(xscale='log', yscale='log', xlim=(5e-7, 5e-3), ylim=(floor / 2, 0.1),
               xlabel='true probability')
        ax.set_title(f"{name}\nKL = {metrics.kl_divergence(true, P):.3f} nats", fontsize=10)
    axes[0].set_ylabel('model probability (0 drawn at 1e-7)')
    axes[0].legend(loc='upper left', fontsize=8, markerscale=3)
    fig.suptitle('the 4,032 avatar combinations, one training set of N = 50', fontsize=11)
    path = f"{out}/naive_bayes_cells.png"
    save(fig, path)
    print(f"wrote {path}")
    samples = dict(naive_bayes=nb_samples, pixel_categorical=rows[2][1], pixel_gaussian=rows[3][1])
    return samples, new


NB = MODELS[2][0]
MAX_CELLS = 10 ** 6      # the full joint table of --data is skipped beyond this many cells


def user_data(args, p, out):
    """--data: the counting models on the user's rows; returns (numbers, samples)."""
    try:
        X = sg.data.load_categories(args.data)
    except sg.data.DataFileError as e:
        p.error(str(e))                       # exits 2 with the message (it names the file)
    sizes = tuple(int(m) + 1 for m in X.max(0))           # values per feature, from the data
    n_test = max(1, len(X) // 5)
    train, test = X[:-n_test], X[-n_test:]
    K = math.prod(sizes)
    print(f"--data {args.data}: {len(X)} rows of {len(sizes)} features with {sizes} values "
          f"({K:,} combinations); {len(train)} for training, the last {n_test} held out")
    models = [(name, make) for name, make in MODELS if K <= MAX_CELLS or name == NB]
    if len(models) < len(MODELS):
        print(f"  (the full joint table is skipped: {K:,} cells > {MAX_CELLS:,})")
    seen = {tuple(r) for r in train}
    print('| model | free params | held-out LL / sample | held-out rows unseen in training |\n'
          '|---|---:|---:|---:|')
    numbers, fitted = {}, {}
    for name, make in models:
        model = fitted[name] = make(sizes).fit(train)
        ll = model.log_prob(sg.tensor(test, device=args.device)).numpy().astype(np.float64)
        numbers[name] = dict(free_parameters=model.n_free_parameters(), LL=ll.mean())
        shown = '−∞' if ll.mean() == -np.inf else f"{ll.mean():.3f}".replace('-', '−')
        print(f"| {name} | {model.n_free_parameters()} | {shown} | "
              f"{sum(tuple(r) not in seen for r in test)} / {n_test} |")
    sg.manual_seed(args.seed)
    samples = fitted[NB].sample(1000, device=args.device).numpy()
    fig = new_figure(2.6 * min(len(sizes), 6), 2.4 * -(-len(sizes) // 6))
    for k, ax in enumerate(fig.subplots(-(-len(sizes) // 6), min(len(sizes), 6),
                                        squeeze=False).ravel()):
        if k >= len(sizes):
            ax.set_axis_off()
            continue
        values = np.arange(sizes[k])
        ax.bar(values - 0.2, np.bincount(train[:, k], minlength=sizes[k]) / len(train), 0.4,
               label='training rows')
        ax.bar(values + 0.2, np.bincount(samples[:, k], minlength=sizes[k]) / len(samples),
               0.4, label='naive Bayes samples')
        ax.set_title(f"feature {k}", fontsize=9)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle(f"{args.data}: per-feature frequencies, data and 1,000 samples", fontsize=10)
    path = f"{out}/naive_bayes_data.png"
    save(fig, path)
    print(f"wrote {path}")
    return dict(data=args.data, rows=len(X), n_categories=sizes, n_test=n_test,
                models=numbers), samples


def main():
    p = parser(__doc__.splitlines()[0], 'out/naive_bayes',
               data='your own categorical rows instead of the avatars: a .npy of non-negative '
                    'integers (N, d), feature k of row i in column k')
    args = p.parse_args()
    out = ensure_out(args.out)
    t0 = time.time()
    if args.data:
        numbers, samples = user_data(args, p, out)
        write_results(out, dict(numbers, seed=args.seed, seconds=time.time() - t0), samples)
        return
    true = avatar_joint()
    seeds = list(range(args.seed, args.seed + (2 if args.quick else 5)))
    n_test = 2000 if args.quick else 10000
    print(f"avatars: 5 features, {true.size} combinations; seeds {seeds}; {n_test} held-out "
          f"avatars per seed; device {args.device}; mean ± std over seeds")
    tables = feature_table(args, true, seeds, n_test)
    cat, gauss, images, pixels = pixel_models(args, 500 if args.quick else 5000, args.device)
    samples, new = figures(args, out, true, cat, gauss, images, args.device)
    print(f"naive Bayes samples in the figure: {new} of 10 are combinations never seen in "
          f"training")
    seconds = time.time() - t0
    print(f"done in {seconds:.1f}s")
    write_results(out, dict(seed=args.seed, seeds=seeds, quick=args.quick, n_test=n_test,
                            features=tables, pixels=pixels, figure_new_samples=new,
                            seconds=seconds), samples)


if __name__ == '__main__':
    main()
