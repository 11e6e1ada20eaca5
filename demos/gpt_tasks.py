"""A tiny GPT learns to sort digits and to add numbers, scored on problems it never saw.

    python demos/gpt_tasks.py                  # sorting + 2-digit addition, a few CPU minutes each
    python demos/gpt_tasks.py --three-digit    # also 3-digit addition (longer)
    python demos/gpt_tasks.py --quick          # seconds; smoke run

Each task is a set of strings "prompt=answer" (scratchgen.data.tasks): sorting 5 digits
("31402=01234") and k-digit addition ("07+35=240", answer digits least significant
first, the order in which carries can be computed left to right). Train and test
problems are disjoint. The model is trained with next-token cross-entropy on the answer
characters only, then answers every test prompt by greedy decoding with its key/value
cache; a test problem counts only if the whole answer is right (exact match).

Writes gpt_tasks_curves.png (training loss and test exact match per task) and
gpt_attention_<task>.png (each layer's and head's attention for one test input), every
number printed in OUT/metrics.json, and the model's answers to all test prompts in
OUT/samples.npz (token ids ``<task>_tokens``, text ``<task>_text``). No --data: the
tasks are generated, and exact match needs their known answers.
Results and discussion: docs/transformer.md.
"""
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen.data import addition_task, sort_task
from scratchgen.models.gpt import GPT, GPTConfig
from scratchgen.optim import clip_grad_norm_, warmup_cosine
from scratchgen.viz import moving_average, new_figure, save

# name -> (make the task, model size, training steps, quick steps)
TASKS = {
    'sort5': (lambda seed: sort_task(length=5, seed=seed),
              dict(n_layer=2, n_head=4, n_embd=64), 800, 40),
    'add2': (lambda seed: addition_task(2, seed=seed, reverse_answer=True),
             dict(n_layer=2, n_head=4, n_embd=64), 1500, 40),
    'add3': (lambda seed: addition_task(3, n_train=40000, seed=seed, reverse_answer=True),
             dict(n_layer=3, n_head=4, n_embd=96), 3000, 40),
}


def exact_match(model, task, split, device, limit=None):
    """Fraction of ``split`` problems whose greedy answer is entirely right, the first
    8 (prompt, model answer, true answer) triples, and every output (prompt + answer ids)."""
    tokens = task.tokens(split)[:limit]
    P, A = task.prompt_length, task.length - task.prompt_length
    out = model.generate(sg.tensor(tokens[:, :P], device=device), A, greedy=True).numpy()
    right = (out[:, P:] == tokens[:, P:]).all(axis=1)
    dec = task.tokenizer.decode
    examples = [(dec(t[:P]), dec(o[P:]), dec(t[P:])) for t, o in zip(tokens[:8], out[:8])]
    return float(right.mean()), examples, out


def train(name, args, device):
    make, size, steps, quick_steps = TASKS[name]
    task = make(args.seed)
    steps = quick_steps if args.quick else steps
    x_all, y_all, mask = task.xy('train')
    y_all = np.where(mask, y_all, -1)              # score the answer characters only
    config = GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=x_all.shape[1], **size)
    sg.manual_seed(args.seed)
    model = GPT(config, device=device)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3)
    sched = warmup_cosine(opt, warmup_steps=min(100, steps // 10), total_steps=steps)
    rng = np.random.default_rng(args.seed)
    print(f"\n== {name}: {len(task.train)} train / {len(task.test)} test problems, e.g. "
          f"{task.train[0]!r}; {model.num_parameters():,} parameters, {steps} steps of "
          f"batch {args.batch_size}")

    losses, evals = [], ([], [])
    progress = Progress(steps, name, every=1)       # called at each evaluation
    t0 = time.time()
    for step in range(1, steps + 1):
        rows = rng.integers(0, len(x_all), args.batch_size)
        x = sg.tensor(x_all[rows], device=device)
        y = sg.tensor(y_all[rows], device=device)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % max(1, steps // 10) == 0 or step == steps:
            acc, _, _ = exact_match(model, task, 'test', device, limit=300)
            evals[0].append(step)
            evals[1].append(acc)
            progress(step, loss=float(np.mean(losses[-50:])), test_exact_300=acc)
    train_time = time.time() - t0

    test_acc, examples, outputs = exact_match(model, task, 'test', device)
    train_acc, _, _ = exact_match(model, task, 'train', device, limit=len(task.test))
    print(f"{name}: test exact match {test_acc:.2%} ({len(task.test)} held-out problems), "
          f"train {train_acc:.2%}; trained in {train_time:.0f} s")
    for prompt, got, want in examples[:5]:
        print(f"   {prompt}{got}   {'ok' if got == want else 'WRONG, want ' + want}")
    return dict(name=name, task=task, model=model, losses=losses, evals=evals,
                test_acc=test_acc, train_acc=train_acc, time=train_time, steps=steps,
                params=model.num_parameters(), outputs=outputs)


def curves_figure(results, path, title):
    """One row per task: training loss (log scale) and test exact match over training."""
    fig = new_figure(9, 2.6 * len(results) + 0.4)
    axes = fig.subplots(len(results), 2, squeeze=False)
    for (ax_loss, ax_acc), r in zip(axes, results):
        loss = np.maximum(np.array(r['losses']), 1e-6)
        steps = np.arange(1, len(loss) + 1)
        ax_loss.plot(steps, loss, color='C0', alpha=0.25)
        ax_loss.plot(steps, moving_average(loss, max(1, len(loss) // 50)), color='C0')
        ax_loss.set_yscale('log')
        ax_loss.set_title(f"{r['name']}: training loss (nats, answer chars)", fontsize=9)
        ax_acc.plot(r['evals'][0], np.array(r['evals'][1]) * 100, 'o-', color='C1', ms=3)
        ax_acc.axhline(99, color='C7', ls='--', lw=1, label='99%')
        ax_acc.plot([], [], 'o-', color='C1', ms=3, label='300 test problems')
        ax_acc.set_ylim(0, 101)
        ax_acc.set_title(f"{r['name']}: held-out exact match, % (final {r['test_acc']:.1%})",
                         fontsize=9)
        ax_acc.legend(fontsize=8, loc='lower right')
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel('training step', fontsize=8)
            ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def attention_figure(result, device, path):
    """Every layer's and head's attention weights for the first test problem."""
    task, model = result['task'], result['model']
    text = task.test[0]
    ids = sg.tensor(np.array([task.tokenizer.encode(text[:-1])]), device=device)
    maps = [w.numpy()[0] for w in model.attention_maps(ids)]     # n_layer x (H, T, T)
    L, H = len(maps), maps[0].shape[0]
    chars = list(text[:-1])
    fig = new_figure(2.6 * H, 2.7 * L + 0.4)
    axes = fig.subplots(L, H, squeeze=False)
    for layer in range(L):
        for head in range(H):
            ax = axes[layer, head]
            ax.imshow(maps[layer][head], cmap='viridis', vmin=0, vmax=1)
            ax.set_xticks(range(len(chars)), chars, fontsize=7)
            ax.set_yticks(range(len(chars)), chars, fontsize=7)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
            if head == 0:
                ax.set_ylabel('query (predicting the next char)', fontsize=7)
            if layer == L - 1:
                ax.set_xlabel('key (attended position)', fontsize=7)
    fig.suptitle(f"{result['name']}: attention weights for {text!r} "
                 f"(row t: where position t looks)", fontsize=10)
    save(fig, path)
    return path


def main():
    p = parser(__doc__.splitlines()[0], 'out/gpt_tasks')
    p.add_argument('--three-digit', action='store_true', help='also train on 3-digit addition')
    p.add_argument('--batch-size', type=int, default=128)
    args = p.parse_args()
    out = ensure_out(args.out)
    names = ['sort5', 'add2'] + (['add3'] if args.three_digit else [])
    results = [train(name, args, args.device) for name in names]

    curves_figure(results, f"{out}/gpt_tasks_curves.png",
                  f"tiny GPT on procedural tasks (seed {args.seed}, batch {args.batch_size})")
    for r in results:
        attention_figure(r, args.device, f"{out}/gpt_attention_{r['name']}.png")

    print(f"\n{'task':<7} {'params':>8} {'steps':>6} {'train time':>11} {'train exact':>12} "
          f"{'test exact':>11}")
    for r in results:
        print(f"{r['name']:<7} {r['params']:>8,} {r['steps']:>6} {r['time']:>10.0f}s "
              f"{r['train_acc']:>12.2%} {r['test_acc']:>11.2%}")
    print(f"figures in {out}/")
    write_results(out, dict(seed=args.seed, batch_size=args.batch_size, quick=args.quick,
                            tasks={r['name']: {k: r[k] for k in ('params', 'steps', 'time',
                                                                 'train_acc', 'test_acc')}
                                   for r in results}),
                  {**{f"{r['name']}_tokens": r['outputs'] for r in results},
                   **{f"{r['name']}_text": np.array([r['task'].tokenizer.decode(o)
                                                     for o in r['outputs']]) for r in results}})


if __name__ == '__main__':
    main()
