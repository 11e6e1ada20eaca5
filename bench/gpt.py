"""Speed of one GPT training step in scratchgen against the same model in PyTorch CPU.

One step = zero the gradients, forward with the next-token cross-entropy, backward, clip
the gradient norm to 1, AdamW step (decay on matrices only). Both libraries run the same
architecture (pre-LayerNorm blocks, tanh-GELU MLP, weight-tied output, no dropout) with
the same config and batch. Each library runs in its own subprocess (NumPy and PyTorch
thread pools fight when interleaved), median of --repeats steps after 3 warm-up steps.

    python bench/gpt.py                      # all cases, ratio table
    python bench/gpt.py --cases char --repeats 50
    python bench/gpt.py --threads 1          # one BLAS / intra-op thread in both libraries
    python bench/gpt.py --profile char       # cProfile of the scratchgen step (no torch)

Cases:
  char           demos/gpt_char.py's model: vocab 100, block 64, 4 layers, 4 heads,
                 n_embd 128, batch 16; PyTorch attention with the fused
                 F.scaled_dot_product_attention(is_causal=True), as nanoGPT
  char-explicit  the same, PyTorch attention written out as ours: matmul, mask, softmax, matmul
  block128       the same model with a 128-character context (attention weighs more)
  add2           demos/gpt_tasks.py's addition model: vocab 12, block 8, 2 layers, 4 heads,
                 n_embd 64, batch 128 (small tensors: per-op overhead shows)
  recipe         issue 20's recipe as a user writes it, in both libraries: the char model's
                 sizes with batch 12, exact GELU (PyTorch's default), attention through
                 scaled_dot_product_attention(is_causal=True), the tied head as
                 ``x @ wte.weight.T`` on the (B, T, C) tensor; built from nn layers here,
                 not from scratchgen.models.gpt
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import ROOT, main  # noqa: E402

CHAR = dict(vocab=100, block=64, layers=4, heads=4, embd=128, batch=16)
CASES = {
    'char': ('GPT step, char model (block 64, 4x128, batch 16), torch SDPA', CHAR),
    'char-explicit': ('same, torch attention as explicit matmul/mask/softmax',
                      dict(CHAR, explicit=True)),
    'block128': ('GPT step, char model with block 128, batch 16, torch SDPA',
                 dict(CHAR, block=128)),
    'add2': ('GPT step, addition model (block 8, 2x64, batch 128), torch SDPA',
             dict(vocab=12, block=8, layers=2, heads=4, embd=64, batch=128)),
    'recipe': ('GPT step as a user writes it (block 64, 4x128, batch 12, exact GELU)',
               dict(CHAR, batch=12, gelu='none', user=True)),
}
TARGETS = {case: 2.0 for case in CASES}


def batch(c):
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.integers(0, c['vocab'], (c['batch'], c['block'])),
            rng.integers(0, c['vocab'], (c['batch'], c['block'])))


def user_gpt(c):
    """The GPT of the 'recipe' case, written from scratchgen's nn layers as a user would
    (the same architecture as build_torch's); returns (model, loss_fn)."""
    import scratchgen as sg
    nn, F = sg.nn, sg.nn.functional
    C, H = c['embd'], c['heads']

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = sg.split(self.c_attn(self.ln_1(x)), C, dim=2)
            q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate=c['gelu']))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(c['vocab'], C)
            self.wpe = nn.Embedding(c['block'], C)
            self.blocks = nn.ModuleList([Block() for _ in range(c['layers'])])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(sg.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    model = GPT()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = sg.optim.AdamW([{'params': decay, 'weight_decay': 0.1},
                          {'params': rest, 'weight_decay': 0.0}], lr=1e-3, betas=(0.9, 0.95))
    return model, opt


def build_sg(case):
    import scratchgen as sg
    from scratchgen.models.gpt import GPT, GPTConfig
    c = CASES[case][1]
    sg.manual_seed(0)
    if c.get('user'):
        model, opt = user_gpt(c)
    else:
        model = GPT(GPTConfig(vocab_size=c['vocab'], block_size=c['block'], n_layer=c['layers'],
                              n_head=c['heads'], n_embd=c['embd']))
        opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    x, y = (sg.tensor(a) for a in batch(c))

    def step():
        opt.zero_grad()
        loss = model(x, y) if c.get('user') else model(x, y)[1]
        loss.backward()
        sg.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def build_torch(case):
    import torch
    nn, F = torch.nn, torch.nn.functional
    c = CASES[case][1]
    C, H, explicit = c['embd'], c['heads'], c.get('explicit', False)
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
            self.register_buffer('mask', torch.triu(torch.full((c['block'],) * 2, -math.inf), 1))

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
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)),
                                            approximate=c.get('gelu', 'tanh')))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(c['vocab'], C)
            self.wpe = nn.Embedding(c['block'], C)
            self.blocks = nn.ModuleList([Block() for _ in range(c['layers'])])
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
    x, y = (torch.tensor(a) for a in batch(c))

    def step():
        opt.zero_grad(set_to_none=True)
        model(x, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def profile(case):
    """cProfile of 5 scratchgen steps, the 25 most expensive functions by own time."""
    import cProfile
    import pstats
    step = build_sg(case)
    step()
    prof = cProfile.Profile()
    prof.runcall(lambda: [step() for _ in range(5)])
    pstats.Stats(prof).sort_stats('tottime').print_stats(25)


if __name__ == '__main__':
    if '--profile' in sys.argv:
        sys.path.insert(0, ROOT)
        i = sys.argv.index('--profile')
        profile(sys.argv[i + 1] if i + 1 < len(sys.argv) else 'char')
    else:
        main(__file__, {k: v[0] for k, v in CASES.items()}, build_sg, build_torch, TARGETS,
             __doc__)
