"""A tour of the autograd engine: fit a tiny MLP to a noisy curve, then check its gradients.

    python demos/tour.py            # ~10 s on a laptop CPU; writes out/tour/*.png
    python demos/tour.py --quick

What it shows: Tensors, the graph and backward() (the graph drawn with ``sg.viz.graph``,
one forward pass followed op by op with ``sg.trace``), an nn.Module trained with Adam, and
gradcheck of the whole model in float64. The final MSE and the gradcheck verdict are in
OUT/metrics.json. The data is a generated curve, so there is no --data.
"""
import numpy as np

from _common import Progress, ensure_out, parser, write_results

import scratchgen as sg
from scratchgen import nn
from scratchgen.viz import new_figure, save


def main():
    args = parser(__doc__.splitlines()[0], 'out/tour').parse_args()
    out = ensure_out(args.out)
    sg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # 1. data: y = sin(3x) + noise, on the host, then moved to the device explicitly
    x_host = rng.uniform(-1.5, 1.5, size=(256, 1)).astype(np.float32)
    y_host = (np.sin(3 * x_host) + 0.1 * rng.standard_normal(x_host.shape)).astype(np.float32)
    x, y = sg.tensor(x_host, device=args.device), sg.tensor(y_host, device=args.device)

    # 2. a model and an optimizer, PyTorch-style
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    model.to(args.device)
    opt = sg.optim.Adam(model.parameters(), lr=1e-2)
    steps = 60 if args.quick else 1500
    progress = Progress(steps, 'mlp')
    losses = []
    for step in range(1, steps + 1):
        loss = sg.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        progress(step, loss=losses[-1])
    print(f"final training MSE {losses[-1]:.4f} (noise variance 0.0100)")

    # 3. a small model's graph: follow one forward pass op by op, then draw it
    small = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    xs = sg.randn(5, 1, dtype=sg.float64)
    print("one forward pass of a 1-4-1 MLP and its squared error, op by op:")
    with sg.trace() as t:
        small_loss = ((small(xs) - 1.0) ** 2).mean()
    graph_path = f"{out}/tour_graph.png"
    sg.viz.graph(small_loss, graph_path, params=dict(small.named_parameters()))
    print(f"wrote {graph_path}")

    # 4. gradients checked numerically, through the whole model, in float64
    # gradcheck perturbs the parameters in place, so the function can just call the model
    ok = sg.gradcheck(lambda *params: small(xs), list(small.parameters()))
    print(f"gradcheck of a 1-4-1 MLP's parameters in float64: {'passed' if ok else 'FAILED'}")

    # 5. figures
    grid = np.linspace(-1.5, 1.5, 200, dtype=np.float32)[:, None]
    with sg.no_grad():
        pred = model(sg.tensor(grid, device=args.device)).numpy()
    fig = new_figure(9, 3.5)
    axes = fig.subplots(1, 2)
    axes[0].scatter(x_host, y_host, s=6, alpha=0.5, label='data')
    axes[0].plot(grid, pred, 'r', lw=2, label='MLP')
    axes[0].plot(grid, np.sin(3 * grid), 'k--', lw=1, label='sin(3x)')
    axes[0].legend()
    axes[0].set_title('fit')
    axes[1].semilogy(losses)
    axes[1].set_xlabel('step')
    axes[1].set_title('training MSE')
    path = f"{out}/tour_fit.png"
    save(fig, path)
    print(f"wrote {path}")
    write_results(out, dict(seed=args.seed, quick=args.quick, steps=steps,
                            final_train_mse=losses[-1], noise_variance=0.01,
                            gradcheck_passed=bool(ok), traced_ops=len(t.records)))


if __name__ == '__main__':
    main()
