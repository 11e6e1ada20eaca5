"""``graph``: draw the autograd graph that produced a tensor (DeZero's ``plot_dot_graph``
and torchviz's ``make_dot``, drawn with matplotlib alone — no Graphviz).

Boxes are ops (``Function``s), ovals are the leaf tensors they read: orange when the
leaf requires grad (a parameter or an input being differentiated), grey when it is
data or a constant. Each arrow is a tensor flowing into an op, labelled with its shape. Rows run
from the leaves (top) to the output (bottom).
"""
from ..autograd import Tensor
from ._figure import new_figure, save

__all__ = ['graph']

_GRAD, _CONST, _OP, _OUT = '#f5b06a', '#d9d9d9', '#a6c8ea', '#9fd59f'


def _walk(root, max_nodes):
    """Ops and leaves reachable from ``root``, iteratively, in a deterministic order."""
    ops, leaves, stack, seen = [], [], [root.creator], {id(root.creator)}
    while stack:
        f = stack.pop()
        ops.append(f)
        if len(ops) > max_nodes:
            raise ValueError(f"graph: more than max_nodes={max_nodes} ops; draw a smaller "
                             "piece of the model or raise max_nodes")
        for t in f.inputs:
            c = t.creator if t.requires_grad else None
            if c is not None and not getattr(c, 'released', False):
                if id(c) not in seen:
                    seen.add(id(c))
                    stack.append(c)
            elif all(t is not u for u in leaves):
                leaves.append(t)
    return ops, leaves


def graph(tensor, path=None, params=None, max_nodes=200, title=None):
    """Draw the graph behind ``tensor`` (call before ``backward()``, which frees it).

    params: optional ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to
    label the leaves. Returns the figure; writes a PNG when ``path`` is given.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    if tensor.creator is None or getattr(tensor.creator, 'released', False):
        raise ValueError(f"graph: the tensor of shape {tensor.shape} has no graph to draw (a "
                         "leaf, made under no_grad, or freed by backward(); draw before "
                         "calling backward)")
    names = {id(t): n for n, t in (params or {}).items()}
    ops, leaves = _walk(tensor, max_nodes)
    # An op sits one row below its deepest input op; a leaf one row above its first
    # reader. Rows are then ordered from the output up, each node under the mean
    # position of the ops that read it, which keeps most arrows short and uncrossed.
    ops = sorted(ops, key=lambda f: f.seq)              # creation order: inputs first
    op_ids = {id(f) for f in ops}

    def source(t):                                      # the node an input arrow leaves
        return t.creator if t.creator is not None and id(t.creator) in op_ids else t
    row, readers = {}, {}
    for f in ops:
        row[id(f)] = 1 + max((row[id(source(t))] for t in f.inputs if source(t) is not t),
                             default=0)
        for t in f.inputs:
            readers.setdefault(id(source(t)), []).append(f)
    for t in leaves:
        row[id(t)] = min(row[id(f)] for f in readers[id(t)]) - 1
    rows = {}
    for obj in ops + leaves:
        rows.setdefault(row[id(obj)], []).append(obj)
    top, bottom = min(rows), max(rows)
    depth, width = bottom - top + 1, max(len(r) for r in rows.values())
    pos = {}
    for r in range(bottom, top - 1, -1):
        items = rows.get(r, [])
        if r != bottom:
            items.sort(key=lambda o: sum(pos[id(f)][0] for f in readers[id(o)]) /
                       len(readers[id(o)]))
        for i, obj in enumerate(items):
            pos[id(obj)] = ((i + 0.5) / len(items) * width, bottom - r)
    nodes = [(f, 'op') for f in ops] + [(t, 'leaf') for t in leaves]

    fig = new_figure(max(4.0, 1.9 * width), max(2.5, 1.0 * depth + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, width)
    ax.set_ylim(-0.6, depth - 0.4)
    ax.axis('off')
    for f in ops:                                       # arrows: input -> op
        x1, y1 = pos[id(f)]
        for t in f.inputs:
            x0, y0 = pos[id(source(t))]
            ax.annotate('', (x1, y1 + 0.18), (x0, y0 - 0.18),
                        arrowprops=dict(arrowstyle='->', color='#555555', lw=0.8))
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, str(tuple(t.shape)), fontsize=6,
                    color='#333333', ha='center', va='center',
                    bbox=dict(fc='white', ec='none', pad=0.5, alpha=0.8))
    for obj, kind in nodes:
        x, y = pos[id(obj)]
        if kind == 'op':
            colour = _OUT if obj is tensor.creator else _OP
            label, box = obj.name, 'round,pad=0.3'
        else:
            colour = _GRAD if obj.requires_grad else _CONST
            label = names.get(id(obj), 'input' if obj.requires_grad else
                              'const' if obj.ndim == 0 else 'data')
            label, box = f"{label}\n{tuple(obj.shape)}", 'ellipse,pad=0.2'
        ax.text(x, y, label, ha='center', va='center', fontsize=7,
                bbox=dict(boxstyle=box, fc=colour, ec='#444444', lw=0.8))
    ax.set_title(title or f"autograd graph of a {tuple(tensor.shape)} tensor "
                          f"({len(ops)} ops, {len(leaves)} leaves)", fontsize=9)
    return save(fig, path)
