"""The graph walk: reverse-mode differentiation from some outputs back to the leaves.

Functions are visited newest-generation first (a max-heap keyed on generation, then
creation order), iteratively, so the walk is deterministic and deep graphs cannot hit
Python's recursion limit. Each function's input gradients are summed back to the
input's shape here (undoing broadcasting), so ops never have to.
"""
import heapq

from .. import backend
from .function import check_finite
from .grad_mode import _state, set_grad_enabled
from .tensor import Tensor


def _as_grad(g, t, who):
    if g is None:
        if t.data.size != 1:
            raise RuntimeError(f"{who}: grad can be implicitly created only for scalar "
                               f"outputs, but the output has shape {t.shape}; pass gradient=")
        return Tensor(t.xp.ones(t.shape, dtype=t.dtype))
    if not isinstance(g, Tensor):
        g = Tensor(backend.asarray(g, dtype=t.dtype, device=t.device))
    if g.shape != t.shape:
        raise RuntimeError(f"{who}: gradient has shape {g.shape} but the output has shape {t.shape}")
    return g


def _run(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    """Walk the graph. Returns {id(target): grad} for ``targets``; when ``accumulate``,
    also adds into ``.grad`` of leaves (and of tensors with ``retain_grad``)."""
    _state.in_backward += 1          # lets ``trace`` tell backward ops from forward ones
    try:
        return _walk(roots, root_grads, retain_graph, create_graph, targets, accumulate)
    finally:
        _state.in_backward -= 1


def _walk(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    grads = {}                     # id(tensor) -> (tensor, grad): strong ref pins the id
    heap, seen = [], set()

    def push(f):
        if f is not None and id(f) not in seen:
            if f.released:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second time (or "
                    "directly access saved tensors after they have been freed). Pass "
                    "retain_graph=True to the first backward() if you need to do this.")
            seen.add(id(f))
            heapq.heappush(heap, (-f.generation, -f.seq, id(f), f))

    def add(t, g):
        key = id(t)
        if key in grads:
            grads[key] = (t, grads[key][1] + g)
        else:
            grads[key] = (t, g)

    target_ids = {id(t) for t in targets} if targets is not None else set()
    with set_grad_enabled(create_graph):
        for t, g in zip(roots, root_grads):
            if not t.requires_grad:
                raise RuntimeError(f"backward: the tensor of shape {t.shape} does not require "
                                   "grad and has no grad_fn")
            add(t, g)
            push(t.creator)
        for t, g in list(grads.values()):
            if t.creator is None and accumulate:
                _accumulate(t, g)
        while heap:
            f = heapq.heappop(heap)[3]
            outs = [r() for r in f.outputs]
            gys, any_grad = [], False
            for o in outs:     # an intermediate's grad is final once its creator runs
                entry = grads.get(id(o)) if o is not None else None
                if entry is None:
                    gys.append(None)
                    continue
                gys.append(entry[1])
                any_grad = True
                if id(o) not in target_ids:
                    if accumulate and o.retains_grad:
                        _accumulate(o, entry[1])
                    del grads[id(o)]
            if not any_grad:
                continue
            gxs = f.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if _state.anomaly:
                check_finite(f, gxs, 'backward gradient')
            for x, gx in zip(f.inputs, gxs):
                if gx is None or not x._requires_grad:
                    continue
                if gx.data.shape != x.data.shape:
                    gx = gx.sum_to(x.shape)
                if x.creator is None:
                    if accumulate:
                        _accumulate(x, gx)
                    if id(x) in target_ids:
                        add(x, gx)
                else:
                    add(x, gx)
                    push(x.creator)
            if not retain_graph:
                f.release()
    return {k: v[1] for k, v in grads.items() if k in target_ids}


def _accumulate(leaf, g):
    if leaf.grad is None:
        # A gradient array may be shared with other tensors (Add passes gy to both
        # inputs); nothing mutates .grad arrays in place (zero_ swaps in fresh storage,
        # accumulation below makes a new array), so no copy is needed.
        leaf.grad = g if g.creator is not None else Tensor(g.data)
    else:
        leaf.grad = leaf.grad + g


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves."""
    tensors = list(tensors)
    grad_tensors = list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    gs = [_as_grad(g, t, 'backward') for t, g in zip(tensors, grad_tensors)]
    if inputs is not None:
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        found = _run(tensors, gs, retain_graph or create_graph, create_graph, inputs, False)
        for t in inputs:
            if id(t) in found:
                _accumulate(t, found[id(t)])
        return
    _run(tensors, gs, retain_graph or create_graph, create_graph, None, True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated)."""
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {t.shape} does not require grad")
    gs = [_as_grad(g, t, 'grad') for t, g in zip(outputs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    found = _run(outputs, gs, retain_graph, create_graph, inputs, False)
    result = []
    for i, t in enumerate(inputs):
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used in the graph; "
                               "pass allow_unused=True if this is expected")
        result.append(g)
    return tuple(result)
