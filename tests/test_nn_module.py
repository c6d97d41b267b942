"""tt.nn (module 02): Parameter and Module (registration, traversal, modes, state_dict),
Linear and the other layers, containers, losses and nn.init.

Layers are checked against numpy oracles on every CPU backend, gradients with gradcheck in
float64, and (when torch is importable) against PyTorch: same weights give the same
outputs, and the reprs print the same text. Bad input raises before any kernel runs: the
``spy`` fixture replaces every kernel by one that records the call.
"""

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.testing import assert_close, gradcheck
from tinytorch.testing import assert_raises as raises

# --- helpers ------------------------------------------------------------------------------







def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install -e "
                                               "'.[compare]'")


class Block(nn.Module):
    """Own parameters, a persistent and a non-persistent buffer, and two children."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(tt.ones(3))
        self.register_buffer("running", tt.zeros(3))
        self.register_buffer("scratch", tt.zeros(2), persistent=False)
        self.inner = nn.Linear(3, 2)
        self.act = nn.ReLU()
        self.shift = nn.Parameter(tt.zeros(3))  # registered after the children

    def forward(self, x):
        return self.act(self.inner(x * self.scale + self.shift))


class Scale(nn.Module):
    """A layer computed with tensor ops only (no nn.functional)."""

    def __init__(self, n, dtype=tt.float32):
        super().__init__()
        self.w = nn.Parameter(tt.ones(n, dtype=dtype))

    def forward(self, x):
        return x * self.w


def np_params(layer):
    return layer.weight.numpy().astype(np.float64), (
        None if layer.bias is None else layer.bias.numpy().astype(np.float64))


# --- Parameter ----------------------------------------------------------------------------


def test_parameter_is_a_leaf_tensor_sharing_storage():
    t = tt.arange(4.0)
    p = nn.Parameter(t)
    assert isinstance(p, tt.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.shares_storage(t)
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    made = tt.ones(2, requires_grad=True) * 2  # has history: the parameter drops it
    q = nn.Parameter(made)
    assert q.is_leaf and q.grad_fn is None
    assert type(p * 2) is tt.Tensor  # ops give plain tensors
    assert nn.Parameter().shape == (0,)


def test_parameter_repr_and_errors():
    assert repr(nn.Parameter(tt.tensor([1.0, 2.0]))) == (
        "Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    raises(TypeError, lambda: nn.Parameter([1.0, 2.0]), "takes a Tensor, got list",
           "tt.tensor")
    raises(TypeError, lambda: nn.Parameter(tt.ones(2), requires_grad="yes"), "bool")
    raises(TypeError, lambda: nn.Parameter(tt.ones(2, dtype=tt.int64)), "floating point")


# --- registration and traversal -----------------------------------------------------------


def test_registration_and_traversal_order():
    b = Block()
    assert [n for n, _ in b.named_parameters()] == [
        "scale", "shift", "inner.weight", "inner.bias"]
    assert [n for n, _ in b.named_buffers()] == ["running", "scratch"]
    assert [n for n, _ in b.named_children()] == ["inner", "act"]
    assert list(b.children()) == [b.inner, b.act]
    assert [n for n, _ in b.named_modules()] == ["", "inner", "act"]
    assert list(b.modules()) == [b, b.inner, b.act]
    assert [n for n, _ in b.named_parameters(recurse=False)] == ["scale", "shift"]
    assert [n for n, _ in b.named_parameters(prefix="model")][0] == "model.scale"
    assert list(b.parameters()) == [b.scale, b.shift, b.inner.weight, b.inner.bias]
    assert list(b.buffers()) == [b.running, b.scratch]
    # registered names are attributes, and live in exactly one table
    assert b.scale is b._parameters["scale"] and b.running is b._buffers["running"]
    assert "scale" not in b.__dict__ and "inner" in dir(b)
    raises(AttributeError, lambda: b.missing, "'Block' object has no attribute 'missing'")


def test_nested_dotted_names():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert [n for n, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "1.1.weight", "1.1.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "0", "1", "1.0", "1.1"]


def test_shared_parameters_and_modules_are_counted_once():
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(net.parameters())) == 2
    assert [n for n, _ in net.named_modules()] == ["", "0", "1"]
    assert len(list(net.named_modules(remove_duplicate=False))) == 4
    assert len(list(net.named_children())) == 2
    # weight tying between two different modules
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    tied = nn.Sequential(a, b)
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    # state_dict keeps every name, as PyTorch's does (loading writes the shared tensor twice)
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert sum(p.numel() for p in tied.parameters()) == 9 + 3 + 3


def test_setattr_rules():
    b = Block()
    err = raises(TypeError, lambda: setattr(b, "scale", tt.zeros(3)),
                 "cannot assign Tensor as parameter 'scale' of Block", "nn.Parameter(value)",
                 "tt.no_grad()")
    assert "hint" in str(err)
    raises(TypeError, lambda: setattr(b, "scale", 3.0), "parameter 'scale'")
    raises(TypeError, lambda: setattr(b, "inner", 3), "child module 'inner'")
    raises(TypeError, lambda: setattr(b, "running", [0.0]), "buffer 'running'")
    b.running = tt.ones(3)  # a tensor may replace a buffer
    assert b.running.tolist() == [1.0] * 3 and "running" in b._buffers
    # replacing a parameter keeps its place in the order
    new = nn.Parameter(tt.zeros(3))
    b.scale = new
    assert b.scale is new and list(b._parameters) == ["scale", "shift"]
    b.scale = None
    assert [n for n, _ in b.named_parameters(recurse=False)] == ["shift"]
    # a module cannot take a parameter's name (as PyTorch), but a parameter may take a
    # module's name: it replaces the child
    raises(TypeError, lambda: setattr(b, "shift", nn.Tanh()), "Tanh as parameter 'shift'")
    b.act = nn.Parameter(tt.ones(1))
    assert "act" not in b._modules and list(b._parameters) == ["scale", "shift", "act"]
    # plain attributes stay plain (a non-Parameter tensor under a new name included)
    b.note, b.cache = "hello", tt.ones(1)
    assert b.note == "hello" and "cache" not in b._buffers
    del b.inner
    assert "inner" not in b._modules
    raises(AttributeError, lambda: b.inner)
    del b.note
    assert not hasattr(b, "note")


def test_register_checks_names_and_types():
    m = nn.Module()
    raises(TypeError, lambda: m.register_parameter(1, None), "must be a string")
    raises(ValueError, lambda: m.register_parameter("", None), "empty")
    raises(ValueError, lambda: m.register_parameter("a.b", None), "\".\"", "state_dict")
    raises(TypeError, lambda: m.register_parameter("w", tt.ones(2)), "nn.Parameter(t)")
    raises(TypeError, lambda: m.register_buffer("b", [1, 2]), "list", "buffer 'b'")
    raises(TypeError, lambda: m.register_buffer("b", tt.ones(1), persistent=1), "bool")
    raises(TypeError, lambda: m.add_module("c", lambda x: x), "function",
           "not a Module subclass")
    m.plain = 1
    raises(ValueError, lambda: m.register_buffer("plain", tt.ones(1)), "already exists")
    raises(ValueError, lambda: m.register_parameter("forward", None), "already exists")
    m.register_buffer("b", tt.ones(1))
    raises(ValueError, lambda: m.register_parameter("b", None), "already exists")
    m.register_buffer("b", tt.zeros(1), persistent=False)  # re-registering is allowed
    assert list(m.state_dict()) == []


def test_assigning_before_super_init_is_explained():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tt.ones(1))

    raises(AttributeError, Forgot, "before Module.__init__() call", "super().__init__()")


def test_forward_is_required_and_call_runs_forward():
    raises(NotImplementedError, lambda: nn.Module()(tt.ones(1)),
           'Module [Module] is missing the required "forward" function')
    assert Scale(2)(tt.tensor([2.0, 3.0])).tolist() == [2.0, 3.0]


def test_train_eval_recurse_and_return_self():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)), Block())
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net[1].train(False)
    assert net.training and not net[1].training and not net[1][0].training
    raises(TypeError, lambda: net.train("no"), "mode must be a bool")


def test_zero_grad_drops_or_zeroes_in_place():
    m = Scale(3)
    (m(tt.tensor([1.0, 2.0, 3.0]))).sum().backward()
    grad = m.w.grad
    assert grad.tolist() == [1.0, 2.0, 3.0]
    m.zero_grad(set_to_none=False)
    assert m.w.grad is grad and grad.tolist() == [0.0, 0.0, 0.0]
    m.zero_grad()
    assert m.w.grad is None
    m.zero_grad()  # nothing to clear is fine


def test_requires_grad_and_apply():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())
    raises(TypeError, lambda: net.requires_grad_("yes"), "bool")
    visited = []
    assert net.apply(lambda m: visited.append(type(m).__name__)) is net
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]  # children first
    raises(TypeError, lambda: net.apply(3), "callable")


# --- state_dict ---------------------------------------------------------------------------


def test_state_dict_contents_and_order():
    b = Block()
    sd = b.state_dict()
    assert isinstance(sd, OrderedDict)
    # own parameters, own persistent buffers, then the children's (PyTorch's order)
    assert list(sd) == ["scale", "shift", "running", "inner.weight", "inner.bias"]
    assert all(type(v) is tt.Tensor and not v.requires_grad for v in sd.values())
    assert sd["scale"].shares_storage(b.scale)  # detached, not copied
    assert b.state_dict(keep_vars=True)["scale"] is b.scale
    assert list(b.state_dict(prefix="blk."))[0] == "blk.scale"


def test_state_dict_round_trip():
    tt.manual_seed(1)
    src = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    tt.manual_seed(2)
    dst = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    weight = dst[0].weight
    assert not np.array_equal(src[0].weight.numpy(), weight.numpy())
    assert dst.load_state_dict(src.state_dict()) == ([], [])
    for (n1, p1), (n2, p2) in zip(src.named_parameters(), dst.named_parameters(), strict=True):
        assert n1 == n2
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())
        assert not p1.shares_storage(p2)  # copied in, not aliased
    assert dst[0].weight is weight and weight.requires_grad and weight.is_leaf
    # through numpy arrays (the .npz route, no pickle) and float64 values cast on load
    arrays = {k: v.numpy().astype(np.float64) for k, v in src.state_dict().items()}
    tt.manual_seed(3)
    third = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    third.load_state_dict({k: tt.tensor(a) for k, a in arrays.items()})
    assert third[2].bias.dtype == tt.float32
    np.testing.assert_array_equal(third[2].bias.numpy(), src[2].bias.numpy())
    # loading a model's own state (source and target share memory) changes nothing
    before = src[0].weight.numpy().copy()
    src.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(src[0].weight.numpy(), before)
    # buffers travel too
    a, b = Block(), Block()
    with tt.no_grad():
        a.running[...] = 7.0
    b.load_state_dict(a.state_dict())
    assert b.running.tolist() == [7.0] * 3 and b.scratch.tolist() == [0.0, 0.0]


def test_load_state_dict_reports_every_problem_at_once():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = OrderedDict(net.state_dict())
    good = tt.full((3, 2), 9.0)
    sd["0.weight"] = good                      # fine on its own
    del sd["0.bias"]                           # missing
    del sd["2.bias"]                           # missing
    sd["3.weight"] = tt.ones(1)                # unexpected
    sd["extra"] = tt.ones(1)                   # unexpected
    sd["2.weight"] = tt.ones(3, 3)             # wrong shape
    err = raises(nn.LoadStateDictError, lambda: net.load_state_dict(sd))
    assert isinstance(err, ValueError)
    lines = str(err).split("\n")
    assert lines[0] == "Error(s) in loading state_dict for Sequential:"
    assert lines[1:6] == [
        '\tMissing key in state_dict: "0.bias".',
        '\tMissing key in state_dict: "2.bias".',
        '\tUnexpected key in state_dict: "3.weight".',
        '\tUnexpected key in state_dict: "extra".',
        "\tsize mismatch for 2.weight: copying a param with shape (3, 3) from checkpoint, "
        "the shape in current model is (2, 3).",
    ]
    assert lines[6].startswith("hint: nothing was copied; strict=False")
    assert err.missing_keys == ["0.bias", "2.bias"]
    assert err.unexpected_keys == ["3.weight", "extra"]
    assert err.size_mismatches == [("2.weight", (3, 3), (2, 3))]
    # nothing was copied, not even the one valid entry
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_non_strict():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    sd = {"0.weight": tt.full((3, 2), 0.5), "unused": tt.ones(2)}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["0.bias", "2.weight", "2.bias"] and unexpected == ["unused"]
    assert net[0].weight.tolist() == [[0.5, 0.5]] * 3
    # shape mismatches are still refused, and only they are listed
    sd["2.bias"] = tt.ones(5)
    err = raises(nn.LoadStateDictError, lambda: net.load_state_dict(sd, strict=False),
                 "size mismatch for 2.bias: copying a param with shape (5,) from checkpoint, "
                 "the shape in current model is (2,).", "even with strict=False")
    assert "Missing" not in str(err) and "Unexpected" not in str(err)


def test_load_state_dict_bad_input_runs_no_kernel(spy):
    with tt.backend("numpy"):  # building the layer runs the copy kernel (its init)
        net = nn.Sequential(nn.Linear(2, 2))
    raises(TypeError, lambda: net.load_state_dict([("0.weight", tt.ones(2, 2))]),
           "mapping", "list")
    raises(TypeError, lambda: net.load_state_dict({"0.weight": np.ones((2, 2)),
                                                   "0.bias": tt.ones(2)}),
           "'0.weight' is a ndarray, not a Tensor", "tt.tensor")
    raises(TypeError, lambda: net.load_state_dict({}, strict="no"), "strict must be a bool")
    raises(nn.LoadStateDictError, lambda: net.load_state_dict({"0.weight": tt.ones(2, 3),
                                                               "0.bias": tt.ones(2)}),
           "size mismatch for 0.weight")
    raises(nn.LoadStateDictError, lambda: net.load_state_dict({"0.weight": tt.ones(2, 2)}),
           'Missing key in state_dict: "0.bias"')


def test_load_state_dict_copies_through_the_copy_kernel():
    net = nn.Linear(2, 2)
    sd = {"weight": tt.ones(2, 2), "bias": tt.zeros(2)}
    calls = []

    def copy_counting(out, x):
        calls.append(out.shape)
        out[...] = x

    # a backend with nothing but a copy kernel: any other kernel would raise BackendError
    tt.register_kernel("copy_forward", "counting", copy_counting)
    with tt.backend("counting"):
        net.load_state_dict(sd)
    assert len(calls) == 2
    assert net.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]] and net.bias.tolist() == [0.0, 0.0]


# --- repr ---------------------------------------------------------------------------------


def test_repr_nested_and_extra_repr():
    net = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1),
        nn.Sequential(nn.Linear(128, 10, bias=False), nn.LogSoftmax(dim=1)),
        nn.Flatten(), nn.Identity(), nn.LeakyReLU(), nn.GELU("tanh"), nn.Softmax(-1),
        nn.Sigmoid(), nn.Tanh(), nn.MSELoss(), nn.CrossEntropyLoss(), nn.NLLLoss(),
        nn.BCEWithLogitsLoss())
    assert repr(net) == """Sequential(
  (0): Linear(in_features=64, out_features=128, bias=True)
  (1): ReLU()
  (2): Dropout(p=0.1, inplace=False)
  (3): Sequential(
    (0): Linear(in_features=128, out_features=10, bias=False)
    (1): LogSoftmax(dim=1)
  )
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Identity()
  (6): LeakyReLU(negative_slope=0.01)
  (7): GELU(approximate='tanh')
  (8): Softmax(dim=-1)
  (9): Sigmoid()
  (10): Tanh()
  (11): MSELoss()
  (12): CrossEntropyLoss()
  (13): NLLLoss()
  (14): BCEWithLogitsLoss()
)"""
    assert repr(nn.Sequential()) == "Sequential()"
    assert repr(nn.ModuleList()) == "ModuleList()"


def test_repr_custom_module_with_multiline_extra_repr_and_folded_modulelist():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()])
            self.head = None

        def extra_repr(self):
            return "a=1\nb=2"

    m = Custom()
    m.add_module("empty", None)
    assert repr(m) == """Custom(
  a=1
  b=2
  (blocks): ModuleList(
    (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)
    (2): ReLU()
  )
  (empty): None
)"""


# --- nn.init ------------------------------------------------------------------------------


def test_calculate_gain():
    assert nn.init.calculate_gain("linear") == 1.0
    assert nn.init.calculate_gain("conv2d") == 1.0
    assert nn.init.calculate_gain("sigmoid") == 1.0
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 1e-4)))
    assert nn.init.calculate_gain("leaky_relu", 5 ** 0.5) == pytest.approx(math.sqrt(1 / 3))
    assert nn.init.calculate_gain("selu") == 0.75
    raises(ValueError, lambda: nn.init.calculate_gain("swish"), "unsupported nonlinearity "
           "'swish'", "relu")
    raises(TypeError, lambda: nn.init.calculate_gain("leaky_relu", "0.1"), "number")
    raises(TypeError, lambda: nn.init.calculate_gain(None), "string")


def _stats(t):
    v = t.numpy().astype(np.float64)
    return v.min(), v.max(), v.mean(), v.std()


def test_uniform_and_normal_statistics():
    tt.manual_seed(0)
    lo, hi, mean, std = _stats(nn.init.uniform_(tt.empty(200_000), -2.0, 1.0))
    assert -2.0 <= lo and hi <= 1.0 and lo < -1.99 and hi > 0.99
    assert mean == pytest.approx(-0.5, abs=0.02)
    assert std == pytest.approx(3 / math.sqrt(12), rel=0.01)
    _, _, mean, std = _stats(nn.init.normal_(tt.empty(400, 500), mean=1.5, std=0.2))
    assert mean == pytest.approx(1.5, abs=0.005) and std == pytest.approx(0.2, rel=0.01)
    _, _, mean, std = _stats(nn.init.normal_(tt.empty(100_000, dtype=tt.float64)))
    assert mean == pytest.approx(0.0, abs=0.02) and std == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3)], ids=["linear", "conv"])
def test_xavier_and_kaiming_statistics(shape):
    receptive = math.prod(shape[2:])
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    tt.manual_seed(0)
    bound = math.sqrt(6 / (fan_in + fan_out)) * 2.0
    lo, hi, mean, std = _stats(nn.init.xavier_uniform_(tt.empty(*shape), gain=2.0))
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound
    assert mean == pytest.approx(0, abs=0.01 * bound)
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.02)
    _, _, _, std = _stats(nn.init.xavier_normal_(tt.empty(*shape)))
    assert std == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    lo, hi, _, std = _stats(nn.init.kaiming_uniform_(tt.empty(*shape), nonlinearity="relu"))
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.02)
    _, _, _, std = _stats(nn.init.kaiming_normal_(tt.empty(*shape), mode="fan_out",
                                                  nonlinearity="relu"))
    assert std == pytest.approx(math.sqrt(2 / fan_out), rel=0.02)
    lo, hi, _, _ = _stats(nn.init.kaiming_uniform_(tt.empty(*shape), a=math.sqrt(5)))
    assert -1 / math.sqrt(fan_in) <= lo and hi <= 1 / math.sqrt(fan_in)  # Linear's default
    # leaky_relu default: gain sqrt(2 / (1 + a^2)) with a = 0 -> sqrt(2)
    _, _, _, std = _stats(nn.init.kaiming_normal_(tt.empty(*shape)))
    assert std == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)


def test_init_is_in_place_seeded_and_writes_through_views():
    p = nn.Parameter(tt.zeros(4, 6))
    assert nn.init.kaiming_uniform_(p) is p  # fine on a leaf that requires grad
    assert p.requires_grad and p.is_leaf
    tt.manual_seed(5)
    a = nn.init.normal_(tt.empty(3, 3)).numpy().copy()
    tt.manual_seed(5)
    b = nn.init.normal_(tt.empty(3, 3)).numpy()
    np.testing.assert_array_equal(a, b)
    base = tt.zeros(4, 6)
    nn.init.ones_(base[:, ::2])  # a strided view: the copy kernel follows the strides
    assert base.numpy()[:, ::2].tolist() == [[1.0] * 3] * 4
    assert base.numpy()[:, 1::2].sum() == 0.0
    assert nn.init.constant_(tt.empty(2, dtype=tt.float64), 0.125).tolist() == [0.125] * 2
    assert nn.init.zeros_(tt.ones(2, 2)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert nn.init.constant_(tt.zeros(2, dtype=tt.int64), 3).tolist() == [3, 3]
    assert nn.init.xavier_uniform_(tt.empty(0, 3)).shape == (0, 3)


def test_init_errors():
    raises(ValueError, lambda: nn.init.xavier_uniform_(tt.empty(5)), "fewer than 2 "
           "dimensions", "(5,)", "hint")
    raises(ValueError, lambda: nn.init.kaiming_normal_(tt.empty(())), "fewer than 2")
    raises(ValueError, lambda: nn.init.kaiming_uniform_(tt.empty(3, 3), mode="fan_avg"),
           "mode 'fan_avg' not supported", "fan_in, fan_out")
    raises(ValueError, lambda: nn.init.kaiming_uniform_(tt.empty(3, 3), nonlinearity="elu"),
           "unsupported nonlinearity 'elu'")
    raises(TypeError, lambda: nn.init.uniform_(np.zeros(3)), "expected a Tensor, got ndarray")
    raises(TypeError, lambda: nn.init.normal_(tt.zeros(3, dtype=tt.int64)), "floating point")
    raises(ValueError, lambda: nn.init.uniform_(tt.empty(3), 1.0, 0.0), "a <= b")
    raises(ValueError, lambda: nn.init.normal_(tt.empty(3), std=-1.0), "std must be >= 0")
    raises(ValueError, lambda: nn.init.normal_(tt.empty(3), mean=float("nan")), "finite")
    raises(TypeError, lambda: nn.init.uniform_(tt.empty(3), "0", 1), "a must be a number")
    raises(TypeError, lambda: nn.init.constant_(tt.empty(3), None), "val must be a number")


# --- Linear -------------------------------------------------------------------------------


def test_linear_default_init_matches_pytorch_scheme():
    tt.manual_seed(0)
    layer = nn.Linear(256, 512)
    assert layer.weight.shape == (512, 256) and layer.bias.shape == (512,)
    assert layer.weight.dtype == tt.float32 and layer.weight.requires_grad
    bound = 1 / math.sqrt(256)
    lo, hi, mean, std = _stats(layer.weight)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound
    assert mean == pytest.approx(0, abs=0.01 * bound)
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.01)
    lo, hi, _, _ = _stats(layer.bias)
    assert -bound <= lo and hi <= bound
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert nn.Linear(3, 2, dtype=tt.float64).weight.dtype == tt.float64
    assert nn.Linear(np.int64(3), 2).in_features == 3


def test_seeds_give_identical_models():
    def make():
        return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))

    tt.manual_seed(42)
    a = make()
    tt.manual_seed(42)
    b = make()
    c = make()  # the generator moved on: different weights
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
        assert not np.array_equal(pa.numpy(), pc.numpy())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 5), (5,), (2, 3, 5), (1, 5)], ids=str)
def test_linear_forward_matches_numpy(backend, rng, shape, bias):
    tt.manual_seed(0)
    layer = nn.Linear(5, 3, bias=bias)
    x = tt.tensor(rng.standard_normal(shape), dtype=tt.float32)
    w, b = np_params(layer)
    expected = x.numpy().astype(np.float64) @ w.T + (0 if b is None else b)
    out = layer(x)
    assert out.shape == shape[:-1] + (3,) and out.dtype == tt.float32
    assert_close(out, expected.astype(np.float32))


def test_linear_forward_on_a_non_contiguous_input(backend, rng):
    layer = nn.Linear(3, 2, dtype=tt.float64)
    x = tt.tensor(rng.standard_normal((3, 4)), dtype=tt.float64).T  # (4, 3), strided
    w, b = np_params(layer)
    assert_close(layer(x), x.numpy() @ w.T + b)


def test_linear_bad_arguments():
    for bad in (2.5, "3", None, True):
        raises(TypeError, lambda bad=bad: nn.Linear(bad, 2), "in_features must be an int")
    raises(TypeError, lambda: nn.Linear(2, 3.0), "out_features must be an int", "float")
    raises(ValueError, lambda: nn.Linear(0, 2), "in_features must be positive, got 0")
    raises(ValueError, lambda: nn.Linear(2, -1), "out_features must be positive, got -1")
    raises(TypeError, lambda: nn.Linear(2, 2, bias=1), "bias must be a bool")
    raises(TypeError, lambda: nn.Linear(2, 2, dtype=tt.int64), "floating point", "int64")
    raises(TypeError, lambda: nn.Linear(2, 2, dtype="complex"), "unsupported dtype")


def test_linear_wrong_input_raises_before_any_kernel(spy):
    with tt.backend("numpy"):  # building a layer runs the copy kernel (its init)
        layer, first = nn.Linear(64, 128), nn.Linear(4, 2)
    raises(ValueError, lambda: layer(tt.ones(32, 63)), "in_features=64", "(32, 63)",
           "last dimension")
    raises(ValueError, lambda: layer(tt.ones(64, 32)), "(64, 32)")
    raises(ValueError, lambda: layer(tt.tensor(1.0)), "got shape ()")
    raises(TypeError, lambda: layer(np.ones((2, 64))), "must be a Tensor, got ndarray")
    raises(ValueError, lambda: nn.Sequential(first, layer)(tt.ones(3, 5)),
           "in_features=4", "(3, 5)")


def test_mismatched_layers_in_a_sequential_name_the_failing_layer():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(4, 2))
    raises(ValueError, lambda: net(tt.ones(3, 4)), "Linear(in_features=4, out_features=2)",
           "got shape (3, 8)")


def test_gradcheck_small_sequential(backend, rng):
    tt.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 4, dtype=tt.float64), nn.Tanh(),
                        nn.Linear(4, 2, dtype=tt.float64), nn.Sigmoid())
    x = tt.tensor(rng.standard_normal((2, 3)), dtype=tt.float64, requires_grad=True)
    params = list(net.parameters())
    assert gradcheck(lambda x, *ps: net(x), [x, *params])
    for p in params:
        assert p.grad is None  # gradcheck leaves .grad as it was


def test_backward_fills_every_parameter_grad(backend, rng):
    tt.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = net(tt.tensor(rng.standard_normal((5, 3)), dtype=tt.float32)).sum()
    loss.backward()
    assert [p.grad.shape for p in net.parameters()] == [(4, 3), (4,), (2, 4), (2,)]
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- containers ---------------------------------------------------------------------------


def test_sequential_indexing_slicing_and_editing():
    l0, act, l2 = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    net = nn.Sequential(l0, act, l2)
    assert len(net) == 3 and list(net) == [l0, act, l2]
    assert net[0] is l0 and net[-1] is l2 and net[np.int64(1)] is act
    tail = net[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [act, l2]
    assert list(tail._modules) == ["1", "2"]  # names kept, as PyTorch
    assert list(net[::2]) == [l0, l2] and len(net[5:]) == 0
    raises(IndexError, lambda: net[3], "index 3 is out of range", "length 3")
    raises(IndexError, lambda: net[-4], "out of range")
    raises(TypeError, lambda: net["0"], "integers or slices", "str")
    tanh = nn.Tanh()
    net[1] = tanh
    assert list(net._modules) == ["0", "1", "2"] and net[1] is tanh
    raises(TypeError, lambda: net.__setitem__(1, "relu"), "is a str, not a Module")
    del net[0]
    assert list(net._modules) == ["0", "1"] and list(net) == [tanh, l2]
    del net[:]
    assert len(net) == 0
    assert net.append(l0).append(act) is net and list(net._modules) == ["0", "1"]
    tail.append(tanh)  # names "1", "2" taken: the new one must not replace a layer
    assert list(tail) == [act, l2, tanh] and list(tail._modules) == ["1", "2", "3"]


def test_sequential_from_ordered_dict():
    net = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias"]
    assert isinstance(net.act, nn.ReLU)
    raises(TypeError, lambda: nn.Sequential(OrderedDict(fc=3)), "key 'fc'", "int")


def test_containers_refuse_non_modules_naming_type_and_position():
    raises(TypeError, lambda: nn.Sequential(nn.ReLU(), lambda x: x),
           "Sequential(): argument at position 1 is a function, not a Module", "hint")
    raises(TypeError, lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU), "position 1",
           "the class ReLU, not a Module instance", "nn.ReLU(...)")
    raises(TypeError, lambda: nn.Sequential().append(tt.ones(2)), "position 0",
           "is a Tensor")
    raises(TypeError, lambda: nn.ModuleList([nn.ReLU(), nn.Tanh(), "relu"]),
           "ModuleList: the item at position 2 is a str, not a Module")
    ml = nn.ModuleList([nn.ReLU()])
    raises(TypeError, lambda: ml.extend([nn.Tanh(), 5]), "position 2 is a int")
    assert len(ml) == 1  # extend checks everything before adding anything
    raises(TypeError, lambda: ml.append(None), "position 1", "NoneType")
    raises(TypeError, lambda: ml.insert(0, 1.0), "float")
    raises(TypeError, lambda: ml.extend(nn.Linear(2, 2)), "iterable", "got Linear",
           "append()")


def test_modulelist_operations():
    a, b, c, d = nn.Linear(2, 2), nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    ml = nn.ModuleList([a, b])
    assert len(ml) == 2 and list(ml) == [a, b] and ml[0] is a and ml[-1] is b
    assert ml.append(c) is ml and ml.extend([d]) is ml
    assert list(ml) == [a, b, c, d] and list(ml._modules) == ["0", "1", "2", "3"]
    ml.insert(1, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Linear", "Identity", "ReLU", "Tanh", "Sigmoid"]
    ml.insert(-1, nn.GELU())  # list semantics: before the last entry
    assert type(ml[4]).__name__ == "GELU" and ml[5] is d
    ml.insert(100, nn.Flatten())
    assert type(ml[-1]).__name__ == "Flatten"
    assert list(ml._modules) == [str(i) for i in range(7)]
    assert ml.index(c) == 3
    raises(ValueError, lambda: ml.index(nn.ReLU()), "not in this ModuleList")
    sub = ml[1:3]
    assert isinstance(sub, nn.ModuleList) and list(sub._modules) == ["0", "1"]
    ml[0] = b
    assert ml[0] is b
    del ml[0]
    del ml[1:3]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    ml += [nn.ReLU()]
    assert len(ml) == 5
    raises(IndexError, lambda: ml[5], "out of range")
    raises(TypeError, lambda: ml.insert("0", nn.ReLU()), "index must be an int")
    # a ModuleList registers its entries but has no forward of its own
    owner = nn.Module()
    owner.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    assert [n for n, _ in owner.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    raises(NotImplementedError, lambda: owner.layers(tt.ones(2)),
           'Module [ModuleList] is missing the required "forward" function')


# --- activations, layers and losses against numpy -----------------------------------------


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


ACTIVATIONS = {
    "ReLU": (lambda: nn.ReLU(), lambda x: np.maximum(x, 0)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "Tanh": (lambda: nn.Tanh(), np.tanh),
    "GELU": (lambda: nn.GELU(), lambda x: _np_gelu(x, "none")),
    "GELU-tanh": (lambda: nn.GELU(approximate="tanh"), lambda x: _np_gelu(x, "tanh")),
    "Softmax": (lambda: nn.Softmax(dim=1), lambda x: _np_softmax(x, 1)),
    "Softmax0": (lambda: nn.Softmax(dim=0), lambda x: _np_softmax(x, 0)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), lambda x: np.log(_np_softmax(x, -1))),
    "Identity": (lambda: nn.Identity(), lambda x: x),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_modules_match_numpy(backend, rng, name):
    make, oracle = ACTIVATIONS[name]
    x = tt.tensor(rng.standard_normal((3, 4)) * 2, dtype=tt.float64)
    assert_close(make()(x), oracle(x.numpy()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradcheck_activation_modules(backend, rng, name):
    make, _ = ACTIVATIONS[name]
    x = tt.tensor(rng.uniform(0.1, 1.5, (2, 3)) * rng.choice([-1, 1], (2, 3)),
                  dtype=tt.float64, requires_grad=True)  # away from relu's kink
    assert gradcheck(make(), [x])


def test_activation_constructor_errors():
    raises(ValueError, lambda: nn.ReLU(inplace=True), "not supported", "ReLU()")
    raises(TypeError, lambda: nn.LeakyReLU("0.1"), "negative_slope must be a number")
    raises(ValueError, lambda: nn.LeakyReLU(float("inf")), "finite")
    raises(ValueError, lambda: nn.GELU("fast"), "'none' or 'tanh'")
    raises(TypeError, lambda: nn.Softmax(1.0), "dim must be an int", "dim=-1")
    raises(TypeError, lambda: nn.LogSoftmax(None), "dim must be an int")
    raises(TypeError, nn.Softmax)  # dim is required


def test_flatten_matches_numpy(backend):
    x = tt.arange(24.0).reshape(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Flatten(0, -1)(x).tolist() == x.numpy().reshape(-1).tolist()
    raises(TypeError, lambda: nn.Flatten(1.0), "start_dim must be an int")


def test_dropout_train_and_eval(backend):
    tt.manual_seed(0)
    drop = nn.Dropout(p=0.25)
    x = tt.ones(8, 50)
    y = drop(x).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert 0.15 < (y == 0).mean() < 0.35
    drop.eval()
    assert drop(x).tolist() == x.tolist()
    assert nn.Dropout(0.0)(x).tolist() == x.tolist()
    raises(ValueError, lambda: nn.Dropout(1.5), "between 0 and 1", "1.5")
    raises(ValueError, lambda: nn.Dropout(float("nan")), "between 0 and 1")
    raises(TypeError, lambda: nn.Dropout("0.5"), "p must be a number")
    raises(ValueError, lambda: nn.Dropout(0.5, inplace=True), "not supported")


def test_dropout_follows_the_seed():
    tt.manual_seed(9)
    a = nn.Dropout(0.5)(tt.ones(100)).tolist()
    tt.manual_seed(9)
    assert nn.Dropout(0.5)(tt.ones(100)).tolist() == a


def _np_log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _reduce(losses, reduction, denominator=None):
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.size if denominator is None else denominator)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_numpy(backend, rng, reduction):
    x = tt.tensor(rng.standard_normal((3, 4)), dtype=tt.float64)
    y = tt.tensor(rng.standard_normal((3, 4)), dtype=tt.float64)
    expected = _reduce((x.numpy() - y.numpy()) ** 2, reduction)
    assert_close(nn.MSELoss(reduction=reduction)(x, y), expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_match_numpy(backend, rng, reduction):
    logits = rng.standard_normal((5, 4)) * 2
    target = np.array([0, 3, -100, 1, 3])
    x, t = tt.tensor(logits, dtype=tt.float64), tt.tensor(target)
    logp = _np_log_softmax(logits)
    keep = target != -100
    picked = np.where(keep, -logp[np.arange(5), np.where(keep, target, 0)], 0.0)
    expected = _reduce(picked, reduction, keep.sum())
    assert_close(nn.CrossEntropyLoss(reduction=reduction)(x, t), expected, rtol=1e-6)
    assert_close(nn.NLLLoss(reduction=reduction)(tt.tensor(logp), t), expected, rtol=1e-6)
    # label smoothing: (1 - s) * nll + s * mean over classes of -log p
    s = 0.2
    smooth = np.where(keep, (1 - s) * picked + s * -logp.mean(axis=1), 0.0)
    assert_close(nn.CrossEntropyLoss(reduction=reduction, label_smoothing=s)(x, t),
                 _reduce(smooth, reduction, keep.sum()), rtol=1e-6)
    nll = nn.NLLLoss(ignore_index=3, reduction=reduction)(tt.tensor(logp), tt.tensor([0, 3, 2,
                                                                                   1, 3]))
    keep3 = np.array([True, False, True, True, False])
    picked3 = np.where(keep3, -logp[np.arange(5), [0, 0, 2, 1, 0]], 0.0)
    assert_close(nll, _reduce(picked3, reduction, keep3.sum()), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_numpy(backend, rng, reduction):
    logits = rng.standard_normal((4, 3)) * 3
    target = rng.uniform(0, 1, (4, 3))
    pos_weight = np.array([1.0, 2.0, 0.5])
    x, y = tt.tensor(logits, dtype=tt.float64), tt.tensor(target, dtype=tt.float64)
    log_sig = -np.logaddexp(0, -logits)
    log_one_minus = -np.logaddexp(0, logits)
    plain = -(target * log_sig + (1 - target) * log_one_minus)
    weighted = -(pos_weight * target * log_sig + (1 - target) * log_one_minus)
    assert_close(nn.BCEWithLogitsLoss(reduction=reduction)(x, y), _reduce(plain, reduction),
                 rtol=1e-6)
    loss = nn.BCEWithLogitsLoss(reduction=reduction,
                                pos_weight=tt.tensor(pos_weight, dtype=tt.float64))
    assert_close(loss(x, y), _reduce(weighted, reduction), rtol=1e-6)


def test_gradcheck_losses(backend, rng):
    x = tt.tensor(rng.standard_normal((3, 4)), dtype=tt.float64, requires_grad=True)
    y = tt.tensor(rng.standard_normal((3, 4)), dtype=tt.float64)
    target = tt.tensor([1, 0, 3])
    assert gradcheck(nn.MSELoss(), [x, y])
    assert gradcheck(lambda x: nn.CrossEntropyLoss(label_smoothing=0.1)(x, target), [x])
    assert gradcheck(lambda x: nn.NLLLoss(reduction="sum")(x, target), [x])
    probs = tt.tensor(rng.uniform(0, 1, (3, 4)), dtype=tt.float64)
    assert gradcheck(lambda x: nn.BCEWithLogitsLoss()(x, probs), [x])


def test_loss_modules_state_and_errors():
    loss = nn.BCEWithLogitsLoss(pos_weight=tt.tensor([2.0, 3.0]))
    assert list(loss.state_dict()) == ["pos_weight"] and list(loss.parameters()) == []
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    ce = nn.CrossEntropyLoss(ignore_index=0, reduction="sum", label_smoothing=0.1)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (0, "sum", 0.1)
    for cls in (nn.MSELoss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss):
        raises(ValueError, lambda cls=cls: cls(reduction="avg"), cls.__name__,
               "'mean', 'sum', 'none'", "'avg'")
    raises(TypeError, lambda: nn.CrossEntropyLoss(ignore_index=1.5), "ignore_index")
    raises(TypeError, lambda: nn.NLLLoss(ignore_index=None), "ignore_index")
    raises(ValueError, lambda: nn.CrossEntropyLoss(label_smoothing=1.5), "between 0.0")
    raises(TypeError, lambda: nn.CrossEntropyLoss(label_smoothing="a"), "number")
    raises(TypeError, lambda: nn.BCEWithLogitsLoss(pos_weight=[2.0]), "pos_weight", "list")


def test_mlp_trains(backend):
    """A few SGD steps written by hand on the module API reduce the loss."""
    tt.manual_seed(0)
    rng = np.random.default_rng(0)
    x = tt.tensor(rng.standard_normal((16, 4)), dtype=tt.float32)
    y = tt.tensor(rng.integers(0, 3, 16))
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(15):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        losses.append(loss.item())
        with tt.no_grad():
            for p in model.parameters():
                p[...] = p - 0.5 * p.grad
    assert losses[-1] < 0.8 * losses[0]


# --- PyTorch cross-checks -----------------------------------------------------------------


def _torch_copy(torch, ours, theirs):
    """Load our parameters into an equivalent torch module through its state_dict."""
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})


def test_same_weights_give_the_same_outputs_and_gradients_as_pytorch(rng):
    torch = torch_or_skip()
    tt.manual_seed(0)
    ours = nn.Sequential(nn.Linear(6, 16, dtype=tt.float64), nn.ReLU(),
                         nn.Linear(16, 8, dtype=tt.float64), nn.Tanh(),
                         nn.Linear(8, 3, dtype=tt.float64))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3)).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _torch_copy(torch, ours, theirs)
    x = rng.standard_normal((10, 6))
    target = rng.integers(0, 3, 10)
    out = ours(tt.tensor(x))
    tout = theirs(torch.from_numpy(x))
    assert_close(out, tout.detach().numpy())
    nn.CrossEntropyLoss()(out, tt.tensor(target)).backward()
    torch.nn.CrossEntropyLoss()(tout, torch.from_numpy(target)).backward()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert_close(p.grad, tp.grad.numpy(), msg=f"{name}: ")


def test_repr_matches_pytorch():
    torch = torch_or_skip()
    tnn = torch.nn
    ours = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 128, bias=False),
        nn.LeakyReLU(0.2), nn.GELU(), nn.Sequential(nn.Flatten(), nn.Identity()),
        nn.Softmax(dim=1), nn.LogSoftmax(dim=-1), nn.Sigmoid(), nn.Tanh(),
        nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 2)]), nn.MSELoss(),
        nn.CrossEntropyLoss(), nn.NLLLoss(), nn.BCEWithLogitsLoss())
    theirs = tnn.Sequential(
        tnn.Linear(64, 128), tnn.ReLU(), tnn.Dropout(0.1), tnn.Linear(128, 128, bias=False),
        tnn.LeakyReLU(0.2), tnn.GELU(), tnn.Sequential(tnn.Flatten(), tnn.Identity()),
        tnn.Softmax(dim=1), tnn.LogSoftmax(dim=-1), tnn.Sigmoid(), tnn.Tanh(),
        tnn.ModuleList([tnn.ReLU(), tnn.ReLU(), tnn.Linear(2, 2)]), tnn.MSELoss(),
        tnn.CrossEntropyLoss(), tnn.NLLLoss(), tnn.BCEWithLogitsLoss())
    assert repr(ours) == repr(theirs)
    assert repr(ours[1:3]) == repr(theirs[1:3])


def test_init_formulas_match_pytorch():
    torch = torch_or_skip()
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert nn.init.calculate_gain(name) == pytest.approx(
            torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.3) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.3))
    from tinytorch.nn.init import _calculate_fan_in_and_fan_out as fans
    for shape in ((5, 3), (8, 4, 3, 3), (2, 6, 5), (7, 1, 2, 2, 2)):
        assert fans(tt.empty(*shape), "test") == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(*shape))
    # Linear's default range: torch's weights lie in the same bound as ours
    tl = torch.nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    assert tl.weight.abs().max().item() <= bound and tl.bias.abs().max().item() <= bound


def test_state_dict_loads_from_pytorch():
    torch = torch_or_skip()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ours.load_state_dict({k: tt.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert_close(ours(tt.tensor(x)), theirs(torch.from_numpy(x)).detach().numpy())
