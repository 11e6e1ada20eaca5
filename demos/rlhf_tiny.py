"""ChatGPT's three steps in miniature: SFT, a reward model from rankings, then PPO and DPO.

    python demos/rlhf_tiny.py            # about 8.5 CPU minutes on one core
    python demos/rlhf_tiny.py --quick    # seconds; smoke run

The task: sort five digits ("31402=" -> "01234"). A hidden rule decides which of two
answers is better: the correct one (the prompt's digits in ascending order) beats a
wrong one; two correct or two wrong answers tie. The demonstrations are deliberately
noisy and in a mixed format: half of the writers sorted ascending, half descending
("43210"), and one answer in five has a typo (a digit replaced at random), so the model
after supervised fine-tuning (SFT) is right well under half the time and RL has room
to improve.

1. SFT: a tiny GPT learns the demonstrations (loss on the answer tokens only).
2. Reward models: pairs of candidate answers (demonstrations, SFT samples, and SFT
   samples with one to three digits changed) are ranked, and a ScalarGPT (the SFT
   body with a scalar head) is fitted with the Bradley-Terry loss. Once on the hidden
   rule's rankings (the "true" reward model) and once on a proxy labeller's: one who
   only glances at the ends and prefers the answer that rises more from its first to
   its last digit. On SFT's own answers the two agree (ascending beats descending),
   but the proxy is exploitable: "0xxx9" is its best answer whatever the prompt.
3. Policy optimisation from the SFT model with a KL penalty to it: PPO against the
   true reward model, PPO against the proxy reward model for a sweep of KL
   coefficients (reward hacking and its control), and DPO on the true rankings with
   no reward model.

Measured along training: the hidden rule's win rate of the policy against the SFT
model (one sampled answer each per held-out prompt, ties count half), the share of
correct answers, the reward (of the reward model being optimised, normalised to mean
0 and std 1 on SFT's answers) and the KL from the SFT model (exact per token, summed
over the answer). Writes rlhf_curves.png, rlhf_reward_models.png, rlhf_answers.png,
every number in OUT/metrics.json and every final policy's answers to the held-out
prompts in OUT/samples.npz. No --data: the prompts, demonstrations and rankings are
generated, and the hidden rule must be known to score them.
Results and discussion: docs/rlhf.md.
"""
import time

import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen import functional as F
from scratchgen.data import sort_task
from scratchgen.models.gpt import GPT, GPTConfig
from scratchgen.models.rlhf import (PPOConfig, ScalarGPT, answer_logits, answer_logprobs,
                                    bradley_terry_loss, dpo_loss, gae, kl_penalised_rewards,
                                    ppo_clip_loss, sequence_logprob, sft_loss, token_kl)
from scratchgen.optim import clip_grad_norm_, warmup_cosine
from scratchgen.viz import moving_average, new_figure, save

M = 5                       # digits to sort; prompt "ddddd=" (P = 6), answer A = 5 tokens
P, A = M + 1, M
SIZE = dict(n_layer=2, n_head=4, n_embd=64)


# ----------------------------------------------------------------------------- the rules
def correct(tokens):
    """The hidden rule's quality: 1 where the answer is the prompt's digits ascending."""
    return (tokens[:, P:] == np.sort(tokens[:, :M], axis=1)).all(axis=1).astype(np.float64)


def proxy(tokens):
    """The proxy labeller's quality: last digit minus first digit of the answer."""
    return (tokens[:, -1] - tokens[:, P]).astype(np.float64)


def answer_kind(tokens):
    """0 ascending (correct), 1 descending, 2 any other answer."""
    asc = correct(tokens).astype(bool)
    desc = (tokens[:, P:] == np.sort(tokens[:, :M], axis=1)[:, ::-1]).all(axis=1)
    return np.where(asc, 0, np.where(desc & ~asc, 1, 2))


def win_rate(q_policy, q_sft):
    """P(policy's answer better) + P(tie) / 2 under a quality (higher is better)."""
    return float(np.mean(q_policy > q_sft) + 0.5 * np.mean(q_policy == q_sft))


# ----------------------------------------------------------------------------- helpers
def tensor(a, device):
    return sg.tensor(np.ascontiguousarray(a), device=device)


def sample(model, prompts, device, batch=1000):
    """One sampled answer (temperature 1) per prompt: (n, P) ids -> (n, P + A) ids."""
    outs = [model.generate(tensor(prompts[i:i + batch], device), A).numpy()
            for i in range(0, len(prompts), batch)]
    return np.concatenate(outs)


@sg.no_grad()
def scores(rm, tokens, device, batch=1000):
    """Reward-model scores r(x, y) at the last position, (n,) on the host."""
    return np.concatenate([rm(tensor(tokens[i:i + batch], device)).numpy()[:, -1]
                           for i in range(0, len(tokens), batch)])


@sg.no_grad()
def kl_from(policy, ref, tokens, device):
    """Mean over answers of sum_t KL(pi(. | s_t) || pi_ref(. | s_t))."""
    t = tensor(tokens, device)
    return float(token_kl(answer_logits(policy, t, P), answer_logits(ref, t, P))
                 .numpy().sum(axis=1).mean())


class Evaluator:
    """The measurements of a policy on the held-out prompts, against fixed SFT answers."""

    def __init__(self, sft, prompts, device, reward_models):
        self.sft, self.prompts, self.device = sft, prompts, device
        self.sft_answers = sample(sft, prompts, device)
        self.q_sft = correct(self.sft_answers)
        self.rms = reward_models                      # name -> (model, mean, std)

    def __call__(self, policy):
        toks = sample(policy, self.prompts, self.device)
        q = correct(toks)
        out = dict(win_rate=win_rate(q, self.q_sft), correct=float(q.mean()),
                   proxy_quality=float(proxy(toks).mean()),
                   kl=kl_from(policy, self.sft, toks, self.device))
        for name, (rm, mu, sd) in self.rms.items():
            out[f'reward_{name}'] = float(((scores(rm, toks, self.device) - mu) / sd).mean())
        return out, toks


def eval_points(total):
    """When to measure along a run: densely at the start, where most of the change
    happens, then every total / 12 steps."""
    every = max(1, total // 12)
    dense = set(range(0, min(total, 10) + 1)) | {15, 20, 25, 30, 40, 50}
    return sorted(t for t in dense | set(range(0, total + 1, every)) | {total} if t <= total)


def step(opt, loss, params, sched=None):
    opt.zero_grad()
    loss.backward()
    clip_grad_norm_(params, 1.0)
    opt.step()
    if sched is not None:
        sched.step()


def copy_gpt(model, device):
    twin = GPT(model.config, device=device)
    twin.load_state_dict(model.state_dict())
    return twin


# ----------------------------------------------------------------------------- step 1
def demonstrations(prompts, rng, typo=0.2):
    """Noisy, mixed-format demonstrations: each answer ascending or (half the time)
    descending, and with probability ``typo`` one digit of it replaced by a random one."""
    asc = np.sort(prompts[:, :M], axis=1)
    flip = rng.random(len(prompts)) < 0.5
    answers = np.where(flip[:, None], asc[:, ::-1], asc)
    rows = np.nonzero(rng.random(len(prompts)) < typo)[0]
    answers[rows, rng.integers(0, A, len(rows))] = rng.integers(0, 10, len(rows))
    return np.concatenate([prompts, answers], axis=1), flip


def train_sft(train_prompts, args, rng, device):
    tokens, flip = demonstrations(train_prompts, rng)
    print(f"\n== 1. SFT on {len(tokens)} demonstrations ({flip.mean():.0%} descending, "
          f"{correct(tokens).mean():.0%} correct), e.g. "
          f"{''.join(map(str, tokens[0, :M]))}= -> {''.join(map(str, tokens[0, P:]))}")
    sg.manual_seed(args.seed)
    model = GPT(GPTConfig(vocab_size=11, block_size=P + A, **SIZE), device=device)
    steps = 30 if args.quick else 600
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3)
    sched = warmup_cosine(opt, warmup_steps=max(1, steps // 10), total_steps=steps)
    progress, losses = Progress(steps, 'sft'), []
    for it in range(1, steps + 1):
        rows = rng.integers(0, len(tokens), 128)
        loss = sft_loss(model, tensor(tokens[rows], device), P)
        step(opt, loss, model.parameters(), sched)
        losses.append(loss.item())
        progress(it, loss=float(np.mean(losses[-20:])))
    return model, losses


# ----------------------------------------------------------------------------- step 2
def candidate_pairs(sft, prompts, rng, device):
    """Two candidate answers per prompt, each with probability 1/3 a demonstration
    (ascending or descending), an SFT sample, or an SFT sample with 1-3 digits replaced
    by random ones (so the rankings also cover answers SFT rarely writes)."""
    pair = []
    for _ in range(2):
        toks = sample(sft, prompts, device)
        source = rng.integers(0, 3, len(toks))           # 0 demo, 1 sample, 2 edited
        demos, _ = demonstrations(prompts, rng)
        toks[source == 0] = demos[source == 0]
        for i in np.nonzero(source == 2)[0]:
            pos = rng.choice(A, rng.integers(1, 4), replace=False)
            toks[i, P + pos] = rng.integers(0, 10, len(pos))
        pair.append(toks)
    return pair


def rank(pair, quality):
    """(chosen, rejected) token arrays from a pair of candidates under ``quality``;
    ties are dropped."""
    qa, qb = quality(pair[0]), quality(pair[1])
    keep = qa != qb
    a_wins = (qa > qb)[keep, None]
    a, b = pair[0][keep], pair[1][keep]
    return np.where(a_wins, a, b), np.where(a_wins, b, a)


def ranking_accuracy(rm, chosen, rejected, device):
    """Share of pairs the reward model orders like the labels (ties count half)."""
    return win_rate(scores(rm, chosen, device), scores(rm, rejected, device))


def train_reward_model(name, sft, train_pairs, test_pairs, args, rng, device):
    chosen, rejected = train_pairs
    print(f"\n== 2. reward model '{name}': {len(chosen)} ranked pairs "
          f"({len(test_pairs[0])} held out)")
    rm = ScalarGPT.from_gpt(sft)
    steps = 20 if args.quick else 400
    opt = sg.optim.AdamW(rm.parameters(), lr=1e-3, weight_decay=0.0)
    sched = warmup_cosine(opt, warmup_steps=max(1, steps // 10), total_steps=steps)
    progress = Progress(steps, f'rm {name}', every=max(1, steps // 5))
    losses, evals = [], ([0], [ranking_accuracy(rm, *test_pairs, device)])
    for it in range(1, steps + 1):
        rows = rng.integers(0, len(chosen), 64)
        both = tensor(np.concatenate([chosen[rows], rejected[rows]]), device)
        r = rm(both)[:, -1]
        loss = bradley_terry_loss(r[:64], r[64:])
        step(opt, loss, rm.parameters(), sched)
        losses.append(loss.item())
        if it % max(1, steps // 5) == 0:
            evals[0].append(it)
            evals[1].append(ranking_accuracy(rm, *test_pairs, device))
            progress(it, loss=float(np.mean(losses[-20:])), heldout_acc=evals[1][-1])
    return rm, dict(losses=losses, evals=evals, heldout_accuracy=evals[1][-1],
                    train_accuracy=ranking_accuracy(rm, chosen[:2000], rejected[:2000], device),
                    n_train=len(chosen), n_test=len(test_pairs[0]))


# ----------------------------------------------------------------------------- step 3a
def record_point(curve, evaluate, policy, it, reward_key):
    """Evaluate the policy at iteration ``it`` and append its numbers to the learning
    curve (the reward under ``reward_key``); returns the evaluation."""
    m, _ = evaluate(policy)
    curve['step'].append(it)
    for k in ('win_rate', 'correct', 'kl', 'proxy_quality'):
        curve[k].append(m[k])
    curve['reward'].append(m[reward_key])
    return m


def train_ppo(label, sft, rm_name, rm_norm, config, train_prompts, evaluate, args, rng, device):
    """PPO from the SFT model against reward model ``rm_norm = (rm, mean, std)``."""
    rm, mu, sd = rm_norm
    iters = 4 if args.quick else 120
    batch, minibatch = 128, 64
    sg.manual_seed(args.seed)
    policy = copy_gpt(sft, device)
    value = ScalarGPT.from_gpt(sft)
    opt_pi = sg.optim.Adam(policy.parameters(), lr=3e-4)
    opt_v = sg.optim.Adam(value.parameters(), lr=1e-3)
    print(f"\n== 3a. PPO '{label}': reward model '{rm_name}', kl_coef {config.kl_coef}, "
          f"{iters} iterations of {batch} rollouts")
    points = eval_points(iters)
    progress = Progress(iters, label, every=max(1, iters // 12))
    curve = {'step': [], 'win_rate': [], 'correct': [], 'kl': [], 'reward': [], 'proxy_quality': []}
    batch_reward = []

    def record(it):
        return record_point(curve, evaluate, policy, it, f'reward_{rm_name}')

    record(0)
    for it in range(1, iters + 1):
        prompts = train_prompts[rng.integers(0, len(train_prompts), batch)]
        with sg.no_grad():                           # rollout: sample, score, look up
            toks = sample(policy, prompts, device)
            t = tensor(toks, device)
            old_logp = answer_logprobs(answer_logits(policy, t, P), t[:, P:]).numpy()
            ref_logp = answer_logprobs(answer_logits(sft, t, P), t[:, P:]).numpy()
            values = value(t[:, :-1])[:, P - 1:].numpy()
        score = (scores(rm, toks, device) - mu) / sd
        rewards = kl_penalised_rewards(score, old_logp, ref_logp, config.kl_coef)
        adv, returns = gae(rewards, values, config.gamma, config.lam)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        batch_reward.append(float(score.mean()))
        for _ in range(config.epochs):               # a few passes of minibatch steps
            order = rng.permutation(batch)
            for mb in np.split(order, batch // minibatch):
                t = tensor(toks[mb], device)
                logp = answer_logprobs(answer_logits(policy, t, P), t[:, P:])
                loss_pi = ppo_clip_loss(logp, tensor(old_logp[mb], device),
                                        tensor(adv[mb], device), config.clip_eps)
                v = value(t[:, :-1])[:, P - 1:]
                loss_v = config.value_coef * F.mse_loss(v, tensor(returns[mb], device))
                step(opt_pi, loss_pi, policy.parameters())
                step(opt_v, loss_v, value.parameters())
        if it in points:
            m = record(it)
            progress(it, reward=curve['reward'][-1], win=m['win_rate'], correct=m['correct'],
                     kl=m['kl'])
    final, toks = evaluate(policy)
    return dict(label=label, rm=rm_name, kl_coef=config.kl_coef, iterations=iters,
                curve=curve, batch_reward=batch_reward, final=final, answers=toks)


# ----------------------------------------------------------------------------- step 3b
def train_dpo(sft, train_pairs, test_pairs, beta, evaluate, args, rng, device):
    chosen, rejected = train_pairs
    steps = 10 if args.quick else 300
    sg.manual_seed(args.seed)
    policy = copy_gpt(sft, device)
    opt = sg.optim.Adam(policy.parameters(), lr=1e-4)
    print(f"\n== 3b. DPO on {len(chosen)} true-rule pairs, beta {beta}, {steps} steps")

    @sg.no_grad()
    def ref_logps(c, r):
        both = tensor(np.concatenate([c, r]), device)
        lp = sequence_logprob(sft, both, P).numpy()
        return lp[:len(c)], lp[len(c):]

    @sg.no_grad()
    def margin(c, r):
        """Mean over held-out pairs of (log pi/pi_ref)(y_w) - (log pi/pi_ref)(y_l)."""
        both = tensor(np.concatenate([c, r]), device)
        lp = sequence_logprob(policy, both, P).numpy()
        rc, rr = ref_logps(c, r)
        return float(np.mean((lp[:len(c)] - rc) - (lp[len(c):] - rr)))

    points = eval_points(steps)
    progress = Progress(steps, 'dpo', every=max(1, steps // 12))
    curve = {'step': [], 'win_rate': [], 'correct': [], 'kl': [], 'reward': [],
             'proxy_quality': [], 'margin': []}
    losses = []

    def record(it):
        m = record_point(curve, evaluate, policy, it, 'reward_true')
        curve['margin'].append(margin(*test_pairs))
        return m

    record(0)
    for it in range(1, steps + 1):
        rows = rng.integers(0, len(chosen), 64)
        c, r = chosen[rows], rejected[rows]
        ref_c, ref_r = ref_logps(c, r)
        lp = sequence_logprob(policy, tensor(np.concatenate([c, r]), device), P)
        loss = dpo_loss(lp[:64], lp[64:], tensor(ref_c, device), tensor(ref_r, device), beta)
        step(opt, loss, policy.parameters())
        losses.append(loss.item())
        if it in points:
            m = record(it)
            progress(it, loss=float(np.mean(losses[-20:])), win=m['win_rate'],
                     correct=m['correct'], kl=m['kl'], margin=curve['margin'][-1])
    final, toks = evaluate(policy)
    return dict(label=f'DPO beta {beta}', beta=beta, steps=steps, curve=curve, losses=losses,
                final=final, answers=toks, heldout_margin=curve['margin'][-1])


# ----------------------------------------------------------------------------- figures
def curves_figure(runs, path, title):
    """One row per group of runs: reward, hidden-rule win rate vs SFT, KL from SFT."""
    fig = new_figure(12, 3.0 * len(runs) + 0.4)
    axes = fig.subplots(len(runs), 3, squeeze=False)
    for row, (group, items) in zip(axes, runs):
        for i, r in enumerate(items):
            c, kw = r['curve'], dict(color=f'C{i}', marker='o', ms=3, label=r['label'])
            row[0].plot(c['step'], c['reward'], **kw)
            row[1].plot(c['step'], c['win_rate'], **kw)
            row[2].plot(c['step'], c['kl'], **kw)
        row[0].set_title(f"{group}: reward (normalised on SFT answers)", fontsize=9)
        row[1].set_title(f"{group}: hidden-rule win rate vs SFT", fontsize=9)
        row[1].axhline(0.5, color='C7', ls='--', lw=1)
        row[2].set_title(f"{group}: KL(policy || SFT), nats per answer", fontsize=9)
        for ax in row:
            ax.set_xlabel(items[0].get('xlabel', 'PPO iteration'), fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def reward_models_figure(rm_info, path):
    fig = new_figure(9, 3.0)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (name, info) in enumerate(rm_info.items()):
        loss = np.array(info['losses'])
        ax_loss.plot(moving_average(loss, 20), color=f'C{i}', label=name)
        ax_acc.plot(info['evals'][0], info['evals'][1], 'o-', color=f'C{i}', ms=3,
                    label=f"{name} (final {info['heldout_accuracy']:.1%})")
    ax_loss.set_title('Bradley-Terry loss (moving average)', fontsize=9)
    ax_acc.set_title('ranking accuracy on held-out pairs (its own labels)', fontsize=9)
    ax_acc.axhline(0.5, color='C7', ls='--', lw=1)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel('step', fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(fig, path)


def answers_figure(policies, prompts_text, path):
    """The kinds of answers each final policy writes (bars), and its first few answers."""
    fig = new_figure(10, 6.2)
    ax, ax_txt = fig.subplots(2, 1, gridspec_kw=dict(height_ratios=[1.3, 1]))
    names = list(policies)
    kinds = np.array([np.bincount(answer_kind(t), minlength=3) / len(t)
                      for t in policies.values()])
    bottom = np.zeros(len(names))
    for k, (label, color) in enumerate([('ascending (correct)', 'C2'),
                                        ('descending', 'C0'), ('other (wrong)', 'C3')]):
        ax.barh(names, kinds[:, k], left=bottom, color=color, label=label)
        bottom += kinds[:, k]
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.08), ncol=3)
    ax.set_title(f'kinds of answer to {len(prompts_text)} held-out prompts (one sample each)',
                 fontsize=9)
    ax.tick_params(labelsize=7)
    width = max(len(n) for n in names) + 2
    lines = ['prompt   ' + ''.join(f"{n:<{width}}" for n in names)]
    for i in range(10):
        lines.append(f"{prompts_text[i]:<9}" + ''.join(
            f"{''.join(map(str, t[i, P:])):<{width}}" for t in policies.values()))
    ax_txt.axis('off')
    ax_txt.text(0, 1, '\n'.join(lines), family='monospace', fontsize=7, va='top')
    save(fig, path)


# ----------------------------------------------------------------------------- main
def main():
    p = parser(__doc__.splitlines()[0], 'out/rlhf_tiny')
    p.add_argument('--kl-sweep', default='0,0.1,0.5',
                   help='KL coefficients of the PPO runs on the proxy reward model')
    p.add_argument('--kl-coef', type=float, default=0.1,
                   help='KL coefficient of the PPO run on the true reward model')
    p.add_argument('--dpo-beta', type=float, default=0.1)
    args = p.parse_args()
    out, device = ensure_out(args.out), args.device
    rng = np.random.default_rng(args.seed)
    t_start = time.process_time()

    task = sort_task(length=M, seed=args.seed)
    train_prompts = task.tokens('train')[:, :P]
    test_prompts = task.tokens('test')[:, :P]
    n_eval = 100 if args.quick else 1000
    eval_prompts = test_prompts[:n_eval]

    # 1. SFT
    sft, sft_losses = train_sft(train_prompts, args, rng, device)

    # 2. reward models on ranked candidate pairs (train prompts; held-out pairs on test ones)
    n_pref = 300 if args.quick else 8000
    pair_train = candidate_pairs(sft, train_prompts[rng.permutation(len(train_prompts))[:n_pref]],
                                 rng, device)
    pair_test = candidate_pairs(sft, test_prompts, rng, device)
    rms, rm_info, ranked = {}, {}, {}
    sft_answers = sample(sft, train_prompts[:2000], device)
    for name, quality in (('true', correct), ('proxy', proxy)):
        ranked[name] = (rank(pair_train, quality), rank(pair_test, quality))
        rm, info = train_reward_model(name, sft, *ranked[name], args, rng, device)
        s = scores(rm, sft_answers, device)                    # normalise on SFT's answers
        rms[name] = (rm, float(s.mean()), float(s.std() + 1e-8))
        rm_info[name] = info
    # how well each reward model ranks by the *other* rule (the proxy's blind spot)
    for name in rms:
        other = 'proxy' if name == 'true' else 'true'
        rm_info[name][f'heldout_accuracy_on_{other}_labels'] = ranking_accuracy(
            rms[name][0], *ranked[other][1], device)

    evaluate = Evaluator(sft, eval_prompts, device, rms)
    sft_metrics, sft_toks = evaluate(sft)
    print(f"\nSFT model: {sft_metrics['correct']:.1%} correct, answer kinds (asc/desc/other) "
          f"{np.bincount(answer_kind(sft_toks), minlength=3) / len(sft_toks)}")

    # 3a. PPO on the true reward model, then the KL sweep on the proxy reward model
    ppo_true = train_ppo(f'PPO true RM, kl {args.kl_coef:g}', sft, 'true', rms['true'],
                         PPOConfig(kl_coef=args.kl_coef), train_prompts, evaluate, args, rng,
                         device)
    sweep = [float(b) for b in args.kl_sweep.split(',')]
    ppo_proxy = [train_ppo(f'PPO proxy RM, kl {b:g}', sft, 'proxy', rms['proxy'],
                           PPOConfig(kl_coef=b), train_prompts, evaluate, args, rng, device)
                 for b in sweep]
    # 3b. DPO on the true rankings
    dpo = train_dpo(sft, *ranked['true'], args.dpo_beta, evaluate, args, rng, device)
    dpo['xlabel'] = 'DPO step'

    curves_figure([('true reward model', [ppo_true]), ('DPO (no reward model)', [dpo]),
                   ('proxy reward model', ppo_proxy)], f"{out}/rlhf_curves.png",
                  f"policy optimisation from the SFT model (seed {args.seed})")
    reward_models_figure(rm_info, f"{out}/rlhf_reward_models.png")
    finals = {'SFT': sft_toks, f'PPO true kl {args.kl_coef:g}': ppo_true['answers'],
              f'DPO beta {args.dpo_beta:g}': dpo['answers'],
              **{f"PPO proxy kl {r['kl_coef']:g}": r['answers'] for r in ppo_proxy}}
    answers_figure(finals, [task.tokenizer.decode(p) for p in eval_prompts],
                   f"{out}/rlhf_answers.png")

    print(f"\n{'policy':<24} {'win vs SFT':>10} {'correct':>8} {'reward true':>11} "
          f"{'reward proxy':>12} {'KL':>7}")
    for label, m in [('SFT', sft_metrics), (ppo_true['label'], ppo_true['final']),
                     (dpo['label'], dpo['final'])] + [(r['label'], r['final']) for r in ppo_proxy]:
        print(f"{label:<24} {m['win_rate']:>10.3f} {m['correct']:>8.3f} {m['reward_true']:>11.2f} "
              f"{m['reward_proxy']:>12.2f} {m['kl']:>7.2f}")
    cpu = time.process_time() - t_start
    print(f"CPU time {cpu:.0f} s; figures in {out}/")

    def key(name):                    # 'PPO proxy kl 0.1' -> 'ppo_proxy_kl0.1'
        return name.lower().replace(' kl ', '_kl').replace(' beta ', '_beta').replace(' ', '_')

    def strip(run):
        return {k: v for k, v in run.items() if k != 'answers'}
    write_results(out, dict(
        seed=args.seed, quick=args.quick, cpu_seconds=cpu, eval_prompts=n_eval,
        sft=dict(final_loss=float(np.mean(sft_losses[-50:])), **sft_metrics,
                 answer_kinds=np.bincount(answer_kind(sft_toks), minlength=3) / len(sft_toks)),
        reward_models={k: {kk: vv for kk, vv in v.items() if kk not in ('losses',)}
                       for k, v in rm_info.items()},
        ppo_true=strip(ppo_true), ppo_proxy=[strip(r) for r in ppo_proxy], dpo=strip(dpo)),
        {**{f"{key(k)}_tokens": v for k, v in finals.items()},
         'prompts_text': np.array([task.tokenizer.decode(p) for p in eval_prompts]),
         **{f"{key(k)}_text": np.array([task.tokenizer.decode(t[P:]) for t in v])
            for k, v in finals.items()}})


if __name__ == '__main__':
    main()
