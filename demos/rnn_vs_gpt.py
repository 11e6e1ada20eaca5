"""Character LSTM vs tiny GPT at equal size and CPU time; loss vs distance to the evidence.

    OMP_NUM_THREADS=1 python demos/rnn_vs_gpt.py              # stdlib sources (as gpt_char.py)
    python demos/rnn_vs_gpt.py --data my_text.txt             # any UTF-8 text file
    python demos/rnn_vs_gpt.py --quick                        # seconds; smoke run

Part 1, language modelling. The corpus, the 90/10 split, the baselines and the
validation measure are gpt_char.py's: nats per character over consecutive windows of
block_size characters, each window read from a fresh state (the GPT cannot see
further back; the LSTM is scored the same way, and also once with its state carried
across the whole validation text, which only a recurrent model can do). The GPT is
gpt_char.py's default (block 64, 4 layers, 4 heads, 128 features); the LSTM (2
layers, 64-dim embeddings) gets the hidden size that brings its parameter count
closest to the GPT's. Both are trained on the same random windows with the same
optimiser for the same budget of **process CPU seconds** (``--budget``), not wall
seconds: on a shared machine wall time counts the other processes too. Run with
OMP_NUM_THREADS=1 so that CPU time is one core's.

Part 2, the distance probe. A synthetic text of bracketed runs, e.g. ``[qhzk] (ab) <...>``:
an opener from ``( [ { <``, k random letters (k log-uniform in 1..block-4), the matching
closer, a space. The closer is the one character in the run that needs evidence from
far back: which of the four brackets was opened k + 1 characters earlier. A small GPT
and a matched LSTM are trained on it (same budget each, ``--probe-budget``); then, on
fresh runs with k from 1 to twice the block size, the probe measures at the closing
position the loss of the right closer among the four closers (ln 4 = 1.386 nats is
chance) and how often it is the most likely of them. The GPT reads the last block_size
characters (beyond k = block - 1 the opener is outside its window); the LSTM reads the
whole text.

Part 1 also measures the same thing on real text: the loss on each closing ) ] } of
the validation text whose opener a bracket stack finds, grouped by the distance k to
that opener, for both models reading the block_size characters before it and for the
LSTM with its state carried.

Writes rnn_vs_gpt_loss.png (validation loss against training CPU time),
rnn_vs_gpt_text_distance.png (closing brackets of the validation text by k),
rnn_vs_gpt_distance.png (the probe curve), OUT/metrics.json (every number printed) and
OUT/samples.npz (``text``: each model's samples; ``probe_k`` and the probe curves).
Results and discussion: docs/rnn.md.
"""
import math
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results
from gpt_char import MIN_CHARS, baselines, token_ids, val_nats

import scratchgen as sg
from scratchgen import nn
from scratchgen.data import CharTokenizer
from scratchgen.models.gpt import GPT, GPTConfig
from scratchgen.models.rnn_lm import CharLSTM, CharLSTMConfig
from scratchgen.optim import clip_grad_norm_, warmup_cosine
from scratchgen.viz import new_figure, save

OPEN, CLOSE = '([{<', ')]}>'
LETTERS = 'abcdefghijklmnopqrstuvwxyz'
PROBE_LR = 3e-3


# ----------------------------------------------------------------------------- models
def matched_lstm(vocab, target_params, n_embd=64, num_layers=2):
    """The CharLSTMConfig whose parameter count is closest to ``target_params``."""
    best = min(range(8, 1025), key=lambda H: abs(CharLSTMConfig.parameter_count(
        vocab, n_embd, H, num_layers) - target_params))
    return CharLSTMConfig(vocab_size=vocab, n_embd=n_embd, hidden_size=best,
                          num_layers=num_layers)


def windows(ids, T, B, rng, device, scored=None):
    """A batch of B random windows of T + 1 characters -> (inputs, next characters).
    ``scored``: token ids; other targets become -1 (left out of the loss)."""
    starts = rng.integers(0, len(ids) - T - 1, B)
    rows = starts[:, None] + np.arange(T + 1)
    y = ids[rows[:, 1:]]
    if scored is not None:
        y = np.where(np.isin(y, scored), y, -1)
    return sg.tensor(ids[rows[:, :-1]], device=device), sg.tensor(y, device=device)


def train(name, model, ids, T, B, budget, seed, device, lr=2e-3, evaluate=None, n_evals=6,
          scored=None):
    """Train ``model`` (GPT or CharLSTM: ``model(x, y)[1]`` is the loss) on random
    windows of ``ids`` for ``budget`` process-CPU seconds. The number of steps that fits
    is estimated first from three timed forward/backward passes (no update); then
    AdamW (weight decay 0.1 on matrices), warmup + cosine schedule, gradient clipping
    at 1. ``evaluate(model)`` runs ``n_evals`` times; its CPU time is not counted.
    ``scored``: only targets with these ids count in the loss.
    Returns a dict of the steps, CPU seconds, losses and evaluations."""
    rng = np.random.default_rng(seed)                      # the same batches for each model
    x, y = windows(ids, T, B, rng, device, scored)
    t0 = time.process_time()
    for _ in range(3):
        model(x, y)[1].backward()
    per_step = (time.process_time() - t0) / 3
    model.zero_grad()
    steps = max(2, int(budget / per_step))
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=lr)
    sched = warmup_cosine(opt, warmup_steps=min(100, steps // 10), total_steps=steps)
    print(f"{name}: {model.num_parameters():,} parameters; {per_step * 1e3:.0f} CPU-ms per "
          f"step measured, so {steps} steps of {B} x {T} characters fit {budget:g} CPU-s")
    rng = np.random.default_rng(seed)
    losses, evals = [], dict(step=[], cpu_s=[], val=[])
    progress = Progress(steps, name, every=1)
    cpu = 0.0
    for step in range(1, steps + 1):
        t = time.process_time()
        x, y = windows(ids, T, B, rng, device, scored)
        loss = model(x, y)[1]
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        cpu += time.process_time() - t
        losses.append(loss.item())
        if evaluate is not None and (step % max(1, steps // n_evals) == 0 or step == steps):
            v = evaluate(model)
            evals['step'].append(step)
            evals['cpu_s'].append(cpu)
            evals['val'].append(v)
            progress(step, train=float(np.mean(losses[-50:])), val=v)
    return dict(steps=steps, cpu_s=cpu, ms_per_step=1e3 * cpu / steps, losses=losses,
                evals=evals, params=model.num_parameters())


def carried_state_nats(model, val, T, device, streams=16):
    """The LSTM's validation nats/char with its state carried: the text is cut into
    ``streams`` contiguous pieces read side by side, T characters per call, each call
    continuing from the state the previous one left (only each piece's first
    characters are read cold). Returns (mean nats, nats of each character val[j + 1]
    predicted at position j, NaN where not scored)."""
    streams = max(1, min(streams, (len(val) - 1) // T))    # a short text: fewer pieces
    n = (len(val) - 1) // (streams * T) * T               # characters per stream
    xs = val[:streams * n].reshape(streams, n)
    ys = val[1:streams * n + 1].reshape(streams, n)
    nll = np.full(len(val) - 1, np.nan)
    state = None
    with nn.evaluating(model), sg.no_grad():
        for i in range(0, n, T):
            logits, _, state = model(sg.tensor(xs[:, i:i + T], device=device), state=state)
            logp = log_softmax(logits.numpy())
            picked = -np.take_along_axis(logp, ys[:, i:i + T, None], -1)[..., 0]
            for s in range(streams):
                nll[s * n + i:s * n + i + T] = picked[s]
    return float(np.nanmean(nll)), nll


def log_softmax(logits):
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- distance in text
BINS = (1, 3, 5, 9, 17, 33, 65, 129, 10 ** 9)      # k in [1, 2], [3, 4], [5, 8], ...


def matched_closers(text):
    """(index of each closing ) ] } whose opener is found by a bracket stack, its
    distance k to that opener). Brackets inside strings and comments count too, and a
    mismatched closer empties the stack: a rough parse, good enough to find distances."""
    pairs, stack = {')': '(', ']': '[', '}': '{'}, []
    where, ks = [], []
    for i, ch in enumerate(text):
        if ch in '([{':
            stack.append((ch, i))
        elif ch in pairs:
            if stack and stack[-1][0] == pairs[ch]:
                where.append(i)
                ks.append(i - stack.pop()[1])
            else:
                stack.clear()
    return np.array(where, dtype=np.int64), np.array(ks, dtype=np.int64)


@sg.no_grad()
def text_distance_curve(models, val, val_text, T, device, lstm_carried_nll, batch=64):
    """Loss on each matched closing bracket of the validation text, by distance k to its
    opener, for each model reading the T characters before it (opener visible iff
    k <= T), and for the LSTM with its state carried across the text."""
    where, ks = matched_closers(val_text)
    keep = where >= T
    where, ks = where[keep], ks[keep]
    rows = where[:, None] + np.arange(-T, 0)                 # the T characters before
    curves = {}
    for name, model in models.items():
        nll = [np.zeros(0)]                                  # (a text may have no brackets)
        with nn.evaluating(model):
            for i in range(0, len(where), batch):
                logits = model(sg.tensor(val[rows[i:i + batch]], device=device))[0].numpy()
                logp = log_softmax(logits[:, -1, :])
                nll.append(-logp[np.arange(len(logp)), val[where[i:i + batch]]])
        curves[f"{name}, last {T} characters"] = np.concatenate(nll)
    curves['LSTM, state carried'] = lstm_carried_nll[where - 1]
    out = dict(bins=[f"{lo}-{hi - 1}" if hi < 10 ** 9 else f">={lo}"
                     for lo, hi in zip(BINS[:-1], BINS[1:])], count=[], curves={})
    which = np.digitize(ks, BINS) - 1
    out['count'] = [int((which == b).sum()) for b in range(len(BINS) - 1)]
    for name, nll in curves.items():
        out['curves'][name] = [float(np.nanmean(nll[which == b])) if (which == b).any()
                               and np.isfinite(nll[which == b]).any() else math.nan
                               for b in range(len(BINS) - 1)]
    return out


def samples_of(model, tok, device, n_chars, seed):
    sg.manual_seed(seed)
    texts, tokens = [], []
    for prompt in ('def ', 'class '):
        ids = sg.tensor(np.array([tok.encode(prompt)]), device=device)
        out = model.generate(ids, n_chars, temperature=0.8).numpy()[0]
        tokens.append(out)
        texts.append(tok.decode(out))
    return texts, tokens


# ----------------------------------------------------------------------------- probe
def bracket_runs(n_runs, max_k, rng, k=None):
    """Text of ``n_runs`` runs 'opener, k random letters, closer, space' and, per run,
    the index of its closer, its k and its bracket type. Unless given, k is
    log-uniform in 1..max_k (short runs are common, so the closers that teach the
    mechanism are frequent; long ones still fill most of the text)."""
    parts, closers, ks, kinds, pos = [], [], [], [], 0
    for _ in range(n_runs):
        kind = int(rng.integers(4))
        kk = int(np.exp(rng.uniform(0, np.log(max_k + 1)))) if k is None else k
        run = OPEN[kind] + ''.join(rng.choice(list(LETTERS), kk)) + CLOSE[kind] + ' '
        closers.append(pos + kk + 1)
        ks.append(kk)
        kinds.append(kind)
        parts.append(run)
        pos += len(run)
    return ''.join(parts), np.array(closers), np.array(ks), np.array(kinds)


@sg.no_grad()
def closer_scores(model, tok, block, k, n, rng, device, is_gpt):
    """For ``n`` fresh texts ending in a run with this k: (mean nats of the right closer
    among the four closers, fraction where it is the most likely of them, mean nats of
    the right closer among all characters)."""
    close_ids = np.array(tok.encode(CLOSE))
    rows, kinds = [], []
    for _ in range(n):
        # the last ``block`` characters of a few earlier runs (it may start mid-run, as
        # the training windows do), then the run to close: every row has one length
        before = bracket_runs(40, block - 4, rng)[0][-block:]
        run, _, _, kind = bracket_runs(1, 0, rng, k=k)
        ids = tok.encode(before + run)[:-2]                  # up to just before the closer
        rows.append(ids[-block:] if is_gpt else ids)
        kinds.append(int(kind[0]))
    x, kinds = np.array(rows), np.array(kinds)
    with nn.evaluating(model):
        logits = model(sg.tensor(x, device=device))[0].numpy()[:, -1, :]
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    among = logp[:, close_ids]
    among = among - np.logaddexp.reduce(among, axis=-1, keepdims=True)
    i = np.arange(n)
    return (float(-among[i, kinds].mean()), float((among.argmax(-1) == kinds).mean()),
            float(-logp[i, close_ids[kinds]].mean()))


def distance_probe(args, device, quick):
    """Train a small GPT and a matched LSTM on bracket runs; the closer's loss vs k."""
    rng = np.random.default_rng(args.seed + 1)
    block = 32 if quick else 64
    text, _, _, _ = bracket_runs(800 if quick else 8000, block - 4, rng)
    tok = CharTokenizer().fit([text, OPEN + CLOSE + LETTERS + ' '])
    ids = np.array(tok.encode(text), dtype=np.int64)
    V = tok.vocab_size
    print(f"\nprobe corpus: {len(ids):,} characters of bracket runs, k log-uniform in "
          f"1..{block - 4}")
    gcfg = GPTConfig(vocab_size=V, block_size=block, n_layer=2, n_head=2,
                     n_embd=16 if quick else 64)
    sg.manual_seed(args.seed)
    gpt = GPT(gcfg, device=device)
    sg.manual_seed(args.seed)
    lstm = CharLSTM(matched_lstm(V, gpt.num_parameters(), n_embd=16 if quick else 32,
                                 num_layers=1), device=device)
    budget = args.probe_budget if args.probe_budget is not None else (2 if quick else 60)
    # trained on the whole text but scored on the closers only, so that all of the small
    # budget goes into the memory the probe measures (the letters are noise anyway)
    close_ids = np.array(tok.encode(CLOSE))
    runs = {name: train(f"probe {name}", model, ids, block, 16, budget, args.seed, device,
                        lr=PROBE_LR, scored=close_ids)
            for name, model in (('GPT', gpt), ('LSTM', lstm))}
    ks = [1, 4, 16, 30] if quick else [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 60, 64, 72, 96, 128]
    n = 16 if quick else 200
    curves = {}
    for name, model in (('GPT', gpt), ('LSTM', lstm)):
        rows = [closer_scores(model, tok, block, k, n, np.random.default_rng(args.seed + 7 + k),
                              device, name == 'GPT') for k in ks]
        curves[name] = dict(nats_among_closers=[r[0] for r in rows],
                            accuracy=[r[1] for r in rows], nats=[r[2] for r in rows])
        print(f"  {name}: closer nats (among the 4 closers) by k: " +
              ', '.join(f"{k}: {r[0]:.2f}" for k, r in zip(ks, rows)))
    return dict(block=block, train_k_max=block - 4, ks=ks, n_per_k=n, budget_cpu_s=budget,
                chance_nats=math.log(4),
                models={name: dict(params=r['params'], steps=r['steps'], cpu_s=r['cpu_s'],
                                   ms_per_step=r['ms_per_step'],
                                   final_train_loss=float(np.mean(r['losses'][-50:])),
                                   **curves[name]) for name, r in runs.items()},
                lstm_hidden=lstm.config.hidden_size)


# ----------------------------------------------------------------------------- figures
def loss_figure(runs, base, path, title):
    fig = new_figure(7, 4.2)
    ax = fig.subplots()
    for (name, r), color in zip(runs.items(), ('C1', 'C0')):
        e = r['evals']
        ax.plot(e['cpu_s'], e['val'], 'o-', color=color,
                label=f"{name} ({r['params']:,} parameters, {r['ms_per_step']:.0f} ms/step)")
    if 'LSTM' in runs and 'carried_state' in runs['LSTM']:
        ax.plot(runs['LSTM']['evals']['cpu_s'][-1], runs['LSTM']['carried_state'], 's',
                color='C0', mfc='none', ms=9, label='LSTM, state carried across the text')
    for name, color in (('unigram', 'C2'), ('bigram', 'C3')):
        ax.axhline(base[name], color=color, ls='--', label=f"{name} baseline ({base[name]:.2f})")
    ax.set_xlabel('training time (process CPU seconds, one core)')
    ax.set_ylabel('validation nats per character')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    save(fig, path)


def distance_figure(probe, path, title):
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2)
    ks = probe['ks']
    for name, color in (('GPT', 'C1'), ('LSTM', 'C0')):
        m = probe['models'][name]
        axes[0].plot(ks, m['nats_among_closers'], 'o-', color=color, label=name)
        axes[1].plot(ks, m['accuracy'], 'o-', color=color, label=name)
    axes[0].axhline(probe['chance_nats'], color='C7', ls='--', label='chance (ln 4)')
    axes[1].axhline(0.25, color='C7', ls='--', label='chance (1/4)')
    for ax, ylabel in zip(axes, ('nats of the right closer among the four',
                                 'right closer is the most likely of the four')):
        ax.axvline(probe['block'] - 1, color='C1', ls=':', lw=1.5,
                   label=f"k = {probe['block'] - 1}: opener leaves the GPT's window")
        ax.axvline(probe['train_k_max'], color='k', ls=':', lw=1,
                   label=f"k = {probe['train_k_max']}: longest k in training")
        ax.set_xscale('log', base=2)
        ax.set_xlabel('k: letters between opener and closer')
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def text_distance_figure(in_text, T, path, title):
    fig = new_figure(7, 4.2)
    ax = fig.subplots()
    x = np.arange(len(in_text['bins']))
    for (name, c), color, style in zip(in_text['curves'].items(), ('C1', 'C0', 'C0'),
                                       ('o-', 'o-', 's--')):
        ax.plot(x, c, style, color=color, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b}\n({n})" for b, n in zip(in_text['bins'], in_text['count'])],
                       fontsize=7)
    ax.axvline(np.searchsorted(BINS, T + 1) - 0.5, color='C1', ls=':',
               label=f"k > {T}: opener outside the {T}-character window")
    ax.set_xlabel('k: characters from the opener to the closer (how many closers)')
    ax.set_ylabel('mean nats on the closing character')
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    save(fig, path)


# ----------------------------------------------------------------------------- main
def main():
    p = parser(__doc__.splitlines()[0], 'out/rnn_vs_gpt',
               data=f"a UTF-8 text file to model instead of the stdlib sources (at least "
                    f"{MIN_CHARS:,} characters; the last 10%% is held out)")
    p.add_argument('--budget', type=float, default=None,
                   help='training budget per model in process CPU seconds (default 180)')
    p.add_argument('--probe-budget', type=float, default=None,
                   help='CPU seconds per model for the distance probe (default 60)')
    p.add_argument('--batch-size', type=int, default=16)
    args = p.parse_args()
    out = ensure_out(args.out)
    t_start = time.process_time()

    train_ids, val, tok, what = token_ids(args.data, p, args.quick)
    val_text = tok.decode(val)          # the fitted tokenizer is lossless
    V = tok.vocab_size
    print(f"corpus: {what}\n  {len(train_ids):,} training and {len(val):,} validation "
          f"characters, vocabulary {V}")
    base = baselines(train_ids, val, V)

    if args.quick:
        gcfg = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32)
        budget = args.budget or 3
    else:
        gcfg = GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128)
        budget = args.budget or 180
    T, B = gcfg.block_size, args.batch_size
    sg.manual_seed(args.seed)
    gpt = GPT(gcfg, device=args.device)
    sg.manual_seed(args.seed)
    lcfg = matched_lstm(V, gpt.num_parameters(), n_embd=16 if args.quick else 64)
    lstm = CharLSTM(lcfg, device=args.device)
    print(f"GPT: {gcfg}\nLSTM: {lcfg}")

    def evaluate(model):
        return val_nats(model, val, T, args.device)

    runs = {}
    for name, model in (('GPT', gpt), ('LSTM', lstm)):
        runs[name] = train(name, model, train_ids, T, B, budget, args.seed, args.device,
                           evaluate=evaluate)
    runs['LSTM']['carried_state'], carried_nll = carried_state_nats(lstm, val, T, args.device)
    in_text = text_distance_curve({'GPT': gpt, 'LSTM': lstm}, val, val_text, T, args.device,
                                  carried_nll)
    n_chars = 60 if args.quick else 300
    texts = {}
    for name, model in (('GPT', gpt), ('LSTM', lstm)):
        texts[name], _ = samples_of(model, tok, args.device, n_chars, args.seed)
    print(f"\nvalidation nats/char after {budget:g} CPU-s each (windows of {T}, fresh state):")
    for name, r in runs.items():
        print(f"  {name:5s} {r['evals']['val'][-1]:.3f}  ({r['params']:,} parameters, "
              f"{r['steps']} steps, {r['ms_per_step']:.0f} CPU-ms per step)")
    print(f"  LSTM with its state carried across the text: {runs['LSTM']['carried_state']:.3f}")
    print(f"  bigram {base['bigram']:.3f} | unigram {base['unigram']:.3f} | uniform "
          f"{base['uniform']:.3f}")
    for name in texts:
        for prompt_text in texts[name]:
            print(f"\n--- {name} sample (temperature 0.8) ---\n{prompt_text}")
    print(f"\nloss on a closing ) ] }} of the validation text by distance k to its opener "
          f"(count: {dict(zip(in_text['bins'], in_text['count']))}):")
    for name, c in in_text['curves'].items():
        print(f"  {name:26s} " + '  '.join(f"{v:.2f}" for v in c))
    loss_figure(runs, base, f"{out}/rnn_vs_gpt_loss.png",
                f"char-level GPT vs LSTM, {budget:g} CPU-s each (seed {args.seed})")
    text_distance_figure(in_text, T, f"{out}/rnn_vs_gpt_text_distance.png",
                         f"closing brackets in the validation text, by distance to the opener "
                         f"(seed {args.seed})")

    probe = distance_probe(args, args.device, args.quick)
    distance_figure(probe, f"{out}/rnn_vs_gpt_distance.png",
                    f"closing a bracket opened k letters earlier: GPT (block {probe['block']}) "
                    f"vs LSTM, {probe['budget_cpu_s']:g} CPU-s each (seed {args.seed})")
    print(f"\nfigures in {out}/ (total CPU {time.process_time() - t_start:.0f} s)")

    lm = {name: dict(params=r['params'], steps=r['steps'], train_cpu_s=r['cpu_s'],
                     ms_per_step=r['ms_per_step'], val_nats=r['evals']['val'][-1],
                     val_bits=r['evals']['val'][-1] / math.log(2), val_curve=r['evals'],
                     samples=texts[name]) for name, r in runs.items()}
    lm['LSTM']['val_nats_carried_state'] = runs['LSTM']['carried_state']
    lm['LSTM']['config'] = vars(lcfg)
    lm['GPT']['config'] = vars(gcfg)
    write_results(out, dict(seed=args.seed, quick=args.quick, corpus=what, vocab=V,
                            train_chars=len(train_ids), val_chars=len(val), budget_cpu_s=budget,
                            batch_size=B, block_size=T, baselines=base, models=lm,
                            text_distance=in_text, distance_probe=probe),
                  {'text': np.array([t for name in texts for t in texts[name]]),
                   'probe_k': np.array(probe['ks']),
                   **{f"probe_{name.lower()}_nats": np.array(m['nats_among_closers'])
                      for name, m in probe['models'].items()}})


if __name__ == '__main__':
    main()
