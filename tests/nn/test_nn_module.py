"""Module machinery: registration order, tree walks, modes, devices, state dicts, repr,
containers, and a tiny MLP that learns XOR."""
import re

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(sg.ones(4))
        self.register_buffer('count', sg.zeros((), dtype=sg.int64))
        self.register_buffer('cache', sg.zeros(4), persistent=False)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.act = nn.Tanh()
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(self.act(self.first(x)))


def test_parameters_in_definition_order_with_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # PyTorch order: a module's own parameters first, then its children's
    assert names == ['first.scale', 'first.fc.weight', 'first.fc.bias', 'first.norm.weight',
                     'first.norm.bias', 'head.weight']
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_parameter_order_matches_torch():
    torch = pytest.importorskip('torch')

    class TBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 4)
            self.scale = torch.nn.Parameter(torch.ones(4))
            self.register_buffer('count', torch.zeros((), dtype=torch.int64))
            self.register_buffer('cache', torch.zeros(4), persistent=False)
            self.norm = torch.nn.BatchNorm1d(4)

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = TBlock()
            self.act = torch.nn.Tanh()
            self.head = torch.nn.Linear(4, 2, bias=False)

    t, s = TNet(), Net()
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in s.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(s.state_dict()) == list(t.state_dict())
    assert [n for n, _ in s.named_modules()] == [n for n, _ in t.named_modules()]


def test_buffers_children_modules():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == [
        'first.count', 'first.cache', 'first.norm.running_mean', 'first.norm.running_var',
        'first.norm.num_batches_tracked']
    assert [n for n, _ in net.named_children()] == ['first', 'act', 'head']
    assert list(net.children()) == [net.first, net.act, net.head]
    assert [n for n, _ in net.named_modules()] == ['', 'first', 'first.fc', 'first.norm',
                                                   'act', 'head']
    assert net.get_submodule('first.norm') is net.first.norm
    with pytest.raises(AttributeError, match='nope'):
        net.get_submodule('first.nope')


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3           # seq, lin, relu
    emb = nn.Embedding(5, 3)
    head = nn.Linear(3, 5, bias=False)
    head.weight = emb.weight                       # weight tying
    both = nn.ModuleList([emb, head])
    assert len(list(both.parameters())) == 1


def test_rebinding_an_attribute_moves_it_between_registries():
    m = nn.Module()
    m.w = nn.Parameter(sg.zeros(2))
    m.w = nn.Linear(1, 1)                          # parameter -> submodule
    assert 'w' not in m._parameters and 'w' in m._modules
    m.register_parameter('b', None)
    assert [n for n, _ in m.named_parameters()] == ['w.weight', 'w.bias']
    with pytest.raises(TypeError, match="parameter 'b'"):
        m.b = sg.zeros(2)                          # a plain Tensor is not a Parameter
    m.b = nn.Parameter(sg.zeros(3))
    assert [n for n, _ in m.named_parameters()] == ['b', 'w.weight', 'w.bias']
    del m.b
    assert 'b' not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="buffer 'x'"):
        m.register_buffer('x', sg.zeros(1))
        m.x = np.zeros(1)


def test_errors_for_bad_registration():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match=re.escape('super().__init__()')):
        Forgot()
    m = nn.Module()
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer('a.b', sg.zeros(1))
    with pytest.raises(TypeError, match='Parameter'):
        m.register_parameter('p', sg.zeros(1))
    with pytest.raises(TypeError, match='Tensor'):
        m.register_buffer('q', [1, 2])
    with pytest.raises(AttributeError, match='nothing'):
        m.nothing


def test_train_eval_propagate():
    net = Net()
    assert net.training and net.first.norm.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train('yes')


def test_zero_grad_set_to_none_or_zero():
    net = Net()
    net(sg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad is not None and not p.grad.numpy().any()
    net(sg.randn(5, 3)).sum().backward()
    assert any(p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_device_moves_everything_in_place_keeping_identity():
    net = Net()
    net(sg.randn(5, 3)).sum().backward()
    params = list(net.parameters())
    before = [p.numpy() for p in params]
    assert net.to('emu') is net
    assert list(net.parameters()) == params and all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.device == 'emu' and p.grad.device == 'emu' for p in net.parameters())
    assert all(b.device == 'emu' for b in net.buffers())
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.numpy(), b)
    y = net(sg.randn(5, 3, device='emu'))
    assert y.device == 'emu'
    net.cpu()
    assert all(t.device == 'cpu' for t in list(net.parameters()) + list(net.buffers()))


def test_double_and_float_cast_floating_state_only():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.first.norm.running_mean.dtype == np.float64
    assert net.first.count.dtype == np.int64 and net.first.norm.num_batches_tracked.dtype == np.int64
    assert net(sg.randn(4, 3, dtype=sg.float64)).dtype == np.float64
    net.to('emu', sg.float32)
    assert all(p.dtype == np.float32 and p.device == 'emu' for p in net.parameters())
    net.float()
    with pytest.raises(TypeError, match='floating'):
        net.to(sg.int32)


def test_state_dict_round_trip():
    a, b = Net(), Net()
    a.train()(sg.randn(6, 3))          # running statistics move away from their init
    sd = a.state_dict()
    assert list(sd) == ['first.scale', 'first.count', 'first.fc.weight', 'first.fc.bias',
                        'first.norm.weight', 'first.norm.bias', 'first.norm.running_mean',
                        'first.norm.running_var', 'first.norm.num_batches_tracked',
                        'head.weight']
    assert 'first.cache' not in sd                  # non-persistent
    assert all(isinstance(v, sg.Tensor) and not v.requires_grad for v in sd.values())
    ids = [id(p) for p in b.parameters()]
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert [id(p) for p in b.parameters()] == ids
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    x = sg.randn(4, 3)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    # loaded values are copies: changing the source afterwards does not leak
    sd['head.weight'].data[...] = 0
    assert b.head.weight.numpy().any()


def test_load_state_dict_accepts_host_arrays_and_loads_onto_the_module_device():
    a = Net()
    host = {k: v.numpy() for k, v in a.state_dict().items()}
    b = Net().to('emu')
    b.load_state_dict(host)
    assert all(p.device == 'emu' for p in b.parameters())
    np.testing.assert_array_equal(b.head.weight.numpy(), host['head.weight'])
    c = Net()
    c.load_state_dict(b.state_dict())         # emu -> cpu
    assert c.head.weight.device == 'cpu'
    np.testing.assert_array_equal(c.head.weight.numpy(), host['head.weight'])


def test_load_state_dict_reports_every_problem():
    net = Net()
    sd = dict(net.state_dict())
    del sd['head.weight']
    del sd['first.fc.bias']
    sd['extra.weight'] = sg.zeros(2)
    sd['first.fc.weight'] = sg.zeros(5, 3)
    sd['first.scale'] = sg.zeros(4, dtype=sg.float64)
    sd['first.norm.weight'] = sg.full((4,), 7.0)           # loadable, but nothing may load
    before = {k: v.numpy() for k, v in net.state_dict().items()}
    with pytest.raises(nn.StateDictError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    for text in ('missing key(s): first.fc.bias, head.weight', 'unexpected key(s): extra.weight',
                 'first.fc.weight: shape (5, 3) in the checkpoint, (4, 3) in the model',
                 'first.scale: dtype float64 in the checkpoint, float32 in the model', 'Net'):
        assert text in msg, msg
    assert err.value.missing_keys == ['first.fc.bias', 'head.weight']
    assert err.value.unexpected_keys == ['extra.weight']
    assert err.value.mismatched == ['first.scale', 'first.fc.weight']
    for k, v in net.state_dict().items():                   # nothing was loaded
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_non_strict():
    net = Net()
    sd = dict(net.state_dict())
    w = sd.pop('head.weight')
    sd['other'] = sg.zeros(1)
    sd['first.fc.weight'] = sg.full((4, 3), 2.0)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ['head.weight'] and res.unexpected_keys == ['other']
    assert (net.first.fc.weight.numpy() == 2.0).all()
    assert net.head.weight is not None and w is not None
    sd['first.fc.weight'] = sg.zeros(1, 3)
    with pytest.raises(nn.StateDictError, match='shape'):     # shapes are checked anyway
        net.load_state_dict(sd, strict=False)


def test_state_dict_shares_memory_like_torch():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    with sg.no_grad():
        lin.weight.data[...] = 3.0
    assert (sd['weight'].numpy() == 3.0).all()
    assert lin.state_dict(keep_vars=True)['weight'] is lin.weight


def test_repr_tree_like_torch():
    net = Net()
    expected = """Net(
  (first): Block(
    (fc): Linear(in_features=3, out_features=4, bias=True)
    (norm): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  )
  (act): Tanh()
  (head): Linear(in_features=4, out_features=2, bias=False)
)"""
    assert repr(net) == expected
    torch = pytest.importorskip('torch')
    t = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GroupNorm(2, 8),
                            torch.nn.SiLU(), torch.nn.Flatten(), torch.nn.Dropout(0.1),
                            torch.nn.Embedding(10, 4, padding_idx=0),
                            torch.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, bias=False),
                            torch.nn.LayerNorm(5), torch.nn.LeakyReLU(0.2), torch.nn.GELU('tanh'),
                            torch.nn.ModuleList([torch.nn.Identity()]),
                            torch.nn.ModuleDict({'a': torch.nn.ReLU()}),
                            torch.nn.BatchNorm2d(8, momentum=None))
    s = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU(), nn.Flatten(),
                      nn.Dropout(0.1), nn.Embedding(10, 4, padding_idx=0),
                      nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, bias=False),
                      nn.LayerNorm(5), nn.LeakyReLU(0.2), nn.GELU('tanh'),
                      nn.ModuleList([nn.Identity()]), nn.ModuleDict({'a': nn.ReLU()}),
                      nn.BatchNorm2d(8, momentum=None))
    assert repr(s) == repr(t)


def test_apply_visits_children_first():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ['Linear', 'BatchNorm1d', 'Block', 'Tanh', 'Linear', 'Net']

    def init_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    net.apply(init_linear)
    assert not net.head.weight.numpy().any() and not net.first.fc.weight.numpy().any()


def test_deepcopy_gives_an_independent_module():
    import copy
    net = Net()
    twin = copy.deepcopy(net)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert all(a is not b for a, b in zip(twin.parameters(), net.parameters()))
    with sg.no_grad():
        twin.head.weight.data[...] = 0
    assert net.head.weight.numpy().any()
    twin.to('emu')
    assert net.head.weight.device == 'cpu'


def test_requires_grad_toggle():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


# ----------------------------------------------------------------------------- containers
def test_sequential_indexing_len_append():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert len(seq) == 3 and seq[2] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    x = sg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError):
        seq[3]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([('enc', a), ('act', b)]))
    assert [n for n, _ in named.named_parameters()] == ['enc.weight', 'enc.bias']
    assert named.enc is a


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and [n for n, _ in ml.named_parameters()][:2] == ['0.weight', '0.bias']
    ml.append(nn.Tanh())
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and isinstance(ml[-1], nn.Tanh) and len(ml) == 5
    assert [n for n, _ in ml.named_children()] == ['0', '1', '2', '3', '4']
    with pytest.raises(NotImplementedError):
        ml(sg.zeros(1))
    md = nn.ModuleDict({'enc': nn.Linear(2, 2), 'dec': nn.Linear(2, 2)})
    assert list(md.keys()) == ['enc', 'dec'] and 'enc' in md and len(md) == 2
    md['act'] = nn.ReLU()
    assert list(md) == ['enc', 'dec', 'act']
    assert [n for n, _ in md.named_parameters()] == ['enc.weight', 'enc.bias', 'dec.weight',
                                                     'dec.bias']
    assert isinstance(md.pop('act'), nn.ReLU) and 'act' not in md
    with pytest.raises(KeyError, match='missing'):
        md['missing']


# ----------------------------------------------------------------------------- learning
@pytest.mark.parametrize('dev', ['cpu', 'emu'])
def test_tiny_mlp_learns_xor(dev):
    sg.manual_seed(1)
    x = sg.tensor([[0., 0.], [0., 1.], [1., 0.], [1., 1.]], device=dev)
    y = sg.tensor([[0.], [1.], [1.], [0.]], device=dev)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(dev)
    lr, first = 0.2, None
    for step in range(800):
        loss = ((model(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        with sg.no_grad():
            for p in model.parameters():
                p.data[...] = p.data - lr * p.grad.data
    assert first > 0.1
    assert loss.item() < 0.01, f"XOR loss {loss.item():.4f} after training (start {first:.4f})"
    np.testing.assert_array_equal(model(x).numpy() > 0.5, y.numpy() > 0.5)


def test_evaluating_restores_every_submodule_mode():
    """nn.evaluating(m): eval mode inside the block; afterwards each submodule is back in
    the mode it had (a mixed tree too), also when the block raises."""
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    m[1].eval()                                          # mixed: Linear training, Dropout not
    with nn.evaluating(m) as same:
        assert same is m and not any(x.training for x in m.modules())
    assert [x.training for x in m.modules()] == [True, True, False]
    with pytest.raises(KeyError):
        with nn.evaluating(m):
            raise KeyError('inside')
    assert [x.training for x in m.modules()] == [True, True, False]
    with pytest.raises(TypeError, match='evaluating: expected a Module'):
        with nn.evaluating(3):
            pass
