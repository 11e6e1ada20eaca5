"""A character-level GPT language model, measured in nats per character against baselines.

    python demos/gpt_char.py                       # Python's own standard library as the text
    python demos/gpt_char.py --data my_text.txt    # any UTF-8 text file
    python demos/gpt_char.py --quick               # seconds; smoke run

The default corpus is a few modules of the Python standard library (read from
``os.path.dirname(os.__file__)``), present on every machine that runs this script, so
nothing is downloaded. The last 10% of each file is held out for validation.

Reported on the validation text, in nats per character (lower is better):
uniform over the vocabulary (ln V), a unigram and a bigram model (character counts
with add-alpha smoothing, alpha picked on a slice of the training text), and the GPT
(every position of consecutive block_size windows). Prints samples, and writes
gpt_char_loss.png (training and validation loss with the baselines), every number
printed in OUT/metrics.json and the generated text in OUT/samples.npz (``text``, and
the token ids ``tokens_<i>`` of each prompt's continuation).
Results and discussion: docs/transformer.md.
"""
import math
import os
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen.data import CharTokenizer
from scratchgen import nn
from scratchgen.models.gpt import GPT, GPTConfig
from scratchgen.optim import clip_grad_norm_, warmup_cosine
from scratchgen.viz import moving_average, new_figure, save

STDLIB_FILES = ('argparse.py', 'dataclasses.py', 'functools.py', 'statistics.py', 'random.py',
                'fractions.py', 'calendar.py', 'textwrap.py', 'heapq.py', 'string.py')


MIN_CHARS = 1000     # a --data file must hold this many characters (10% is held out)


def load_corpus(path, p):
    """(train text, validation text, description): the last 10% of each file is held out."""
    if path:
        try:
            texts = [sg.data.load_text(path, min_chars=MIN_CHARS)]
        except sg.data.DataFileError as e:
            p.error(str(e))                   # exits 2 with the message (it names the file)
    else:
        folder = os.path.dirname(os.__file__)
        files = [os.path.join(folder, f) for f in STDLIB_FILES
                 if os.path.exists(os.path.join(folder, f))]
        if not files:
            raise SystemExit(f"no standard-library sources found in {folder}; pass --data")
        texts = []
        for f in files:
            with open(f, encoding='utf-8', errors='replace') as fh:
                texts.append(fh.read())
    train, val = [], []
    for text in texts:
        cut = int(len(text) * 0.9)
        train.append(text[:cut])
        val.append(text[cut:])
    what = path or f"{len(texts)} stdlib modules ({', '.join(os.path.basename(f) for f in files)})"
    return '\n'.join(train), '\n'.join(val), what


# ----------------------------------------------------------------------------- baselines
def ngram_nats(train, val, V, order, alpha):
    """Mean -log p(val char | previous order-1 chars) of an add-alpha n-gram (order 1, 2)."""
    if order == 1:
        counts = np.bincount(train, minlength=V) + alpha
        return float(-np.log(counts[val] / counts.sum()).mean())
    counts = np.full((V, V), alpha)
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    probs = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(probs[val[:-1], val[1:]]).mean())


def token_ids(path, p, quick=False):
    """(train ids, validation ids, tokenizer, description) of the corpus (load_corpus),
    characters as int64 ids; quick keeps the first 50,000 / 5,000 characters."""
    train_text, val_text, what = load_corpus(path, p)
    if quick:
        train_text, val_text = train_text[:50_000], val_text[:5_000]
    tok = CharTokenizer().fit([train_text, val_text])
    return (np.array(tok.encode(train_text), dtype=np.int64),
            np.array(tok.encode(val_text), dtype=np.int64), tok, what)


def baselines(train, val, V):
    """Uniform, unigram and bigram nats/char on ``val``; alpha chosen on the last 10%
    of ``train`` from counts of the rest, then refitted on all of ``train``."""
    cut = int(len(train) * 0.9)
    out = {'uniform': math.log(V)}
    for order, name in ((1, 'unigram'), (2, 'bigram')):
        alphas = (3.0, 1.0, 0.3, 0.1, 0.03, 0.01)
        best = min(alphas, key=lambda a: ngram_nats(train[:cut], train[cut:], V, order, a))
        out[name] = ngram_nats(train, val, V, order, best)
        out[name + '_alpha'] = best
    return out


# ----------------------------------------------------------------------------- GPT
def val_nats(model, val, block, device, batch=32):
    """Mean next-char cross-entropy over consecutive windows of block + 1 characters."""
    n = (len(val) - 1) // block
    windows = val[:n * block + 1]
    x_all = windows[:-1].reshape(n, block)
    y_all = windows[1:].reshape(n, block)
    total = 0.0
    with nn.evaluating(model), sg.no_grad():
        for i in range(0, n, batch):
            x = sg.tensor(x_all[i:i + batch], device=device)
            y = sg.tensor(y_all[i:i + batch], device=device)
            total += model(x, y)[1].item() * len(x)
    return total / n


def train_gpt(model, opt, sched, train, val, steps, batch_size, rng, device, label='char'):
    """AdamW steps on random windows of ``train`` (block_size + 1 ids each), gradients
    clipped to norm 1; the validation loss 8 times over the run. Returns (training
    losses, (eval steps, validation nats/char), seconds)."""
    B, T = batch_size, model.config.block_size
    losses, evals = [], ([], [])
    progress = Progress(steps, label)
    t0 = time.time()
    for step in range(1, steps + 1):
        starts = rng.integers(0, len(train) - T - 1, B)
        rows = starts[:, None] + np.arange(T + 1)
        x = sg.tensor(train[rows[:, :-1]], device=device)
        y = sg.tensor(train[rows[:, 1:]], device=device)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        metrics = dict(train=float(np.mean(losses[-50:])))
        if step % max(1, steps // 8) == 0 or step == steps:
            v = val_nats(model, val, T, device)
            evals[0].append(step)
            evals[1].append(v)
        progress(step, **metrics, val=evals[1][-1] if evals[1] else float('nan'))
    return losses, evals, time.time() - t0


def loss_figure(steps, train_losses, evals, base, path, title):
    fig = new_figure(7, 4.2)
    ax = fig.subplots()
    s = np.arange(1, len(train_losses) + 1)
    ax.plot(s, train_losses, color='C0', alpha=0.25)
    ax.plot(s, moving_average(np.array(train_losses), max(1, len(s) // 40)), color='C0',
            label='GPT train (batch loss)')
    ax.plot(evals[0], evals[1], 'o-', color='C1', label='GPT validation')
    for name, color in (('uniform', 'C7'), ('unigram', 'C2'), ('bigram', 'C3')):
        ax.axhline(base[name], color=color, ls='--', label=f"{name} baseline ({base[name]:.2f})")
    ax.set_xlabel('training step')
    ax.set_ylabel('nats per character')
    ax.set_ylim(0, base['uniform'] * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    save(fig, path)


def main():
    p = parser(__doc__.splitlines()[0], 'out/gpt_char',
               data=f"a UTF-8 text file to model instead of the stdlib sources (at least "
                    f"{MIN_CHARS:,} characters; the last 10%% is held out)")
    p.add_argument('--steps', type=int, default=None, help='training steps (default 2000)')
    p.add_argument('--batch-size', type=int, default=16)
    args = p.parse_args()
    out = ensure_out(args.out)
    sg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    train, val, tok, what = token_ids(args.data, p, args.quick)
    V = tok.vocab_size
    print(f"corpus: {what}\n  {len(train):,} training and {len(val):,} validation characters, "
          f"vocabulary {V}")
    base = baselines(train, val, V)
    print(f"baselines on validation (nats/char): uniform {base['uniform']:.3f}, unigram "
          f"{base['unigram']:.3f} (alpha {base['unigram_alpha']}), bigram {base['bigram']:.3f} "
          f"(alpha {base['bigram_alpha']})")

    if args.quick:
        config = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32)
        steps = args.steps or 30
    else:
        config = GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128)
        steps = args.steps or 2000
    B, T = args.batch_size, config.block_size
    model = GPT(config, device=args.device)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=2e-3)
    sched = warmup_cosine(opt, warmup_steps=min(100, steps // 10), total_steps=steps)
    print(f"GPT: {config}\n  {model.num_parameters():,} parameters; {steps} steps of "
          f"{B} x {T} characters")

    losses, evals, train_time = train_gpt(model, opt, sched, train, val, steps, B, rng,
                                          args.device)
    final = evals[1][-1]

    print(f"\nvalidation nats/char: GPT {final:.3f} | bigram {base['bigram']:.3f} | unigram "
          f"{base['unigram']:.3f} | uniform {base['uniform']:.3f}   ({final / math.log(2):.3f} "
          f"bits/char; trained {train_time:.0f} s)")
    sg.manual_seed(args.seed)
    samples = {}
    for i, prompt in enumerate(('def ', 'class ')):
        ids = sg.tensor(np.array([tok.encode(prompt)]), device=args.device)
        sample = model.generate(ids, 60 if args.quick else 400, temperature=0.8).numpy()[0]
        samples[f'tokens_{i}'] = sample
        samples.setdefault('text', []).append(tok.decode(sample))
        print(f"\n--- sample (prompt {prompt!r}, temperature 0.8) ---\n{samples['text'][-1]}")
    loss_figure(steps, losses, evals, base, f"{out}/gpt_char_loss.png",
                f"char-level GPT, {model.num_parameters():,} parameters (seed {args.seed}): "
                f"validation {final:.3f} nats/char")
    print(f"\nfigure in {out}/")
    write_results(out, dict(seed=args.seed, quick=args.quick, corpus=what, train_chars=len(train),
                            val_chars=len(val), vocab=V, params=model.num_parameters(),
                            steps=steps, train_time=train_time, val_nats=final,
                            val_bits=final / math.log(2), baselines=base,
                            val_curve=dict(step=evals[0], nats=evals[1])),
                  {**samples, 'text': np.array(samples['text'])})


if __name__ == '__main__':
    main()
