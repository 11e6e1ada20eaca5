"""Speed of one GPT training step: scratchgen against the same model in PyTorch CPU.

A training step is: zero the gradients, forward with the cross-entropy loss, backward,
clip the gradient norm to 1, AdamW step. Both libraries run the same architecture
(pre-LayerNorm blocks, tanh-GELU MLP, weight-tied output, no dropout), the same config
and the same batch. Each library is timed in its own subprocess (their thread pools
fight when interleaved), as the median of --repeats steps after 3 warm-up steps.

    python bench/gpt.py                      # default config (= demos/gpt_char.py's model)
    python bench/gpt.py --repeats 50 --batch 16 --block 128
    python bench/gpt.py --threads 1 --cpu-time   # steadier numbers on a busy machine
    python bench/gpt.py --profile            # cProfile of the scratchgen step, by op

The PyTorch model computes attention with ``F.scaled_dot_product_attention(is_causal=True)``
(fused, as nanoGPT does); ``--torch-attention explicit`` times it with the same
matmul-mask-softmax-matmul steps as ours instead.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
TARGET = 2.0


def batch(args):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.integers(0, args.vocab, (args.batch, args.block))
    y = rng.integers(0, args.vocab, (args.batch, args.block))
    return x, y


def build_sg(args):
    sys.path.insert(0, ROOT)
    import scratchgen as sg
    from scratchgen.models.gpt import GPT, GPTConfig
    sg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=args.vocab, block_size=args.block, n_layer=args.layers,
                          n_head=args.heads, n_embd=args.embd))
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    x, y = (sg.tensor(a) for a in batch(args))

    def step():
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        sg.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def build_torch(args):
    import torch
    import torch.nn as nn
    F = torch.nn.functional
    torch.manual_seed(0)
    C, H, explicit = args.embd, args.heads, args.torch_attention == 'explicit'

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
            mask = torch.triu(torch.full((args.block, args.block), -math.inf), 1)
            self.register_buffer('mask', mask)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
            if explicit:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H)) + self.mask[:T, :T]
                y = F.softmax(att, dim=-1) @ v
            else:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(args.vocab, C)
            self.wpe = nn.Embedding(args.block, C)
            self.blocks = nn.ModuleList([Block() for _ in range(args.layers)])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1},
                             {'params': rest, 'weight_decay': 0.0}], lr=1e-3, betas=(0.9, 0.95))
    x, y = (torch.tensor(a) for a in batch(args))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def worker(args):
    step = (build_sg if args.worker == 'sg' else build_torch)(args)
    for _ in range(3):
        step()
    clock = time.process_time if args.cpu_time else time.perf_counter
    times = []
    for _ in range(args.repeats):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return {'median': statistics.median(times), 'min': min(times)}


def profile(args):
    import cProfile
    import pstats
    step = build_sg(args)
    step()
    cProfile.runctx('for _ in range(5): step()', globals(), {'step': step}, '/tmp/gpt_bench.prof')
    pstats.Stats('/tmp/gpt_bench.prof').sort_stats('tottime').print_stats(20)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--vocab', type=int, default=100)
    ap.add_argument('--block', type=int, default=64)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--embd', type=int, default=128)
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--threads', type=int, default=None,
                    help='threads for both libraries (default: their own defaults)')
    ap.add_argument('--cpu-time', action='store_true',
                    help='time the CPU time of the process instead of the wall clock (steadier '
                         'on a busy machine; with --threads 1 it equals wall time when idle)')
    ap.add_argument('--torch-attention', choices=['sdpa', 'explicit'], default='sdpa')
    ap.add_argument('--profile', action='store_true')
    ap.add_argument('--worker', choices=['sg', 'torch'])
    args = ap.parse_args()
    if args.profile:
        return profile(args)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    config = (f"vocab {args.vocab}, block {args.block}, batch {args.batch}, {args.layers} layers, "
              f"{args.heads} heads, n_embd {args.embd}")
    clock = 'CPU time' if args.cpu_time else 'wall time'
    print(f"GPT training step ({config}); median {clock} of {args.repeats} steps")
    flags = [a for a in sys.argv[1:]]
    env = dict(os.environ)
    if args.threads:
        for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
            env[var] = str(args.threads)
        print(f"  {args.threads} thread(s) per library")
    res = {}
    for lib in ('sg', 'torch'):
        out = subprocess.run([sys.executable, __file__, '--worker', lib] + flags,
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"  [{lib} failed: {out.stderr.strip().splitlines()[-1]}]")
            if lib == 'torch':
                print("  (PyTorch missing? pip install torch for the ratio)")
            continue
        res[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {'scratchgen' if lib == 'sg' else 'torch (' + args.torch_attention + ')':<20} "
              f"{res[lib]['median'] * 1e3:8.1f} ms  (min {res[lib]['min'] * 1e3:.1f} ms)", flush=True)
    if len(res) == 2:
        ratio = res['sg']['median'] / res['torch']['median']
        print(f"  ratio scratchgen / torch: {ratio:.2f}  (target <= {TARGET})")


if __name__ == '__main__':
    main()
